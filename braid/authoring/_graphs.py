"""``graph(output, name=...)``: a declared flow as a :class:`Graph`, and its manifest.

:meth:`Graph.build` walks the flow from its output (:mod:`braid.authoring._building`), writes the
``DeploymentGraph`` document and validates it with :func:`braid.spec.validate_graph`, the same
validation as ``braid validate``; each problem is reported at the Python line that declared the
node or step it belongs to. Names that the manifest needs are taken from the variables of the
scope that called ``graph()``, so that the manifest reads like the Python.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from braid.authoring._building import Document, Walk, header, name_nodes, name_steps
from braid.authoring._errors import (
    BindError,
    BuildInvalid,
    Origin,
    SourceProblem,
    at,
    caller_origin,
)
from braid.authoring._nodes import BoundNode
from braid.authoring._values import Step, Value
from braid.spec import DeploymentGraph, GraphInvalid, validate_graph

_PACKAGE = __name__.rpartition(".")[0]


class Graph:
    """A graph declared in Python: ``build()`` it, or write its ``manifest()`` / ``to_yaml()``."""

    def __init__(
        self,
        output: Output,
        *,
        name: str,
        spec: dict[str, Any],
        metadata: dict[str, Any],
        variables: dict[str, object],
        origin: Origin | None,
        code_dir: Path | None,
        groups: Mapping[str, Sequence[BoundNode]] | None = None,
        expose: Sequence[Step] = (),
    ) -> None:
        self._output = output
        self._expose = tuple(expose)
        self._groups = dict(groups or {})
        self.name = name
        self._spec, self._metadata = spec, metadata
        # The objects are kept, so that their ids stay theirs until the graph is built.
        self._variables = variables
        self.origin = origin
        #: The folder the graph's module is imported from: ``braid run`` imports node code there.
        self.code_dir = code_dir

    def __repr__(self) -> str:
        return f"<braid graph {self.name} declared at {self.origin}>"

    def document(self) -> tuple[dict[str, Any], Document, list[SourceProblem]]:
        """The manifest as data (not validated), its names, and problems found while naming."""
        walk = Walk()
        walk.visit_value(self._output)
        variables: dict[int, str] = {}
        for variable, value in self._variables.items():
            variables.setdefault(id(value), variable)
        node_names, problems = name_nodes(walk, variables)
        input_name = walk.inputs[0]._name if walk.inputs else "input"
        for extra in walk.inputs[1:]:
            if extra._name != input_name:
                problems.append(
                    SourceProblem(
                        extra._origin,
                        f'input "{extra._name}"',
                        "",
                        f'a graph has one input, and this one already uses input "{input_name}"',
                    )
                )
        for case in walk.cases:
            if any(case is step for step in walk.steps):
                problems.append(
                    SourceProblem(
                        case._origin,
                        "a dispatch case",
                        "",
                        "a call used as a dispatch case "
                        "cannot also be a step: .bind() it again for the step",
                    )
                )
        names = Document(
            walk, node_names, name_steps(walk, variables, node_names, input_name), input_name
        )
        output = self._output
        flow: dict[str, Any] = {
            "input": input_name,
            "steps": [names.step(step) for step in walk.steps],
            "output": (
                names.reference(output) if isinstance(output, Value) else names.literal(output)
            ),
        }
        if self._expose:
            flow["expose"] = self._exposed(names, problems)
        document = header(self.name, **self._metadata)
        document["spec"] = {
            **{key: value for key, value in self._spec.items() if key != "ingress"},
            "nodes": [names.node(node) for node in walk.nodes],
        }
        if self._groups:
            document["spec"]["groups"] = self._group_documents(node_names, problems)
        document["spec"]["flow"] = flow
        if self._spec.get("ingress"):
            document["spec"]["ingress"] = self._spec["ingress"]
        return document, names, problems

    def _exposed(self, names: Document, problems: list[SourceProblem]) -> list[str]:
        found = []
        for step in self._expose:
            name = names.step_names.get(id(step))
            if name is None:
                problems.append(
                    SourceProblem(
                        step._origin,
                        step.describe(),
                        "",
                        "is in expose= but the output does not depend on it",
                    )
                )
            else:
                found.append(name)
        return found

    def _group_documents(
        self, node_names: Mapping[int, str], problems: list[SourceProblem]
    ) -> list[dict[str, Any]]:
        found = []
        for group, members in self._groups.items():
            named = []
            for member in members:
                if id(member) in node_names:
                    named.append(node_names[id(member)])
                else:
                    problems.append(
                        SourceProblem(
                            member._origin,
                            member.describe(),
                            "",
                            f'is in group "{group}" but no step of the flow calls it',
                        )
                    )
            found.append({"name": group, "nodes": named})
        return found

    def build(self) -> DeploymentGraph:
        """The validated graph; :class:`BuildInvalid` lists every problem at its source line."""
        document, names, problems = self.document()
        try:
            graph = validate_graph(document)
        except GraphInvalid as exc:
            problems += [names.locate(problem, self.origin, self.name) for problem in exc.problems]
        if problems:
            raise BuildInvalid(self.name, problems)
        return graph

    def manifest(self) -> dict[str, Any]:
        """The validated manifest as JSON-ready data: the fields that the Python sets."""
        found = self.build().model_dump(by_alias=True, exclude_unset=True, mode="json")
        for node in found["spec"]["nodes"]:
            gpu = node.get("resources", {}).get("gpu")
            if isinstance(gpu, float) and gpu.is_integer():  # `gpu: 1`, as a person writes it
                node["resources"]["gpu"] = int(gpu)
        return found

    def to_yaml(self) -> str:
        """The validated manifest as YAML, headed by a comment naming its Python source."""
        source = f" ({self.origin.file})" if self.origin else ""
        return (
            f"# Built by braid from Python{source}: edit the Python and build again.\n"
            + yaml.safe_dump(self.manifest(), sort_keys=False)
        )


#: What a graph returns: one flow value, or a map or list of them (a structured output).
Output = Value | Mapping[str, Any] | Sequence[Any]


def graph(
    output: Output,
    *,
    name: str,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    image: str | None = None,
    route_prefix: str | None = None,
    app: str | None = None,
    grpc: bool | None = None,
    ingress_replicas: int | None = None,
    ingress_image: str | None = None,
    request_timeout_seconds: float | None = None,
    max_request_bytes: str | int | None = None,
    groups: Mapping[str, Sequence[BoundNode]] | None = None,
    expose: Sequence[Step] = (),
    forward_headers: Sequence[str] | None = None,
) -> Graph:
    """A graph whose result is ``output``: every step and node it depends on, and an ingress.

    ``output`` is one flow value, or a map or list of them that merges several steps
    (``{"label": label, "boxes": detected.boxes}``). Unnamed nodes and steps are named after
    the variables that hold them in the calling scope. ``groups`` co-locates nodes
    (``{"pipeline": [parse, scale]}``, decision 0009): each group's nodes run in one pod and
    one process. ``app="module:app"`` serves the graph's HTTP routes with its own ASGI app
    (spec.ingress.http.app, decision 0019), in ``ingress_image`` in a cluster. ``expose`` lists
    steps whose results a request may ask for beside the output; ``forward_headers`` the
    request headers that node code may read (braid.request_context()).
    """
    origin = caller_origin()
    if not _is_output(output):
        raise BindError(
            at(
                origin,
                "graph() takes the flow's output value, or a map or list of flow values, got "
                f"{output!r}",
            )
        )
    for step in expose:
        if not isinstance(step, Step):
            raise BindError(at(origin, f"expose= takes steps, got {step!r}"))
    for group, members in (groups or {}).items():
        if isinstance(members, (str, BoundNode)) or not all(
            isinstance(member, BoundNode) for member in members
        ):
            raise BindError(
                at(origin, f'groups["{group}"] takes a list of bound nodes, got {members!r}')
            )
    spec: dict[str, Any] = {}
    if image is not None:
        spec["image"] = image
    ingress = _ingress_of(
        route_prefix=route_prefix,
        app=app,
        grpc=grpc,
        replicas=ingress_replicas,
        image=ingress_image,
        request_timeout_seconds=request_timeout_seconds,
        max_request_bytes=max_request_bytes,
        forward_headers=forward_headers,
    )
    if ingress:
        spec["ingress"] = ingress
    variables, code_dir = _caller_scope()
    return Graph(
        output,
        name=name,
        spec=spec,
        metadata={"namespace": namespace, "labels": labels, "annotations": annotations},
        variables=variables,
        origin=origin,
        code_dir=code_dir,
        groups=groups,
        expose=expose,
    )


def _ingress_of(
    *,
    route_prefix: str | None,
    app: str | None,
    grpc: bool | None,
    replicas: int | None,
    image: str | None,
    request_timeout_seconds: float | None,
    max_request_bytes: str | int | None,
    forward_headers: Sequence[str] | None,
) -> dict[str, Any]:
    """``spec.ingress`` with the fields that ``graph()`` was given (camelCase, as in YAML)."""
    http = {"routePrefix": route_prefix, "app": app}
    ingress: dict[str, Any] = {
        "http": {key: value for key, value in http.items() if value is not None},
        "grpc": None if grpc is None else {"enabled": grpc},
        "replicas": replicas,
        "image": image,
        "requestTimeoutSeconds": request_timeout_seconds,
        "maxRequestBytes": max_request_bytes,
        "forwardHeaders": None if forward_headers is None else list(forward_headers),
    }
    return {key: value for key, value in ingress.items() if value not in (None, {})}


def _is_output(value: object) -> bool:
    """One flow value, or a non-empty map (string keys) or list whose leaves all are."""
    if isinstance(value, Value):
        return True
    if isinstance(value, Mapping):
        return bool(value) and all(
            isinstance(key, str) and _is_output(item) for key, item in value.items()
        )
    if isinstance(value, list | tuple):
        return bool(value) and all(_is_output(item) for item in value)
    return False


def _caller_scope() -> tuple[dict[str, object], Path | None]:
    """The caller's variables that hold nodes and steps, and the folder its module lives in."""
    frame = inspect.currentframe()
    try:
        while frame is not None and str(frame.f_globals.get("__name__", "")).startswith(_PACKAGE):
            frame = frame.f_back
        if frame is None:  # pragma: no cover - graph() always has a caller
            return {}, None
        variables: dict[str, object] = {
            key: value
            for key, value in frame.f_locals.items()
            if isinstance(value, (Step, BoundNode))
        }
        module = str(frame.f_globals.get("__name__", ""))
        file = frame.f_globals.get("__file__")
        return variables, module_root(module, file) if isinstance(file, str) else None
    finally:
        del frame


def module_root(module: str, file: str) -> Path:
    """The folder that ``module`` is imported from: ``a/b/c.py`` as ``b.c`` lives in ``a``."""
    path = Path(file).resolve()
    depth = 0 if module == "__main__" else module.count(".")
    if path.name == "__init__.py":
        depth += 1
    return path.parents[depth]
