"""Values of a flow while it is declared: the input, the result of a step, and fields of either.

``Input("request")`` is the graph's input; ``node.method.bind(...)`` makes a :class:`Call`, a step
that calls a node's method; :func:`dispatch` makes a step that picks one of several calls by
value, and :func:`split` one that picks by weight (a canary, an A/B test);
``subgraph("name").bind(...)`` makes a :class:`SubgraphCall`, a step that calls another graph. Every
one of them is a :class:`Value`: it can be passed to later calls, and ``value.label`` or
``value[0]`` is the value of a field or an item of it (``$step.label``, ``$step.0`` in the
manifest). Nothing runs while a flow is declared: these objects only record what the manifest
will say, and where in the user's source each piece was written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NoReturn, Self

from braid.authoring._errors import BindError, Origin, at, caller_origin

#: A field or an item of a value: what a reference's dotted segments allow.
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")


class NodeBase:
    """Marker base of bound nodes, so that values can refuse nodes passed as method arguments."""

    __slots__ = ()


class Value:
    """A value of the flow: the input, a step's result, or a field or item of one of them."""

    __slots__ = ("_path", "_source")

    def __init__(self, source: Input | Step, path: tuple[str, ...] = ()) -> None:
        self._source = source
        self._path = path

    def __getattr__(self, field: str) -> Value:
        if field.startswith("_"):
            raise AttributeError(field)
        return self[field]

    def __getitem__(self, key: str | int) -> Value:
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            raise BindError(
                at(caller_origin(), f"a field is a name or an index, not {type(key).__name__}")
            )
        segment = str(key)
        if isinstance(key, int) and key < 0:
            raise BindError(at(caller_origin(), f"index {key}: indexes count from 0 up"))
        if not _SEGMENT.match(segment):
            raise BindError(
                at(
                    caller_origin(),
                    f'"{segment}" cannot be a field of a flow value: use letters, digits, '
                    "'_' and '-'",
                )
            )
        return Value(self._source, (*self._path, segment))

    def __iter__(self) -> Iterator[Any]:
        raise BindError(
            at(
                caller_origin(),
                "a flow value cannot be iterated while the graph is declared; "
                "take its items by index (value[0])",
            )
        )

    def __bool__(self) -> NoReturn:
        raise BindError(
            at(
                caller_origin(),
                "a flow value has no truth value while the graph is declared (nothing runs "
                "yet); to choose a call by value, use dispatch()",
            )
        )

    def __repr__(self) -> str:
        return f"<braid flow value {'.'.join((self._source.describe(), *self._path))}>"


class Input(Value):
    """The graph's input, named ``name`` in the flow (``$name``)."""

    __slots__ = ("_name", "_origin")

    def __init__(self, name: str = "input") -> None:
        super().__init__(self)
        self._name = name
        self._origin = caller_origin()

    def describe(self) -> str:
        return f"input {self._name}"


class Step(Value):
    """The result of one step of the flow: a :class:`Call` or a dispatch."""

    __slots__ = ("_guard", "_name", "_origin")

    def __init__(self, name: str | None, origin: Origin | None) -> None:
        super().__init__(self)
        self._name = name
        self._origin = origin
        #: Failure handling, as manifest fields: optional, fallback, timeoutSeconds, retries,
        #: quorum (decision 0021). A fallback call is kept as its :class:`Method`.
        self._guard: dict[str, Any] = {}

    def named(self, name: str) -> Step:
        """This step under an explicit name (instead of the one derived from a variable)."""
        raise NotImplementedError  # pragma: no cover - every step kind overrides it

    def soft(self, *, fallback: Any = None) -> Self:
        """This step, optional: when it fails or times out its consumers get ``fallback`` (a
        JSON value, or a node's method such as ``backup.rescue``, called with the step's own
        arguments), and the response names it as degraded."""
        fields: dict[str, Any] = {"optional": True}
        if isinstance(fallback, Method):
            fields["fallback"] = {"call": fallback}
        elif fallback is not None:
            check_argument(fallback, "the fallback", caller_origin())
            fields["fallback"] = {"value": fallback}
        return self._guarded(fields)

    def timeout(self, seconds: float) -> Self:
        """This step with a timeout for each of its attempts (``timeoutSeconds``)."""
        return self._guarded({"timeoutSeconds": seconds})

    def retries(
        self,
        attempts: int,
        *,
        backoff: float | None = None,
        max_backoff: float | None = None,
        on: tuple[str, ...] | list[str] | None = None,
        budget: float | None = None,
    ) -> Self:
        """This step with ``attempts`` in all, each retry on another replica if any; ``on``:
        the failures retried ("unavailable", "overloaded", "timeout", "error")."""
        retries: dict[str, Any] = {"attempts": attempts}
        for key, value in (
            ("backoffSeconds", backoff),
            ("maxBackoffSeconds", max_backoff),
            ("retryOn", list(on) if on is not None else None),
            ("budgetSeconds", budget),
        ):
            if value is not None:
                retries[key] = value
        return self._guarded({"retries": retries})

    def quorum(
        self, min: int, *, within: float | None = None, missing_argument: str | None = None
    ) -> Self:
        """This join, going on once ``min`` of its upstream steps succeeded (waiting up to
        ``within`` seconds for all of them); missing values are None, and their names go to
        the keyword argument ``missing_argument``."""
        quorum: dict[str, Any] = {"min": min}
        if within is not None:
            quorum["withinSeconds"] = within
        if missing_argument is not None:
            quorum["missingArgument"] = missing_argument
        return self._guarded({"quorum": quorum})

    def _guarded(self, fields: Mapping[str, Any]) -> Self:
        copy = self._copy(self._name)
        copy._guard = {**self._guard, **fields}
        return copy

    def _copy(self, name: str | None) -> Self:
        raise NotImplementedError  # pragma: no cover - every step kind overrides it

    def describe(self) -> str:
        return f"step {self._name or '(unnamed)'}"


class Call(Step):
    """A call of a node's method (``method`` is ``__call__`` for a function node)."""

    __slots__ = ("_args", "_kwargs", "_method", "_node")

    def __init__(
        self,
        node: NodeBase,
        method: str,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        *,
        name: str | None = None,
        origin: Origin | None = None,
    ) -> None:
        super().__init__(name, origin)
        self._node, self._method = node, method
        self._args, self._kwargs = args, dict(kwargs)

    def named(self, name: str) -> Call:
        return self._copy(name)

    def _copy(self, name: str | None) -> Self:
        copy = type(self)(
            self._node, self._method, self._args, self._kwargs, name=name, origin=self._origin
        )
        copy._guard = dict(self._guard)
        return copy


class Dispatch(Step):
    """A step that makes one of several calls, chosen by a value computed earlier."""

    __slots__ = ("_cases", "_default", "_value")

    def __init__(
        self,
        value: Value,
        cases: tuple[tuple[str, Call], ...],
        default: Call | None,
        *,
        name: str | None = None,
        origin: Origin | None = None,
    ) -> None:
        super().__init__(name, origin)
        self._value, self._cases, self._default = value, cases, default

    def named(self, name: str) -> Dispatch:
        return self._copy(name)

    def _copy(self, name: str | None) -> Self:
        copy = type(self)(self._value, self._cases, self._default, name=name, origin=self._origin)
        copy._guard = dict(self._guard)
        return copy


class SubgraphCall(Step):
    """A call of another graph, by name, as if it were a node (``graph: NAME``)."""

    __slots__ = ("_args", "_graph", "_kwargs")

    def __init__(
        self,
        graph: str,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        *,
        name: str | None = None,
        origin: Origin | None = None,
    ) -> None:
        super().__init__(name, origin)
        self._graph, self._args, self._kwargs = graph, args, dict(kwargs)

    def named(self, name: str) -> SubgraphCall:
        return SubgraphCall(self._graph, self._args, self._kwargs, name=name, origin=self._origin)


class Subgraph:
    """Another graph of the same namespace; ``.bind(value)`` makes a step that calls it."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def bind(self, *args: Any, **kwargs: Any) -> SubgraphCall:
        """A step calling the graph with one input: ``bind(value)``, or ``bind(**fields)`` for
        an object input."""
        origin = caller_origin()
        if len(args) > 1 or (args and kwargs):
            raise BindError(
                at(
                    origin,
                    f'graph "{self._name}" has one input: pass one value, or keyword arguments '
                    "that make an object, not both",
                )
            )
        for index, arg in enumerate(args):
            check_argument(arg, f"argument {index}", origin)
        for key, arg in kwargs.items():
            check_argument(arg, f'argument "{key}"', origin)
        return SubgraphCall(self._name, args, kwargs, origin=origin)


def subgraph(name: str) -> Subgraph:
    """Another DeploymentGraph of the same namespace, called by name as if it were a node:
    ``subgraph("scoring").bind(text)`` is a step ``{graph: scoring, args: [$text]}``."""
    if not isinstance(name, str):
        raise BindError(
            at(caller_origin(), f"subgraph() takes the other graph's name, got {name!r}")
        )
    return Subgraph(name)


class Split(Step):
    """A step that makes one of several calls, chosen by weight (``spec.flow.steps[].split``)."""

    __slots__ = ("_cases", "_header", "_key")

    def __init__(
        self,
        cases: tuple[tuple[int, Call], ...],
        key: Value | None,
        header: str | None,
        *,
        name: str | None = None,
        origin: Origin | None = None,
    ) -> None:
        super().__init__(name, origin)
        self._cases, self._key, self._header = cases, key, header

    def named(self, name: str) -> Split:
        return Split(self._cases, self._key, self._header, name=name, origin=self._origin)


class Method:
    """A method of a bound node; ``.bind(...)`` makes a step that calls it."""

    __slots__ = ("_name", "_node")

    def __init__(self, node: NodeBase, name: str) -> None:
        self._node, self._name = node, name

    def bind(self, *args: Any, **kwargs: Any) -> Call:
        """A step calling this method with ``args`` and ``kwargs``: literals and flow values."""
        origin = caller_origin()
        for index, arg in enumerate(args):
            check_argument(arg, f"argument {index}", origin)
        for key, arg in kwargs.items():
            check_argument(arg, f'argument "{key}"', origin)
        return Call(self._node, self._name, args, kwargs, origin=origin)


def check_argument(value: Any, where: str, origin: Origin | None) -> None:
    """Refuse what a manifest cannot say: nodes, non-JSON objects, non-string keys."""
    if isinstance(value, Value) or value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BindError(at(origin, f"{where}: {value} is not a JSON number"))
        return
    if isinstance(value, NodeBase):
        raise BindError(
            at(
                origin,
                f"{where} is a node: a method takes values, not nodes; to call a node from "
                "another, pass it to the caller's constructor (bind(Caller, other=node)) and "
                "braid gives the caller a handle",
            )
        )
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_argument(item, f"{where}[{index}]", origin)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise BindError(at(origin, f"{where}: key {key!r} is not a string (JSON keys are)"))
            check_argument(item, f"{where}.{key}", origin)
        return
    raise BindError(
        at(
            origin,
            f"{where} is a {type(value).__name__}: a manifest holds JSON literals (str, int, "
            "float, bool, None, lists and dicts) and flow values; compute other values inside "
            "a node",
        )
    )


def dispatch(
    value: Value,
    cases: Mapping[str | int | bool, Call],
    default: Call | None = None,
) -> Dispatch:
    """A step that makes the call of the case whose key equals ``value``, else ``default``.

    Keys compare as strings; a number or a boolean compares as its JSON text (``1``, ``true``).
    Without a ``default``, a request whose value matches no case fails.
    """
    origin = caller_origin()
    if not isinstance(value, Value):
        raise BindError(at(origin, f"dispatch() switches on a flow value, got {value!r}"))
    if not cases:
        raise BindError(at(origin, "dispatch() needs at least one case"))
    picked: list[tuple[str, Call]] = []
    for key, call in cases.items():
        when = key if isinstance(key, str) else _json_text(key, origin)
        if not isinstance(call, Call) or call._name is not None:
            raise BindError(
                at(
                    origin,
                    f'case "{when}" must be a call made with .bind() (not a named step or a '
                    "dispatch): a case is a call, not a step of its own",
                )
            )
        picked.append((when, call))
    if default is not None and (not isinstance(default, Call) or default._name is not None):
        raise BindError(at(origin, "default must be a call made with .bind()"))
    return Dispatch(value, tuple(picked), default, origin=origin)


def _json_text(key: object, origin: Origin | None) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    raise BindError(at(origin, f"a dispatch case is a string, a number or a boolean, got {key!r}"))


def split(
    cases: Sequence[tuple[int, Call]],
    *,
    key: Value | None = None,
    header: str | None = None,
) -> Split:
    """A step that makes one of ``cases``' calls per request, each ``(weight, call)`` getting
    its weight's share: ``split([(90, stable.run.bind(x)), (10, canary.run.bind(x))])``.

    With ``key`` (a flow value) or ``header`` (a request header's name) the choice is a hash of
    that value, the same for the same value; without either it is random per request.
    """
    origin = caller_origin()
    if key is not None and not isinstance(key, Value):
        raise BindError(at(origin, f"split(key=...) takes a flow value, got {key!r}"))
    if key is not None and header is not None:
        raise BindError(at(origin, "split() takes key or header, not both"))
    if not cases:
        raise BindError(at(origin, "split() needs at least one (weight, call) case"))
    picked: list[tuple[int, Call]] = []
    for index, case in enumerate(cases):
        if not (isinstance(case, tuple) and len(case) == 2):
            raise BindError(at(origin, f"case {index} must be a (weight, call) pair, got {case!r}"))
        weight, call = case
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise BindError(at(origin, f"case {index}: the weight must be an int, got {weight!r}"))
        if not isinstance(call, Call) or call._name is not None:
            raise BindError(
                at(
                    origin,
                    f"case {index} must be a call made with .bind() (not a named step): a case "
                    "is a call, not a step of its own",
                )
            )
        picked.append((weight, call))
    return Split(tuple(picked), key, header, origin=origin)
