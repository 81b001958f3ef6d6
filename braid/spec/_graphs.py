"""The ``DeploymentGraph`` custom resource (``braid.dev/v1alpha1``) as pydantic models.

These models are the single source of truth for the manifest: the CRD in ``crds/`` is generated
from them (``braid crd``), ``braid validate`` and the operator check manifests against them, and
the runtime reads the compiled graph through them. Every field carries a description, because
descriptions become the CRD's schema and so what ``kubectl explain`` prints.

The models check the shape of each field. Checks that need the whole graph (references, cycles,
uniqueness, GPU rules) live in :mod:`braid.spec._validating`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from braid.spec._base import SpecModel
from braid.spec._inference import InferenceServer
from braid.spec._pods import (
    EnvFromSource,
    EnvVarSource,
    LocalObjectReference,
    RolloutStrategy,
    Volume,
    VolumeMount,
)
from braid.spec._resilience import MAX_STEP_SECONDS, Fallback, Quorum, Retries
from braid.spec._statuses import GraphStatus
from braid.spec._types import JsonObject, JsonValue, Quantity

API_GROUP = "braid.dev"
API_VERSION = "v1alpha1"
GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"
KIND = "DeploymentGraph"
PLURAL = "deploymentgraphs"
SINGULAR = "deploymentgraph"
SHORT_NAMES = ("dg", "dgraph")
CATEGORIES = ("braid", "all")
#: Seconds a stopping sidecar or ingress lets requests in flight finish (SIGTERM, a rollout).
#: The runtime's default drain timeout and the operator's pod grace period both derive from it.
DRAIN_TIMEOUT_SECONDS = 20

#: A DNS-1123 label that starts with a letter, so that it is also a valid Service name.
NODE_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
#: Step and input names are identifiers in the flow, never Kubernetes object names.
IDENT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
MAX_NAME_LENGTH = 63
#: An HTTP header name (an RFC 9110 token), lower case, as gRPC metadata keys must be.
HEADER_NAME_PATTERN = r"^[a-z0-9!#$%&'*+.^_`|~-]+$"
#: A header name, or a prefix of names ending in ``*``.
HEADER_PATTERN = r"^[a-z0-9!#$%&'+.^_`|~-]+\*?$"


class ObjectMeta(SpecModel):
    """The part of Kubernetes object metadata that braid reads; server-set fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(description="Name of the graph; a DNS-1123 label that starts with a letter.")
    namespace: str | None = Field(default=None, description="Namespace of the graph.")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels of the graph.")
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations of the graph."
    )
    generation: int | None = Field(default=None, description="Set by the API server.")
    uid: str | None = Field(default=None, description="Set by the API server.")


class EnvVar(SpecModel):
    """One environment variable for a node's model container: a value, or where it comes from."""

    name: str = Field(min_length=1, description="Name of the environment variable.")
    value: str = Field(default="", description="Value of the environment variable.")
    value_from: EnvVarSource | None = Field(
        default=None,
        description="A Secret's or ConfigMap's key, or a field of the pod (instead of value).",
    )


class TolerationOperator(StrEnum):
    EXISTS = "Exists"
    EQUAL = "Equal"


class TaintEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Toleration(SpecModel):
    """A Kubernetes toleration, passed through to the node's pods unchanged."""

    key: str | None = Field(default=None, description="Taint key the toleration applies to.")
    operator: TolerationOperator | None = Field(
        default=None, strict=False, description="Exists or Equal (the default)."
    )
    value: str | None = Field(default=None, description="Taint value the toleration matches.")
    effect: TaintEffect | None = Field(
        default=None, strict=False, description="Taint effect to match; empty matches all effects."
    )
    toleration_seconds: int | None = Field(
        default=None, description="For NoExecute: how long the pod stays bound after the taint."
    )


class GpuSharing(StrEnum):
    """How a fractional GPU request is served. See docs/gpus.md for the rendered resources."""

    TIME_SLICING = "timeSlicing"
    MPS = "mps"
    MIG = "mig"


class Resources(SpecModel):
    """Compute resources of a node's model container."""

    cpu: Quantity | None = Field(default=None, description='CPU request and limit, e.g. "2".')
    memory: Quantity | None = Field(
        default=None, description='Memory request and limit, e.g. "8Gi".'
    )
    gpu: float | None = Field(
        default=None,
        description=(
            "GPUs per replica. A whole number becomes a limit on the GPU resource; a fraction "
            "needs gpuSharing and is never rounded."
        ),
    )
    gpu_resource_name: str | None = Field(
        default=None,
        description=(
            "Extended resource name of the GPU (default from the operator, nvidia.com/gpu), "
            "e.g. amd.com/gpu."
        ),
    )
    gpu_sharing: GpuSharing | None = Field(
        default=None,
        strict=False,
        description="How a fractional GPU is shared: timeSlicing, mps or mig (see docs/gpus.md).",
    )
    mig_profile: str | None = Field(
        default=None,
        description='MIG profile for gpuSharing "mig", e.g. "1g.5gb" (nvidia.com/mig-1g.5gb).',
    )


class AutoscalingMode(StrEnum):
    """Who scales a node with ``autoscaling``."""

    #: braid's own autoscaler (the operator in a cluster, ``braid run`` locally); no add-ons.
    BUILTIN = "builtin"
    #: A HorizontalPodAutoscaler on ``braid_ongoing_requests`` (needs a metrics adapter).
    HPA = "hpa"


class Autoscaling(SpecModel):
    """Replica bounds, the target of ongoing requests per replica, and how fast to follow it.

    The policy is Ray Serve's (docs/decisions/0015-autoscaling.md): the wanted count is the
    current one times ongoing-per-replica over the target, the change smoothed by a factor, held
    for a delay before it is applied, and kept within the bounds.
    """

    mode: AutoscalingMode = Field(
        default=AutoscalingMode.BUILTIN,
        strict=False,
        description='"builtin" (braid scales, the default) or "hpa" (a HorizontalPodAutoscaler).',
    )
    min_replicas: int = Field(
        default=1, ge=0, description="Fewest replicas; 0 lets an idle node scale to zero."
    )
    max_replicas: int = Field(ge=1, description="Most replicas.")
    target_ongoing_requests: float = Field(
        default=2.0,
        gt=0,
        description="Ongoing (running and queued) requests per replica that autoscaling aims for.",
    )
    upscale_delay_seconds: float = Field(
        default=30.0, ge=0, description="How long more replicas must be wanted before adding them."
    )
    downscale_delay_seconds: float = Field(
        default=600.0,
        ge=0,
        description="How long fewer replicas must be wanted before removing some.",
    )
    downscale_to_zero_delay_seconds: float | None = Field(
        default=None,
        ge=0,
        description="Idle time before the last replica goes (minReplicas 0); downscaleDelaySeconds"
        " if unset.",
    )
    upscaling_factor: float = Field(
        default=1.0,
        gt=0,
        description="Multiplies each upscale step (below 1: more cautious, above 1: faster).",
    )
    downscaling_factor: float = Field(
        default=1.0,
        gt=0,
        description="Multiplies each downscale step (below 1: more cautious, above 1: faster).",
    )
    max_buffered_requests: int = Field(
        default=256,
        ge=1,
        description="Requests each caller holds for a node with no replica while one starts;"
        " more are refused with 503 and Retry-After.",
    )


class LocalEnvironment(SpecModel):
    """Under ``braid run`` only: the Python environment of a node's processes.

    On Kubernetes a node's image is its environment; on one machine every node would otherwise
    share braid's interpreter. Give an interpreter that has braid installed, or requirements that
    braid installs into a virtualenv of their own, cached between runs and layered over braid's
    environment (its packages win; braid and its dependencies stay importable).
    """

    python: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "Interpreter to run the node with (braid must be installed in it), e.g. "
            "/opt/venvs/legacy/bin/python; a relative path is relative to the manifest's folder."
        ),
    )
    requirements: list[str] = Field(
        default_factory=list,
        description=(
            'pip requirements of the node, e.g. ["scikit-learn==1.3.2"], installed into a '
            "cached virtualenv (with uv when it is installed, else pip)."
        ),
    )

    @model_validator(mode="after")
    def _one_of_the_two(self) -> LocalEnvironment:
        if (self.python is None) == (not self.requirements):
            raise ValueError("give either python (an interpreter) or requirements, not both")
        for requirement in self.requirements:
            if not requirement.strip() or requirement.lstrip().startswith("-"):
                raise ValueError(
                    f"requirement {requirement!r} is not a requirement: give a package with an "
                    "optional version, e.g. six==1.16.0 (pip options are not allowed)"
                )
        return self


class HttpMethod(SpecModel):
    """One method of an HTTP model server node, mapped to a path on that server."""

    name: str = Field(pattern=IDENT_PATTERN, description="Method name used in the flow.")
    path: str = Field(
        pattern=r"^/", description='Path on the server, e.g. "/v2/models/resnet/infer".'
    )


class HttpServer(SpecModel):
    """A node that fronts an existing HTTP model server instead of Python code.

    The node's image runs the server; braid's sidecar forwards each call of ``node.method`` as a
    JSON POST to the method's path on ``127.0.0.1:port``.
    """

    port: int = Field(ge=1, le=65535, description="Port the model server listens on.")
    command: list[str] | None = Field(
        default=None,
        description="Command that starts the server (the image's entrypoint if unset).",
    )
    args: list[str] | None = Field(default=None, description="Arguments of the command.")
    readiness_path: str = Field(
        default="/", pattern=r"^/", description="Path that answers 2xx once the server is ready."
    )
    methods: list[HttpMethod] = Field(
        min_length=1, description="Methods the flow may call, each mapped to a path."
    )


class Batching(SpecModel):
    """Dynamic batching of one method: concurrent calls run as one call with a list.

    The replica gathers calls until ``maxBatchSize`` of them wait or ``batchWaitTimeoutSeconds``
    passed since the first, then calls the method once with the list of their first arguments
    and hands the returned list's items back, one to each caller.
    """

    max_batch_size: int = Field(
        default=8, ge=1, le=1024, description="Most calls gathered into one call of the method."
    )
    batch_wait_timeout_seconds: float = Field(
        default=0.01,
        ge=0,
        le=60,
        description="Longest wait for a batch to fill, counted from its first call.",
    )


class Method(SpecModel):
    """Options of one method of a node's class."""

    name: str = Field(
        pattern=IDENT_PATTERN, description='The method\'s name, as in the flow ("__call__" too).'
    )
    batching: Batching | None = Field(
        default=None, description="Gather concurrent calls of the method into one call."
    )
    idempotent: bool | None = Field(
        default=None,
        description="Running the method twice for one input is harmless: a step that calls it "
        "may be retried after a timeout or an error (steps[].retries.retryOn).",
    )


class Multiplexing(SpecModel):
    """One node serving many models by id, loaded on demand and unloaded least recently used."""

    max_models_per_replica: int = Field(
        default=3, ge=1, le=1000, description="Models a replica keeps loaded at most."
    )
    loader: str = Field(
        default="load_model",
        pattern=IDENT_PATTERN,
        description="The method that loads a model: called with the model id, once per model "
        "per replica.",
    )


class Node(SpecModel):
    """One deployable unit: a Python class or function, or an HTTP model server."""

    name: str = Field(
        description="Name of the node; a DNS-1123 label that starts with a letter.",
    )
    class_: str | None = Field(
        default=None,
        alias="class",
        description='Import path of the class or function, "module:attribute".',
    )
    http: HttpServer | None = Field(
        default=None, description="Front an existing HTTP model server instead of Python code."
    )
    inference: InferenceServer | None = Field(
        default=None,
        description="Front an Open Inference Protocol (KServe v2) server, e.g. Triton or MLServer.",
    )
    image: str | None = Field(default=None, description="Container image; defaults to spec.image.")
    replicas: int | None = Field(
        default=None, ge=0, description="Number of replicas (default 1, or minReplicas)."
    )
    autoscaling: Autoscaling | None = Field(
        default=None, description="Autoscaling bounds; replaces a fixed replica count."
    )
    max_ongoing_requests: int = Field(
        default=16, ge=1, description="Requests a replica runs at once; more wait in its queue."
    )
    max_queued_requests: int = Field(
        default=128,
        ge=0,
        description="Requests a replica queues beyond maxOngoingRequests before it sheds load.",
    )
    init: JsonObject = Field(
        default_factory=dict, description="Keyword arguments of the constructor (JSON values)."
    )
    handles: list[str] = Field(
        default_factory=list,
        description=(
            "Nodes whose handles are passed to the constructor as keyword arguments named "
            "after them ('-' becomes '_')."
        ),
    )
    user_config: JsonValue = Field(
        default=None,
        description="Passed to reconfigure(); a change reaches running replicas without a restart.",
    )
    version: str | None = Field(
        default=None,
        description=(
            "Code version. When set, a change of image or class rolls the node only if the "
            "version changes too (see docs/rollouts.md)."
        ),
    )
    env: list[EnvVar] = Field(
        default_factory=list, description="Environment variables of the model container."
    )
    resources: Resources = Field(
        default_factory=Resources, description="CPU, memory and GPUs of the model container."
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Kubernetes node selector for the node's pods."
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, description="Tolerations of the node's pods."
    )
    env_from: list[EnvFromSource] = Field(
        default_factory=list,
        description="Secrets and ConfigMaps whose keys all become model container variables.",
    )
    volumes: list[Volume] = Field(
        default_factory=list,
        description="Volumes of the node's pods: PVC or hostPath for weights, emptyDir, secrets.",
    )
    volume_mounts: list[VolumeMount] = Field(
        default_factory=list, description="Where the model container sees the node's volumes."
    )
    service_account_name: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="Service account of the node's pods (default: the graph's own).",
    )
    image_pull_secrets: list[LocalObjectReference] = Field(
        default_factory=list, description="Secrets to pull the node's image with."
    )
    affinity: JsonObject | None = Field(
        default=None, description="Kubernetes affinity of the node's pods, passed through."
    )
    topology_spread_constraints: list[JsonObject] = Field(
        default_factory=list,
        description="Kubernetes topologySpreadConstraints of the node's pods, passed through.",
    )
    priority_class_name: str | None = Field(
        default=None, description="PriorityClass of the node's pods."
    )
    runtime_class_name: str | None = Field(
        default=None, description='RuntimeClass of the node\'s pods, e.g. "nvidia".'
    )
    startup_seconds: int | None = Field(
        default=None,
        ge=10,
        description=(
            "Longest time a replica may take to start (construct its class, load a model) "
            "before Kubernetes restarts it; default 300. Under braid run, how long each of the "
            "node's processes may take to be ready (default: --startup-timeout, 120)."
        ),
    )
    termination_grace_period_seconds: int | None = Field(
        default=None,
        ge=6,
        description="Seconds a stopping replica gets to drain; default 30 (5 of them pause).",
    )
    pod_annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations of the node's pods."
    )
    pod_labels: dict[str, str] = Field(
        default_factory=dict, description="Labels of the node's pods."
    )
    rollout: RolloutStrategy | None = Field(
        default=None,
        description="maxUnavailable and maxSurge of the node's rolling updates.",
    )
    local: LocalEnvironment | None = Field(
        default=None,
        description=(
            "Under braid run only: the node's Python environment (an interpreter, or "
            "requirements installed into a cached virtualenv). Ignored on Kubernetes, where the "
            "node's image is its environment."
        ),
    )
    methods: list[Method] = Field(
        default_factory=list, description="Options of the class's methods (batching)."
    )
    multiplexing: Multiplexing | None = Field(
        default=None, description="Serve many models by id, loaded on demand (model multiplexing)."
    )

    @property
    def server(self) -> HttpServer | InferenceServer | None:
        """The model server the node fronts (``http`` or ``inference``), if it fronts one: both
        run in the model container on ``port``, started by ``command`` and ``args``."""
        return self.http if self.http is not None else self.inference


class StepCall(SpecModel):
    """One call of a node's method, with arguments.

    An argument that is a string starting with ``$`` refers to the graph input or to a step:
    ``$name``, or a field of it, ``$name.field.0``. ``$$`` escapes a literal ``$``. References may
    sit anywhere inside list and object arguments. Anything else is a JSON literal.
    """

    call: str = Field(
        description='"node.method", or "node" to call a function node (or a class\'s __call__).'
    )
    args: list[JsonValue] = Field(default_factory=list, description="Positional arguments.")
    kwargs: JsonObject = Field(default_factory=dict, description="Keyword arguments.")


class DispatchCase(StepCall):
    """A call made when the dispatch value equals ``when``."""

    when: str = Field(
        description="Value that selects this case (non-string values compare as JSON text).",
    )


class Dispatch(SpecModel):
    """Declarative dispatch: pick one call from a value computed earlier in the flow."""

    # Not "on": YAML 1.1 reads a bare ``on`` key as the boolean true.
    value: str = Field(description='Reference to the value to switch on, e.g. "$request.language".')
    cases: list[DispatchCase] = Field(min_length=1, description="Calls selected by value.")
    default: StepCall | None = Field(
        default=None, description="Call made when no case matches; the request fails without it."
    )


class SplitCase(StepCall):
    """A call made for a share of the requests: ``weight`` out of the sum of the weights."""

    weight: int = Field(
        ge=0,
        le=1_000_000,
        description="Relative share of the requests this call gets, e.g. 90 and 10 for a canary.",
    )


class Split(SpecModel):
    """A weighted traffic split: pick one call per request by weight (a canary, an A/B test).

    With a ``key`` or a ``header`` the choice is a hash of that value, so that one user (one
    key) always gets the same call; without either it is random per request.
    """

    key: str | None = Field(
        default=None,
        description='Reference to the value to hash, e.g. "$request.user" (instead of header).',
    )
    header: str | None = Field(
        default=None,
        pattern=HEADER_NAME_PATTERN,
        description='Request header (HTTP) or metadata key (gRPC) to hash, e.g. "x-user-id".',
    )
    cases: list[SplitCase] = Field(min_length=1, description="The calls and their weights.")

    @model_validator(mode="after")
    def _one_key_and_some_weight(self) -> Split:
        if self.key is not None and self.header is not None:
            raise ValueError("give key (a reference) or header (a header name), not both")
        if not any(case.weight for case in self.cases):
            raise ValueError("every weight is 0: give at least one case a positive weight")
        return self


class Step(SpecModel):
    """One named step of the flow: a call of a node's method, a dispatch among calls, or a call
    of another graph (a sub-graph, docs/decisions/0023-sub-graphs.md)."""

    name: str = Field(description="Name of the step, referred to as $name by later steps.")
    call: str | None = Field(
        default=None,
        description='"node.method", or "node" to call a function node (or a class\'s __call__).',
    )
    args: list[JsonValue] = Field(default_factory=list, description="Positional arguments.")
    kwargs: JsonObject = Field(default_factory=dict, description="Keyword arguments.")
    dispatch: Dispatch | None = Field(
        default=None, description="Pick one of several calls from a value (instead of call)."
    )
    graph: str | None = Field(
        default=None,
        description=(
            "Call another DeploymentGraph of the same namespace, by name, as if it were a node "
            "(instead of call): its input is the one argument in args, or the object in kwargs."
        ),
    )
    split: Split | None = Field(
        default=None,
        description="Pick one of several calls by weight, e.g. 90/10 (instead of call).",
    )
    model_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="The model a call of a multiplexed node is for (overrides the request's).",
    )
    timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        le=MAX_STEP_SECONDS,
        description="Longest run of one attempt of the step; never past the request's deadline.",
    )
    optional: bool | None = Field(
        default=None,
        description="A soft step: when it fails or times out, its consumers get the fallback "
        "(null by default) and the response names it as degraded.",
    )
    fallback: Fallback | None = Field(
        default=None, description="What an optional step's consumers get when it fails."
    )
    retries: Retries | None = Field(
        default=None, description="Retries of the step, each on another replica if any."
    )
    quorum: Quorum | None = Field(
        default=None,
        description="A join that goes on once min of its upstream steps succeeded; missing "
        "ones are null.",
    )

    def calls(self) -> list[StepCall]:
        """Every call this step may make: its own, each dispatch case and the default, or each
        split case."""
        if self.split is not None:
            return list(self.split.cases)
        if self.dispatch is not None:
            found: list[StepCall] = list(self.dispatch.cases)
            if self.dispatch.default is not None:
                found.append(self.dispatch.default)
            return found
        if self.call is None:
            return []
        return [StepCall(call=self.call, args=self.args, kwargs=self.kwargs)]


class Flow(SpecModel):
    """The declarative DAG: the graph's input, named steps, and the output."""

    input: str = Field(
        default="input", description="Name of the graph input, referred to as $name."
    )
    steps: list[Step] = Field(min_length=1, description="Steps, each calling a node.")
    output: JsonValue = Field(
        description=(
            'The graph\'s result: a reference, e.g. "$result", or a map or list of references '
            'that merges several steps, e.g. {"label": "$classify", "boxes": "$detect.boxes"}.'
        )
    )
    expose: list[str] = Field(
        default_factory=list,
        description=(
            "Steps whose results a request may ask for beside the output (intermediate "
            "results: the X-Braid-Intermediates header, or GraphRequest.intermediates)."
        ),
    )


class HttpIngress(SpecModel):
    """The HTTP side of the ingress."""

    route_prefix: str = Field(
        default="/",
        description='Route prefix of the graph; the longest matching prefix wins, e.g. "/content".',
    )
    graph_page: bool = Field(
        default=True,
        description=(
            "Serve the live graph page (the flow's picture with figures per node, read-only) "
            "at /-/graph/<graph> on the ingress."
        ),
    )
    app: str | None = Field(
        default=None,
        description=(
            "The graph's own ASGI app (e.g. FastAPI), 'module:attribute', served at the route "
            "prefix instead of braid's JSON API; it calls the flow and the nodes through "
            "braid.ingress. Imported by the ingress: from the manifest's folder under braid run, "
            "from the ingress image's Python path in a cluster."
        ),
    )


class GrpcIngress(SpecModel):
    """The gRPC side of the ingress."""

    enabled: bool = Field(default=True, description="Serve braid's gRPC API with reflection.")


class Ingress(SpecModel):
    """The entry point that accepts HTTP and gRPC requests for the graph."""

    http: HttpIngress = Field(default_factory=HttpIngress, description="HTTP settings.")
    grpc: GrpcIngress = Field(default_factory=GrpcIngress, description="gRPC settings.")
    replicas: int = Field(default=1, ge=1, description="Replicas of the ingress.")
    image: str | None = Field(
        default=None,
        description=(
            "Container image of the ingress when http.app is set: it must hold braid and the "
            "app's code. Default: spec.image, else braid's image. Without an app the ingress "
            "always runs braid's image."
        ),
    )
    request_timeout_seconds: float = Field(
        default=60.0, gt=0, description="Deadline of one request across every hop, in seconds."
    )
    max_request_timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Longest deadline a client may ask for per request (X-Request-Timeout, or a gRPC "
            "deadline), in seconds; a request that asks for none gets requestTimeoutSeconds. "
            "Default: requestTimeoutSeconds (clients may only shorten it)."
        ),
    )
    max_request_bytes: Quantity = Field(
        default="256Mi", description="Largest request body accepted (larger gets 413)."
    )
    forward_headers: list[Annotated[str, Field(pattern=HEADER_PATTERN)]] = Field(
        default_factory=list,
        description=(
            "Request headers (HTTP) or metadata keys (gRPC) that node code may read "
            '(braid.request_context()), e.g. ["x-tenant", "x-user-*"]; a trailing * matches a '
            "prefix. Every other header stays at the ingress."
        ),
    )

    @model_validator(mode="after")
    def _longest_covers_the_default(self) -> Ingress:
        longest = self.max_request_timeout_seconds
        if longest is not None and longest < self.request_timeout_seconds:
            raise ValueError(
                f"maxRequestTimeoutSeconds ({longest:g}) is below requestTimeoutSeconds "
                f"({self.request_timeout_seconds:g}): the longest deadline a client may ask for "
                "cannot be shorter than the default"
            )
        return self


class Group(SpecModel):
    """Nodes co-located in one pod and one process (docs/decisions/0009-co-location.md).

    The members keep their own code, init, handles, userConfig, version and admission limits;
    they share replicas (or autoscaling), image, resources and the other pod settings, which at
    most one distinct value among them may set. A continuation from one member to another runs
    in process, with no serialization.
    """

    name: str = Field(
        description=(
            "Name of the group, a DNS-1123 label that is no node's name; its Deployment is "
            "<graph>-<name>."
        )
    )
    nodes: list[str] = Field(description="The co-located nodes (at least two).")


class GraphSpec(SpecModel):
    """The desired state of a deployment graph."""

    image: str | None = Field(default=None, description="Default container image of every node.")
    nodes: list[Node] = Field(min_length=1, description="The graph's nodes.")
    groups: list[Group] = Field(
        default_factory=list,
        description=(
            "Co-location: each group's nodes run in one pod and one process, and calls between "
            "them are in-process function calls."
        ),
    )
    flow: Flow = Field(description="The declarative DAG of steps.")
    ingress: Ingress = Field(default_factory=Ingress, description="The graph's entry point.")


class DeploymentGraph(SpecModel):
    """A graph of models and business-logic steps served on Kubernetes by braid."""

    api_version: Literal["braid.dev/v1alpha1"] = Field(
        alias="apiVersion", description="braid.dev/v1alpha1"
    )
    kind: Literal["DeploymentGraph"] = Field(description="DeploymentGraph")
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: GraphSpec = Field(description="The desired state of the graph.")
    status: GraphStatus | None = Field(default=None, description="The observed state.")

    def node(self, name: str) -> Node:
        """Return the node called ``name``; ``KeyError`` if there is none."""
        for node in self.spec.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def group_of(self, node: str) -> Group | None:
        """The co-location group that ``node`` belongs to, if any."""
        for group in self.spec.groups:
            if node in group.nodes:
                return group
        return None

    def image_of(self, node: Node) -> str | None:
        """The node's image, or the graph's default image."""
        return node.image or self.spec.image
