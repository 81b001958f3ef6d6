"""Nodes while a graph is declared: the ``@node`` decorator, ``bind()`` and ``http_node()``.

``@node(replicas=2, user_config=...)`` records a class's or a function's deployment options on it
and returns it *unchanged*: braid's runtime imports node code by its ``module:attribute`` path and
constructs the plain class, so the decorated name must stay the class itself (and the class stays
testable as plain Python). ``bind(Cls, *args, **kwargs)`` makes a :class:`BoundNode`: the node's
constructor arguments become its ``init``, and an argument that is another bound node becomes a
handle. ``bound.method.bind(...)`` (or ``bound.bind(...)`` for a function or ``__call__``) makes
a step of the flow. ``.options(...)`` on a bound node overrides the decorator's options.
"""

from __future__ import annotations

import difflib
import inspect
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypedDict, TypeVar, Unpack, overload

from braid.authoring._errors import BindError, Origin, at, caller_origin
from braid.authoring._values import Call, Method, NodeBase, Value, check_argument
from braid.spec import CALL_METHOD, INFER_METHOD, Node

T = TypeVar("T", bound=Callable[..., Any])

#: Where ``@node`` keeps a target's options (read with ``vars()``, so subclasses do not inherit).
OPTIONS_ATTRIBUTE = "__braid_node__"


class NodeOptions(TypedDict, total=False):
    """Deployment options of a node: the manifest's node fields in snake_case (docs/spec.md).

    Values are plain data (mappings and lists, as in the manifest) or :mod:`braid.spec` models.
    ``env`` also takes a mapping of name to value.
    """

    name: str
    image: str
    replicas: int
    autoscaling: Any  # braid.spec.Autoscaling or a mapping of its fields
    max_ongoing_requests: int
    max_queued_requests: int
    user_config: Any  # any JSON value
    version: str
    env: Any  # a mapping of name to value, or a list of braid.spec.EnvVar (or mappings)
    resources: Any  # braid.spec.Resources or a mapping of its fields
    node_selector: Mapping[str, str]
    tolerations: Any  # a list of braid.spec.Toleration or mappings
    env_from: Any
    volumes: Any
    volume_mounts: Any
    service_account_name: str
    image_pull_secrets: Any
    affinity: Any
    topology_spread_constraints: Any
    priority_class_name: str
    runtime_class_name: str
    startup_seconds: int
    termination_grace_period_seconds: int
    pod_annotations: Mapping[str, str]
    pod_labels: Mapping[str, str]
    rollout: Any
    local: Any  # braid.spec.LocalEnvironment or a mapping: python, or requirements
    # spec.nodes[].methods (batching); not "methods", which http_node() takes for its paths.
    method_options: Any  # a list of braid.spec.Method or mappings
    multiplexing: Any  # braid.spec.Multiplexing or a mapping of its fields


#: Node fields that the binding itself writes, never options: the code and its arguments.
_BOUND_FIELDS = frozenset({"class_", "http", "inference", "init", "handles"})
#: Options named otherwise than their field: ``methods`` is what ``http_node()`` calls its paths.
_OPTION_NAMES = {"methods": "method_options"}
#: Option -> manifest field: every field of a manifest's node (braid.spec.Node) but the bound
#: ones, so that a field added to the spec is an option at once (a test pins NodeOptions to it).
MANIFEST_FIELDS = {
    _OPTION_NAMES.get(option, option): str(info.alias or option)
    for option, info in Node.model_fields.items()
    if option not in _BOUND_FIELDS
}


def _checked(options: Mapping[str, Any], origin: Origin | None) -> dict[str, Any]:
    for key in options:
        if key not in MANIFEST_FIELDS:
            close = difflib.get_close_matches(key, MANIFEST_FIELDS, n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            raise BindError(at(origin, f'unknown node option "{key}"{hint}'))
    return dict(options)


@overload
def node(target: T, /) -> T: ...
@overload
def node(**options: Unpack[NodeOptions]) -> Callable[[T], T]: ...
def node(target: Any = None, /, **options: Any) -> Any:
    """Declare a class or function as a node, with its deployment options; returns it unchanged.

    ``@node`` or ``@node(replicas=2, resources={"cpu": "1"})``. Options given later to
    ``bind(...).options(...)`` override these.
    """
    origin = caller_origin()
    checked = _checked(options, origin)

    def annotate(found: T) -> T:
        if not (inspect.isclass(found) or inspect.isfunction(found)):
            raise BindError(at(origin, f"@node declares a class or a function, not {found!r}"))
        setattr(found, OPTIONS_ATTRIBUTE, checked)
        return found

    if target is None:
        return annotate
    return annotate(target)


class BoundNode(NodeBase):
    """A node of a graph: code (or an HTTP server), constructor arguments, handles, options.

    ``bound.method`` is a :class:`Method` to ``.bind()`` into a step; use ``bound.method("x")``
    for a method whose name this class uses itself (``options``, ``bind``, ``method``).
    """

    __slots__ = (
        "_handles",
        "_http",
        "_inference",
        "_init",
        "_options",
        "_origin",
        "_path",
        "_target",
    )

    def __init__(
        self,
        *,
        target: Any,
        path: str | None,
        http: dict[str, Any] | None,
        init: dict[str, Any],
        handles: dict[str, BoundNode],
        options: dict[str, Any],
        origin: Origin | None,
        inference: dict[str, Any] | None = None,
    ) -> None:
        self._target, self._path, self._http = target, path, http
        self._inference = inference
        self._init, self._handles, self._options = init, handles, options
        self._origin = origin

    def options(self, **options: Unpack[NodeOptions]) -> BoundNode:
        """This node with ``options`` set (a new node: use the result in the flow)."""
        checked = _checked(options, caller_origin())
        return BoundNode(
            target=self._target,
            path=self._path,
            http=self._http,
            init=self._init,
            handles=self._handles,
            options={**self._options, **checked},
            origin=self._origin,
            inference=self._inference,
        )

    def method(self, name: str) -> Method:
        """The method ``name`` of this node, checked against its class (or HTTP methods)."""
        origin = caller_origin()
        problem = self._method_problem(name)
        if problem:
            raise BindError(at(origin, problem))
        return Method(self, name)

    def bind(self, *args: Any, **kwargs: Any) -> Call:
        """A step calling the node itself: a function node, or a class's ``__call__``."""
        origin = caller_origin()
        problem = self._method_problem(CALL_METHOD)
        if problem:
            raise BindError(at(origin, problem))
        for index, arg in enumerate(args):
            check_argument(arg, f"argument {index}", origin)
        for key, arg in kwargs.items():
            check_argument(arg, f'argument "{key}"', origin)
        return Call(self, CALL_METHOD, args, kwargs, origin=origin)

    def __getattr__(self, name: str) -> Method:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.method(name)

    def __repr__(self) -> str:
        what = self._path or (
            "an HTTP model server" if self._inference is None else "an inference server"
        )
        return f"<braid node {self._options.get('name', '(unnamed)')} of {what}>"

    def describe(self) -> str:
        """What the node runs, for messages."""
        if self._inference is not None:
            return "the inference node"
        if self._target is None:
            return "the HTTP node"
        return str(getattr(self._target, "__name__", self._target))

    def _method_problem(self, name: str) -> str | None:  # noqa: PLR0911 - one return per case
        if self._inference is not None:
            if name in (INFER_METHOD, CALL_METHOD):
                return None
            return f'the inference node has no method "{name}"; call its model with .{INFER_METHOD}'
        if self._http is not None:
            methods = [str(method["name"]) for method in self._http["methods"]]
            if name in methods:
                return None
            return f'the HTTP node has no method "{name}"{_suggest(name, methods)}; it serves ' + (
                ", ".join(methods)
            )
        target, label = self._target, self.describe()
        if not inspect.isclass(target):
            if name == CALL_METHOD:
                return None
            return f'{label} is a function node: it has no method "{name}"; call it with .bind()'
        if name == CALL_METHOD:
            return None if "__call__" in dir(target) else f"{label} is not callable (no __call__)"
        if name.startswith("_"):
            return f'"{name}" is private: a step calls public methods only'
        if callable(getattr(target, name, None)):
            return None
        public = [n for n in dir(target) if not n.startswith("_") and callable(getattr(target, n))]
        return f'{label} has no method "{name}"{_suggest(name, public)}'


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def bind(target: Callable[..., Any], /, *args: Any, **kwargs: Any) -> BoundNode:
    """A node running ``target`` (a class or a function) with these constructor arguments.

    Positional arguments are matched to the constructor's parameters by name, since a manifest's
    ``init`` holds keyword arguments. An argument that is a bound node becomes a handle: braid
    passes the handle under the node's name, so such a node takes its name from the argument
    unless it was named explicitly. Other arguments must be JSON literals.
    """
    origin = caller_origin()
    if not (inspect.isclass(target) or inspect.isfunction(target)):
        raise BindError(at(origin, f"bind() takes a class or a function, not {target!r}"))
    path = import_path(target, origin)
    options = dict(vars(target).get(OPTIONS_ATTRIBUTE, {}))
    if not inspect.isclass(target):
        if args or kwargs:
            raise BindError(
                at(
                    origin,
                    f"{target.__name__} is a function: it has no constructor arguments; pass "
                    "arguments to its call instead, bind(f).bind(...)",
                )
            )
        return BoundNode(
            target=target,
            path=path,
            http=None,
            init={},
            handles={},
            options=options,
            origin=origin,
        )
    init: dict[str, Any] = {}
    handles: dict[str, BoundNode] = {}
    for key, value in _constructor_arguments(target, args, kwargs, origin).items():
        if isinstance(value, BoundNode):
            handles[key] = value
            continue
        if isinstance(value, Value):
            raise BindError(
                at(
                    origin,
                    f'constructor argument "{key}" is a flow value: constructor arguments are '
                    "fixed when the node is deployed; pass flow values to a method's .bind()",
                )
            )
        if isinstance(value, NodeBase):  # pragma: no cover - BoundNode is the only NodeBase
            raise BindError(at(origin, f'constructor argument "{key}" is not a bound node'))
        check_argument(value, f'constructor argument "{key}"', origin)
        init[key] = value
    return BoundNode(
        target=target,
        path=path,
        http=None,
        init=init,
        handles=handles,
        options=options,
        origin=origin,
    )


def _constructor_arguments(
    target: type, args: tuple[Any, ...], kwargs: dict[str, Any], origin: Origin | None
) -> dict[str, Any]:
    """The arguments by name, checked against the constructor's signature where it has one."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # no signature to check (a builtin): keywords only
        if args:
            raise BindError(
                at(origin, f"pass the constructor arguments of {target.__name__} by keyword")
            ) from None
        return dict(kwargs)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise BindError(
            at(origin, f"the constructor of {target.__name__} does not take these arguments: {exc}")
        ) from None
    named: dict[str, Any] = {}
    for key, value in bound.arguments.items():
        kind = signature.parameters[key].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                raise BindError(
                    at(
                        origin,
                        f"*{key} of {target.__name__}: a manifest's init has keyword "
                        "arguments only",
                    )
                )
        elif kind is inspect.Parameter.VAR_KEYWORD:
            named.update(value)
        else:
            named[key] = value
    return named


def import_path(target: Any, origin: Origin | None) -> str:
    """``module:qualname`` of ``target``, checked to lead back to it (as the runtime imports it)."""
    module_name, qualname = target.__module__, target.__qualname__
    label = target.__name__
    if "<locals>" in qualname:
        raise BindError(
            at(
                origin,
                f"{label} is defined inside a function; braid imports node code by "
                "module path, so define it at the top level of a module",
            )
        )
    if module_name == "__main__":
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        if not main_file:
            raise BindError(
                at(
                    origin,
                    f"{label} is defined in an interactive session; braid imports node "
                    "code by module path, so define it in a module file",
                )
            )
        # A script run directly is imported again under its own name by the replicas.
        return f"{Path(main_file).stem}:{qualname}"
    found: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if found is not target:
        raise BindError(
            at(
                origin,
                f'{label} is not reachable as "{module_name}:{qualname}" (was the name rebound, '
                "e.g. by a decorator that wraps it?); braid imports node code by that path",
            )
        )
    return f"{module_name}:{qualname}"


def http_node(
    *,
    port: int,
    methods: Mapping[str, str],
    command: list[str] | None = None,
    args: list[str] | None = None,
    readiness_path: str | None = None,
    **options: Unpack[NodeOptions],
) -> BoundNode:
    """A node that fronts an existing HTTP model server: ``methods`` maps names to paths."""
    origin = caller_origin()
    http: dict[str, Any] = {
        "port": port,
        "methods": [{"name": name, "path": path} for name, path in methods.items()],
    }
    if command is not None:
        http["command"] = list(command)
    if args is not None:
        http["args"] = list(args)
    if readiness_path is not None:
        http["readinessPath"] = readiness_path
    return BoundNode(
        target=None,
        path=None,
        http=http,
        init={},
        handles={},
        options=_checked(options, origin),
        origin=origin,
    )


def inference_node(
    *,
    model: str,
    port: int,
    protocol: str = "http",
    model_version: str | None = None,
    command: list[str] | None = None,
    args: list[str] | None = None,
    readiness_path: str | None = None,
    outputs: list[str] | None = None,
    **options: Unpack[NodeOptions],
) -> BoundNode:
    """A node that calls ``model`` on an Open Inference Protocol (KServe v2) server, such as
    Triton or MLServer, run beside it (``command``); bind ``node.infer`` in the flow.
    ``model_version`` is the manifest's ``inference.version`` (``version`` is the node's own)."""
    origin = caller_origin()
    inference: dict[str, Any] = {"model": model, "protocol": protocol, "port": port}
    for key, value in (
        ("version", model_version),
        ("command", None if command is None else list(command)),
        ("args", None if args is None else list(args)),
        ("readinessPath", readiness_path),
        ("outputs", None if outputs is None else list(outputs)),
    ):
        if value is not None:
            inference[key] = value
    return BoundNode(
        target=None,
        path=None,
        http=None,
        init={},
        handles={},
        options=_checked(options, origin),
        origin=origin,
        inference=inference,
    )
