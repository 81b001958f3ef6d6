"""The ``DeploymentGraph`` spec: models, validation, references and the generated CRD.

This package depends on nothing else of braid's and on no kopf, grpc or kubernetes client, so
that the CLI, the operator and the runtime all read a graph the same way.
"""

from braid.spec._crds import render_crd
from braid.spec._errors import GraphInvalid, ManifestError, Problem, SpecError
from braid.spec._graphs import (
    API_GROUP,
    API_VERSION,
    DRAIN_TIMEOUT_SECONDS,
    GROUP_VERSION,
    KIND,
    PLURAL,
    Autoscaling,
    DeploymentGraph,
    Dispatch,
    DispatchCase,
    EnvVar,
    Flow,
    GpuSharing,
    GraphSpec,
    Group,
    HttpMethod,
    HttpServer,
    Ingress,
    Node,
    Resources,
    Step,
    StepCall,
    Toleration,
)
from braid.spec._groups import SHARED_FIELDS, Host, group_host, host_of, hosts
from braid.spec._inference import INFER_METHOD, InferenceProtocol, InferenceServer
from braid.spec._loading import (
    MAX_MANIFEST_BYTES,
    load_graph,
    parse_manifest_bytes,
    parse_manifest_text,
    read_manifest_file,
)
from braid.spec._pod_rules import (
    RESERVED_LABELS,
    RESERVED_MOUNT_PATHS,
    RESERVED_PREFIXES,
    RESERVED_VOLUME_NAMES,
)
from braid.spec._pods import RolloutStrategy, Volume, VolumeMount
from braid.spec._quantities import parse_quantity
from braid.spec._references import (
    CALL_METHOD,
    CallTarget,
    Reference,
    iter_references,
    parse_call,
    parse_reference,
    substitute,
)
from braid.spec._rules import step_dependencies
from braid.spec._statuses import (
    Condition,
    ConditionStatus,
    ConditionType,
    Endpoint,
    GraphStatus,
    NodeStatus,
)
from braid.spec._validating import validate_graph

__all__ = [
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
    "CallTarget",
    "Condition",
    "ConditionStatus",
    "ConditionType",
    "DeploymentGraph",
    "Dispatch",
    "DispatchCase",
    "Endpoint",
    "EnvVar",
    "Flow",
    "GpuSharing",
    "GraphInvalid",
    "GraphSpec",
    "GraphStatus",
    "Group",
    "Host",
    "HttpMethod",
    "HttpServer",
    "InferenceProtocol",
    "InferenceServer",
    "Ingress",
    "ManifestError",
    "Node",
    "NodeStatus",
    "Problem",
    "Reference",
    "Resources",
    "RolloutStrategy",
    "SpecError",
    "Step",
    "StepCall",
    "Toleration",
    "Volume",
    "VolumeMount",
    "group_host",
    "host_of",
    "hosts",
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
    "substitute",
    "validate_graph",
]
