"""Validation of a parsed manifest: every problem at once, each with its field path.

Validation runs in two passes over one document:

1. the schema pass parses the document into the pydantic models and translates each pydantic
   error into a :class:`Problem` with a Kubernetes-style field path (``spec.nodes[3].replicas``)
   and a message a user can act on;
2. the graph pass (:mod:`braid.spec._rules`) checks what needs the whole graph: names,
   references, cycles, GPU rules.

When the schema pass fails, the graph pass still runs on every node and step that parsed on its
own, so that one typo does not hide the other problems of the file.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from braid.spec._errors import GraphInvalid, ManifestError, Problem
from braid.spec._graphs import (
    GROUP_VERSION,
    HEADER_NAME_PATTERN,
    HEADER_PATTERN,
    KIND,
    DeploymentGraph,
    Group,
    Node,
    Step,
)
from braid.spec._rules import GraphView, check_graph

T = TypeVar("T")

_NODE = TypeAdapter(Node)
_STEP = TypeAdapter(Step)
_GROUP = TypeAdapter(Group)
# Fields whose absence the graph's rules report, so they are never dropped to parse the rest.
_NODE_CORE = frozenset({"name", "class", "http", "inference"})
_STEP_CORE = frozenset({"name", "call", "dispatch", "split"})


def validate_graph(document: object) -> DeploymentGraph:
    """Return the validated graph, or raise :class:`GraphInvalid` listing every problem.

    A document that is not a ``DeploymentGraph`` at all (a list, a Service, another API version)
    raises :class:`ManifestError` with a one-line reason instead.
    """
    if isinstance(document, Mapping) and not isinstance(document, dict):
        document = dict(document)  # e.g. a kopf Body: a read-only mapping over the raw object
    if not isinstance(document, dict):
        raise ManifestError(f"expected a {KIND} object (a YAML mapping), got {_kind_of(document)}")
    _check_header(document)
    try:
        graph = DeploymentGraph.model_validate(document)
    except ValidationError as exc:
        problems = [_translate(error) for error in exc.errors()]
        problems += check_graph(_partial_view(document))
        raise GraphInvalid(_unique(problems)) from None
    problems = check_graph(GraphView.of(graph))
    if problems:
        raise GraphInvalid(_unique(problems))
    return graph


def inspect_graph(document: object) -> tuple[GraphView, list[Problem]]:
    """The graph's view and every problem, without raising for an invalid graph.

    For pictures of manifests that may be invalid (``braid graph``): a valid graph gives its
    whole view and no problems; an invalid one gives the nodes and steps that parse on their own
    and the problems. A document that is not a ``DeploymentGraph`` raises :class:`ManifestError`.
    """
    try:
        return GraphView.of(validate_graph(document)), []
    except GraphInvalid as exc:
        assert isinstance(document, Mapping)
        return _partial_view(dict(document)), exc.problems


def _check_header(document: dict[str, Any]) -> None:
    api_version, kind = document.get("apiVersion"), document.get("kind")
    if kind != KIND:
        raise ManifestError(
            f"not a {KIND}: {_given('kind', kind)} and {_given('apiVersion', api_version)}; "
            f'expected kind "{KIND}" and apiVersion "{GROUP_VERSION}"'
        )
    if api_version != GROUP_VERSION:
        raise ManifestError(
            f'apiVersion {_show(api_version)} is not served by this braid; use "{GROUP_VERSION}"'
        )


def _given(field: str, value: object) -> str:
    return f"{field} is missing" if value is None else f"{field} is {_show(value)}"


def _partial_view(document: dict[str, Any]) -> GraphView:
    """The nodes and steps that parse on their own, for the graph pass after a schema failure."""
    spec = document.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    flow = spec.get("flow")
    flow = flow if isinstance(flow, dict) else {}
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    flow_input, output = flow.get("input", "input"), flow.get("output")
    raw_nodes, raw_steps = spec.get("nodes"), flow.get("steps")
    nodes, nodes_whole = _parse_each(raw_nodes, _NODE, _NODE_CORE)
    steps, steps_whole = _parse_each(raw_steps, _STEP, _STEP_CORE)
    groups, _ = _parse_each(spec.get("groups"), _GROUP, frozenset({"name", "nodes"}))
    return GraphView(
        name=name if isinstance(name, str) else None,
        nodes=nodes,
        node_names=_raw_names(raw_nodes),
        steps=steps,
        step_names=_raw_names(raw_steps),
        flow_input=flow_input if isinstance(flow_input, str) else None,
        output=output if isinstance(output, str | dict | list) else None,
        route_prefix=None,
        complete=nodes_whole and steps_whole,
        nodes_known=isinstance(raw_nodes, list),
        steps_known=isinstance(raw_steps, list),
        groups=groups,
        expose=[name for name in _list(flow.get("expose")) if isinstance(name, str)],
    )


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _parse_each(
    items: object, adapter: TypeAdapter[T], core: frozenset[str]
) -> tuple[list[tuple[int, T]], bool]:
    """Parse each item of a list on its own; also say whether every item parsed whole.

    An item that fails only in optional fields is parsed again without those fields, so that the
    graph's rules still check the rest of it (a typo in ``replcas`` must not hide a bad GPU
    request). Fields in ``core`` are never dropped, because their absence is itself a rule.
    """
    parsed: list[tuple[int, T]] = []
    if not isinstance(items, list):
        return parsed, False
    whole = True
    for index, item in enumerate(items):
        try:
            parsed.append((index, adapter.validate_python(item)))
            continue
        except ValidationError as exc:
            whole = False
            failing = {error["loc"][0] for error in exc.errors() if error["loc"]}
        if not isinstance(item, dict) or failing & core or not failing:
            continue
        try:
            trimmed = {key: value for key, value in item.items() if key not in failing}
            parsed.append((index, adapter.validate_python(trimmed)))
        except ValidationError:
            continue
    return parsed, whole


def _raw_names(items: object) -> set[str]:
    if not isinstance(items, list):
        return set()
    return {
        item["name"]
        for item in items
        if isinstance(item, dict) and isinstance(item.get("name"), str)
    }


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    seen: dict[Problem, None] = dict.fromkeys(problems)
    return list(seen)


def format_path(loc: Iterable[int | str]) -> str:
    """``("spec", "nodes", 3, "replicas")`` -> ``spec.nodes[3].replicas``."""
    text = ""
    for segment in loc:
        text += f"[{segment}]" if isinstance(segment, int) else (f".{segment}" if text else segment)
    return text


_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "an object (a mapping)",
    "model_type": "an object (a mapping)",
    "model_attributes_type": "an object (a mapping)",
}
_BOUND_WORDS = {
    "greater_than_equal": ("at least", "ge"),
    "greater_than": ("greater than", "gt"),
    "less_than_equal": ("at most", "le"),
    "less_than": ("less than", "lt"),
}


def _translate(error: ErrorDetails) -> Problem:
    """One pydantic error as a :class:`Problem` a user can act on."""
    loc = tuple(error["loc"])
    kind, ctx, value = error["type"], error.get("ctx", {}), error.get("input")
    if kind in _TYPE_WORDS:
        message = f"expected {_TYPE_WORDS[kind]}, got {_show(value)}"
        if kind == "string_type" and isinstance(value, (bool, int, float, date)):
            # YAML turned text into a number, boolean or date (version: 1.10 becomes 1.1).
            message += "; quote the value in YAML"
    elif kind in _BOUND_WORDS:
        words, key = _BOUND_WORDS[kind]
        message = f"must be {words} {_number(ctx.get(key))}, got {_show(value)}"
    elif kind == "extra_forbidden":
        message = "unknown field" + _suggest(str(loc[-1]), _allowed_fields(loc))
    elif kind == "missing":
        message = "required field is missing"
    elif kind in {"string_too_short", "string_too_long"}:
        count = ctx.get("min_length" if kind == "string_too_short" else "max_length", 1)
        words = "at least" if kind == "string_too_short" else "at most"
        message = f"must have {words} {count} character{'s' if count != 1 else ''}"
    elif kind == "too_short":
        least = ctx.get("min_length", 1)
        message = f"must have at least {least} item{'s' if least != 1 else ''}"
    elif kind == "string_pattern_mismatch":
        message = _pattern_message(str(ctx.get("pattern", "")), value)
    elif kind in {"enum", "literal_error"}:
        message = f"expected one of {ctx.get('expected', '')}, got {_show(value)}"
    elif kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
    else:
        message = error["msg"][:1].lower() + error["msg"][1:]
    return Problem(format_path(loc), message)


def _pattern_message(pattern: str, value: object) -> str:
    if pattern == "^/":
        return f'must start with "/", got {_show(value)}'
    if pattern in (HEADER_NAME_PATTERN, HEADER_PATTERN):
        star = ", optionally ending in * for a prefix" if pattern == HEADER_PATTERN else ""
        return (
            f"{_show(value)} is not a header name: use lower-case letters, digits and '-' "
            f'(a token, e.g. "x-tenant"){star}'
        )
    return (
        f"{_show(value)} is not a valid name: use letters, digits, '_' and '-', "
        "starting with a letter or '_'"
    )


def _allowed_fields(loc: tuple[int | str, ...]) -> list[str]:
    """The field names allowed beside ``loc[-1]``, found by walking the models along ``loc``."""
    current: Any = DeploymentGraph
    for segment in loc[:-1]:
        current = _unwrap(current)
        if isinstance(segment, int):
            args = typing.get_args(current)
            current = args[0] if args else Any
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = next(
                (f for name, f in current.model_fields.items() if segment in {name, f.alias}), None
            )
            current = field.annotation if field is not None else Any
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [field.alias or name for name, field in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip ``Optional`` and ``Annotated`` wrappers."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in {typing.Union, types.UnionType}:
            members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def suggestion(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelt ``word``, if one is close enough."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _suggest(word: str, candidates: Iterable[str]) -> str:
    match = suggestion(word, candidates)
    return f' (did you mean "{match}"?)' if match else ""


def _show(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, date):
        return f"the date {value.isoformat()}"
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(bound: object) -> object:
    """``0.0`` -> ``0``: pydantic reports float bounds as floats; users wrote integers."""
    return int(bound) if isinstance(bound, float) and bound.is_integer() else bound


def _kind_of(value: object) -> str:
    if value is None:
        return "an empty document"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a plain string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return f"a {type(value).__name__} value"
