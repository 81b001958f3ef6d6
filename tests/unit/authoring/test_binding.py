"""Mistakes made while declaring a graph raise BindError at once, naming the caller's line."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from braid.authoring import BindError, Input, bind, dispatch, graph, node


class Model:
    def __init__(self, size: int = 1, **extra: Any) -> None:
        self.size = size

    def predict(self, value: Any) -> Any:
        return value

    def _private(self) -> None:
        pass


def function_node(value: int) -> int:
    return value


def here() -> int:
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


def test_an_unknown_method_is_refused_with_a_suggestion_and_the_line() -> None:
    model = bind(Model)
    line = here() + 2
    with pytest.raises(BindError) as caught:
        model.predct.bind(1)
    assert str(caught.value) == (
        f'tests/unit/authoring/test_binding.py:{line}: Model has no method "predct" '
        '(did you mean "predict"?)'
    )


def test_private_methods_and_functions_without_methods() -> None:
    with pytest.raises(BindError, match='"_private" is private'):
        bind(Model).method("_private")
    with pytest.raises(BindError, match="function_node is a function node"):
        bind(function_node).run.bind(1)
    with pytest.raises(BindError, match="is not callable"):
        bind(Model).bind(1)


def test_constructor_arguments_are_checked_against_the_signature() -> None:
    assert bind(Model, 3, colour="red")._init == {"size": 3, "colour": "red"}
    with pytest.raises(BindError, match="does not take these arguments"):
        bind(Model, 1, 2)
    with pytest.raises(BindError, match="is a function: it has no constructor arguments"):
        bind(function_node, 1)
    with pytest.raises(BindError, match="is a flow value"):
        bind(Model, size=Input().size)
    with pytest.raises(BindError, match="bind\\(\\) takes a class or a function"):
        bind(3)  # type: ignore[arg-type]


def test_arguments_must_be_json_or_flow_values() -> None:
    model = bind(Model)
    with pytest.raises(BindError, match=r"argument 0\[1\] is a set"):
        model.predict.bind([1, {2}])
    with pytest.raises(BindError, match='argument "x" is a node: a method takes values'):
        model.predict.bind(x=bind(Model))
    with pytest.raises(BindError, match="is not a string"):
        model.predict.bind({1: "a"})
    with pytest.raises(BindError, match="is not a JSON number"):
        model.predict.bind(float("nan"))


def test_flow_values_have_no_truth_value_and_do_not_iterate() -> None:
    value = Input()
    with pytest.raises(BindError, match="use dispatch"):
        bool(value)
    with pytest.raises(BindError, match="cannot be iterated"):
        list(value)
    with pytest.raises(BindError, match="cannot be a field"):
        value["a b"]
    with pytest.raises(BindError, match="count from 0"):
        value[-1]


def test_node_options_are_checked_by_name() -> None:
    with pytest.raises(BindError, match='unknown node option "replica" \\(did you mean "replicas"'):
        bind(Model).options(replica=2)  # type: ignore[call-arg]
    with pytest.raises(BindError, match="unknown node option"):
        node(replics=2)  # type: ignore[call-overload]


def test_the_decorator_returns_the_class_itself() -> None:
    @node(replicas=2)
    class Local:
        pass

    assert inspect.isclass(Local) and Local.__name__ == "Local"
    assert node(function_node) is function_node
    with pytest.raises(BindError, match="defined inside a function"):
        bind(Local)


def test_dispatch_needs_calls_as_cases() -> None:
    model = bind(Model)
    value = Input()
    with pytest.raises(BindError, match="needs at least one case"):
        dispatch(value, {})
    with pytest.raises(BindError, match='case "a" must be a call'):
        dispatch(value, {"a": model.predict.bind(value).named("step")})
    with pytest.raises(BindError, match="switches on a flow value"):
        dispatch("language", {"a": model.predict.bind(value)})  # type: ignore[arg-type]


def test_graph_takes_a_flow_value() -> None:
    with pytest.raises(BindError, match="takes the flow's output value"):
        graph(bind(Model), name="g")  # type: ignore[arg-type]
