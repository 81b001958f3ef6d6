"""The executor's side of batching and multiplexing: what it refuses at start, what user code
sees (its model and model id), and --check-code's view of the same options."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from braid.runtime import get_model, get_model_id
from braid.runtime._replica.arguments import Arguments
from braid.runtime._replica.code import code_problems
from braid.runtime._replica.executors import LocalExecutor
from braid.runtime._replica.handles import CallContext, current_call
from braid.runtime._wire.codec import encode
from braid.runtime._wire.errors import LoadError
from braid.spec import Method, Multiplexing, validate_graph


class Model:
    def __init__(self) -> None:
        self.loads: list[str] = []

    def load_model(self, model_id: str) -> str:
        self.loads.append(model_id)
        return f"weights of {model_id}"

    def predict(self, items: list[int]) -> list[Any]:
        return [(item, get_model_id(), get_model()) for item in items]

    def count(self, n: int) -> Iterator[int]:
        yield from range(n)


def batching(name: str, size: int = 4) -> Method:
    return Method.model_validate(
        {"name": name, "batching": {"maxBatchSize": size, "batchWaitTimeoutSeconds": 0}}
    )


def test_a_batched_generator_is_refused_with_its_field_path() -> None:
    with pytest.raises(LoadError) as caught:
        LocalExecutor("m", Model(), methods=[batching("count")], path="spec.nodes[0]")
    assert caught.value.message.startswith(
        'spec.nodes[0].methods[0].batching: method "count" of node "m" is a generator; '
        "batching does not support streaming methods"
    )


def test_a_missing_loader_is_refused_with_its_field_path() -> None:
    options = Multiplexing(loader="fetch")
    with pytest.raises(LoadError, match=r"^spec.nodes\[2\].multiplexing.loader: node \"m\""):
        LocalExecutor("m", Model(), multiplexing=options, path="spec.nodes[2]")


async def test_a_batch_for_a_model_sees_that_model() -> None:
    model = Model()
    executor = LocalExecutor(
        "m", model, methods=[batching("predict", 2)], multiplexing=Multiplexing()
    )

    async def call(item: int) -> Any:
        current_call.set(CallContext("r", None, "s", model_id="small"))
        return await executor.call("predict", Arguments(encode([[item], {}]), step="s"), "s")

    results = await asyncio.gather(call(1), call(2))
    assert results == [(1, "small", "weights of small"), (2, "small", "weights of small")]
    assert model.loads == ["small"]
    assert executor.loaded_models() == ["small"]
    await executor.close()


def test_check_code_names_batched_generators_and_missing_loaders(tmp_path: Path) -> None:
    (tmp_path / "nodes.py").write_text("class N:\n    def gen(self, x):\n        yield x\n")
    graph = validate_graph(
        {
            "apiVersion": "braid.dev/v1alpha1",
            "kind": "DeploymentGraph",
            "metadata": {"name": "g"},
            "spec": {
                "nodes": [
                    {
                        "name": "n",
                        "class": "nodes:N",
                        "methods": [
                            {"name": "gen", "batching": {"maxBatchSize": 2}},
                            {"name": "gone"},
                        ],
                        "multiplexing": {},
                    }
                ],
                "flow": {
                    "steps": [{"name": "s", "call": "n.gen", "args": ["$input"]}],
                    "output": "$s",
                },
            },
        }
    )
    assert [str(problem) for problem in code_problems(graph, tmp_path)] == [
        'spec.nodes[0].methods[0].batching: method "gen" is a generator; batching does not '
        "support streaming methods: remove batching or return a list",
        'spec.nodes[0].methods[1].name: "nodes:N" has no method "gone"',
        'spec.nodes[0].multiplexing.loader: "nodes:N" has no method "load_model" to load a '
        "model with",
    ]
