"""The public names of ``braid.spec`` and ``braid``, pinned (as httpx pins its exports).

A change here is a change of the public API: add the name on purpose, and say so in the
CHANGELOG.
"""

from __future__ import annotations

import re

import braid
import braid.runtime
import braid.spec

SPEC_NAMES = [
    "API_GROUP",
    "API_VERSION",
    "CALL_METHOD",
    "DRAIN_TIMEOUT_SECONDS",
    "GROUP_VERSION",
    "INFER_METHOD",
    "KIND",
    "MAX_MANIFEST_BYTES",
    "PLURAL",
    "RESERVED_LABELS",
    "RESERVED_MOUNT_PATHS",
    "RESERVED_PREFIXES",
    "RESERVED_VOLUME_NAMES",
    "SHARED_FIELDS",
    "Autoscaling",
    "AutoscalingMode",
    "Batching",
    "CallTarget",
    "Condition",
    "ConditionStatus",
    "ConditionType",
    "DeploymentGraph",
    "Dispatch",
    "DispatchCase",
    "Endpoint",
    "EnvVar",
    "Fallback",
    "Flow",
    "GpuSharing",
    "GraphInvalid",
    "GraphSetProblem",
    "GraphSpec",
    "GraphStatus",
    "GraphView",
    "Group",
    "Host",
    "HttpMethod",
    "HttpServer",
    "InferenceProtocol",
    "InferenceServer",
    "Ingress",
    "LocalEnvironment",
    "ManifestError",
    "Method",
    "Multiplexing",
    "Node",
    "NodeStatus",
    "Problem",
    "Quorum",
    "Reference",
    "Resources",
    "Retries",
    "RetryOn",
    "RolloutStrategy",
    "ScalingDecision",
    "ScalingState",
    "SpecError",
    "Step",
    "StepCall",
    "Toleration",
    "Volume",
    "VolumeMount",
    "check_graph_set",
    "decide_replicas",
    "group_host",
    "host_of",
    "hosts",
    "inspect_graph",
    "iter_references",
    "load_graph",
    "parse_call",
    "parse_manifest_bytes",
    "parse_manifest_text",
    "parse_quantity",
    "parse_reference",
    "read_manifest_file",
    "render_crd",
    "step_dependencies",
    "subgraphs_of",
    "substitute",
    "validate_graph",
    "wanted_replicas",
]


def test_spec_exports_exactly_the_pinned_names() -> None:
    assert braid.spec.__all__ == SPEC_NAMES


def test_every_exported_name_exists_and_is_public() -> None:
    for name in braid.spec.__all__:
        value = getattr(braid.spec, name)
        assert not name.startswith("_")
        module = getattr(value, "__module__", "braid.spec")
        assert module.startswith("braid.spec"), (name, module)


def test_the_spec_constants() -> None:
    assert braid.spec.GROUP_VERSION == "braid.dev/v1alpha1"
    assert (braid.spec.KIND, braid.spec.PLURAL) == ("DeploymentGraph", "deploymentgraphs")


def test_the_errors_share_one_root() -> None:
    for error in (braid.spec.ManifestError, braid.spec.GraphInvalid):
        assert issubclass(error, braid.spec.SpecError)
    assert issubclass(braid.spec.SpecError, Exception)


def test_braid_exports_its_version() -> None:
    assert braid.__all__ == ["__version__", "connect", "request_context"]
    assert braid.request_context is braid.runtime.request_context
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)?", braid.__version__)


RUNTIME_NAMES = [
    "App",
    "BadRequest",
    "BraidRuntimeError",
    "Cancelled",
    "Client",
    "ClusterAccess",
    "CodecError",
    "DeadlineExceeded",
    "EntryReplica",
    "GraphCaller",
    "GraphFile",
    "GraphResponse",
    "GraphStream",
    "Handle",
    "IngressSettings",
    "LaunchError",
    "LaunchSettings",
    "Launcher",
    "Layout",
    "LoadError",
    "NotFound",
    "Overloaded",
    "QuorumNotReached",
    "RemoteResponse",
    "ReplicaSettings",
    "ReplicaUnavailable",
    "RequestContext",
    "RequestError",
    "Response",
    "SharedMemorySettings",
    "StepTimedOut",
    "StreamingOutput",
    "StreamingResponse",
    "TlsFiles",
    "UpstreamFailed",
    "UserCodeError",
    "code_problems",
    "connect",
    "get_model",
    "get_model_id",
    "request_context",
    "run",
    "serve_ingress",
    "serve_replica",
]


def test_runtime_exports_exactly_the_pinned_names() -> None:
    assert braid.runtime.__all__ == RUNTIME_NAMES
    for name in RUNTIME_NAMES:
        assert getattr(braid.runtime, name).__module__.startswith("braid.runtime"), name


def test_braid_ingress_exports_what_a_graphs_app_uses() -> None:
    import braid.ingress  # noqa: PLC0415 - imports gRPC: only the apps' tests need it

    assert braid.ingress.__all__ == ["Flow", "Handle", "RequestError", "flow", "handle"]
    assert braid.ingress.Handle is braid.runtime.Handle
    assert braid.ingress.RequestError is braid.runtime.RequestError
