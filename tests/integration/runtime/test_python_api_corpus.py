"""The Python API misused: ``braid.runtime.run()`` with bad arguments, an App and its responses
used wrongly, values that cannot be sent, and handles misused in node code. Each case states the
exception it raises and words of its message; afterwards no traceback reached any log of the
running graphs and a normal call still answers."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edge_harness import EXAMPLES, GRAPHS

import braid.runtime
from braid.runtime import (
    App,
    CodecError,
    DeadlineExceeded,
    NotFound,
    StreamingOutput,
    UserCodeError,
)

CHAIN = EXAMPLES / "chain" / "graph.yaml"
GATE_NEVER = "/nonexistent/braid-gate"  # the ticker waits for this file before each tick


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[App, Path]]:
    """chain, ticker and misuse running under run(); their processes' stderr goes to a log."""
    log = tmp_path_factory.mktemp("python-api") / "braid-run.log"
    with log.open("wb") as out, _stderr_to(out.fileno()):
        running = braid.runtime.run(
            CHAIN, GRAPHS / "ticker.yaml", GRAPHS / "misuse.yaml", log_level="INFO"
        )
    with running:
        yield running, log


@contextlib.contextmanager
def _stderr_to(fd: int) -> Iterator[None]:
    """Point fd 2 at ``fd`` while ``braid run`` starts, so that it and its children log there."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(fd, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# -- run() refuses bad arguments before starting anything -------------------------------------

# name: (the call, the exception, words of its message)
RUN_CASES: dict[str, tuple[Callable[[], object], type[BaseException], str]] = {
    "no graph": (braid.runtime.run, ValueError, "at least one graph manifest"),
    "an int for a graph": (lambda: braid.runtime.run(42), TypeError, "not int"),
    "None for a graph": (lambda: braid.runtime.run(None), TypeError, "not NoneType"),
    "a dict for a graph": (lambda: braid.runtime.run({}), TypeError, "not dict"),
    "a manifest that does not exist": (
        lambda: braid.runtime.run("no/such/graph.yaml"),
        FileNotFoundError,
        "no/such/graph.yaml does not exist",
    ),
    "a folder for a manifest": (
        lambda: braid.runtime.run(EXAMPLES / "chain"),
        FileNotFoundError,
        "is a folder, not a manifest",
    ),
    "an unknown log level": (
        lambda: braid.runtime.run(CHAIN, log_level="LOUD"),
        ValueError,
        "takes one of DEBUG, INFO, WARNING, ERROR, not 'LOUD'",
    ),
    "a lower-case log level": (
        lambda: braid.runtime.run(CHAIN, log_level="info"),
        ValueError,
        "not 'info'",
    ),
    "a negative start timeout": (
        lambda: braid.runtime.run(CHAIN, start_timeout=-1),
        ValueError,
        "start_timeout=...) takes seconds above 0, not -1",
    ),
    "a zero start timeout": (
        lambda: braid.runtime.run(CHAIN, start_timeout=0),
        ValueError,
        "not 0",
    ),
    "a start timeout as text": (
        lambda: braid.runtime.run(CHAIN, start_timeout="60"),
        ValueError,
        "not '60'",
    ),
    "an address that is not HOST:PORT": (
        lambda: braid.runtime.run(CHAIN, http="nonsense"),
        braid.runtime.LaunchError,
        "exited with code 1",
    ),
}


@pytest.mark.parametrize("case", RUN_CASES)
def test_run_refuses_bad_arguments_with_a_clear_error(case: str) -> None:
    call, kind, words = RUN_CASES[case]
    with pytest.raises(kind) as caught:
        call()
    assert words in str(caught.value)


# -- an App, its responses and streams, misused -----------------------------------------------


def _cancelled(app: App) -> object:
    response = app.graph("ticker").remote({"gate": GATE_NEVER, "count": 1})
    response.cancel()
    return response.result()


# name: (what to do with the running app, the exception, words of its message)
APP_CASES: dict[str, tuple[Callable[[App], object], type[BaseException], str]] = {
    "an unknown graph": (lambda app: app.graph("nope"), KeyError, 'no graph "nope" runs here'),
    "a graph name that is a number": (lambda app: app.graph(3), KeyError, 'no graph "3"'),
    "the URL of an unknown graph": (lambda app: app.url("nope"), KeyError, 'no graph "nope"'),
    "an object as input": (lambda app: app.remote(object()), CodecError, "builtins.object"),
    "a function as input": (lambda app: app.remote(len), CodecError, "cannot encode"),
    "a generator as input": (lambda app: app.remote(x for x in ()), CodecError, "generator"),
    "a complex number as input": (lambda app: app.remote(1j), CodecError, "complex"),
    "NaN as input": (lambda app: app.remote(float("nan")), CodecError, "not JSON compliant"),
    "infinity as input": (lambda app: app.remote(float("inf")), CodecError, "not JSON"),
    "a 5,000-digit integer as input": (lambda app: app.remote(10**5000), CodecError, "digits"),
    "tuple keys in a dict": (lambda app: app.remote({(1, 2): 3}), CodecError, "keys must be"),
    "a numpy array of objects": (
        lambda app: app.remote(np.array([object()])),
        CodecError,
        "would need pickle",
    ),
    "input the node cannot add to": (
        lambda app: app.remote("x").result(),
        TypeError,
        'node "adder" (step "sum") raised TypeError',
    ),
    "None as input": (lambda app: app.remote(None).result(), UserCodeError, 'node "adder"'),
    "bytes as input": (lambda app: app.remote(b"x").result(), UserCodeError, "can't concat"),
    "a set as input (sent as a list)": (
        lambda app: app.remote({1, 2}).result(),
        UserCodeError,
        'node "adder"',
    ),
    "stream that is not a bool": (
        lambda app: app.options(stream="yes"),
        TypeError,
        "takes True or False, not 'yes'",
    ),
    "a zero timeout": (lambda app: app.options(timeout=0), ValueError, "above 0, not 0"),
    "a negative timeout": (lambda app: app.options(timeout=-1), ValueError, "not -1"),
    "a timeout as text": (
        lambda app: app.options(timeout="5"),
        ValueError,
        "not '5'",
    ),
    "a deadline shorter than the call": (
        lambda app: app.graph("misuse").options(timeout=1).remote("sleep").result(),
        DeadlineExceeded,
        "deadline",
    ),
    "a streaming graph called for one value": (
        lambda app: app.graph("ticker").remote({"gate": GATE_NEVER, "count": 1}).result(),
        StreamingOutput,
        "a generator: call it with InvokeStream (gRPC) or read it as a stream",
    ),
    "result() with a timeout shorter than the call": (
        lambda app: app.graph("misuse").remote("sleep").result(timeout=0.01),
        TimeoutError,
        "no answer within 0.01 s",
    ),
    "result() of a cancelled call": (_cancelled, braid.runtime.Cancelled, "was cancelled"),
    "a stream whose input fails": (
        lambda app: list(app.options(stream=True).remote("x")),
        UserCodeError,
        'node "adder"',
    ),
    "awaiting a failing call": (
        lambda app: __import__("asyncio").run(_awaited(app.remote("x"))),
        UserCodeError,
        'node "adder"',
    ),
}


async def _awaited(response: Any) -> Any:
    return await response


@pytest.mark.parametrize("case", APP_CASES)
def test_app_misuse_raises_a_clear_error(app: tuple[App, Path], case: str) -> None:
    running, log = app
    call, kind, words = APP_CASES[case]
    with pytest.raises(kind) as caught:
        call(running)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)
    assert "Traceback" not in log.read_text()
    assert running.remote(5).result() == 12


# -- handles misused in node code -------------------------------------------------------------

# op of misuse_nodes.Caller.run: (the exception, words of its message)
HANDLE_CASES: dict[str, tuple[type[BaseException], str]] = {
    "unknown method": (NotFound, 'node "callee" has no method "nope" (it has: '),
    "private method": (AttributeError, '"_secret" is private; a handle calls public methods only'),
    "unencodable argument": (UserCodeError, "raised CodecError: cannot encode"),
    "NaN argument": (UserCodeError, "not JSON compliant"),
    "too many arguments": (TypeError, 'node "callee" method "echo" raised TypeError'),
    "unknown keyword": (TypeError, "unexpected keyword argument 'colour'"),
    "await a generator": (TypeError, "which is a generator method: call it with handle.options("),
    "stream a plain method": (TypeError, "which is not a generator method"),
    "unencodable result": (UserCodeError, 'node "callee" (method "unencodable") returned a value'),
    "NaN result": (UserCodeError, 'node "callee" (method "nan") returned a value'),
    "callee raises": (KeyError, 'node "callee" method "fail" raised KeyError'),
    "stream option not a bool": (TypeError, "options(stream=...) takes True or False"),
    "return a response unawaited": (UserCodeError, "not awaited: return await it"),
    "unknown op": (ValueError, "unknown op 'unknown op'"),
}


@pytest.mark.parametrize("op", HANDLE_CASES)
def test_handle_misuse_in_node_code_is_a_clear_error(app: tuple[App, Path], op: str) -> None:
    running, log = app
    kind, words = HANDLE_CASES[op]
    with pytest.raises(kind) as caught:
        running.graph("misuse").remote(op).result()
    assert words in str(caught.value)
    assert "braid.runtime._" not in str(caught.value)
    assert "Traceback" not in log.read_text()
    assert running.graph("misuse").remote("await a response twice").result() == [7, 7]


# Last: it closes the module's app.
def test_an_app_used_after_close_says_so(app: tuple[App, Path]) -> None:
    running, _ = app
    caller = running.graph("chain")
    running.close()
    with pytest.raises(
        ValueError, match='graph "chain" cannot be called: its connection was closed'
    ):
        caller.remote(5)
    running.close()  # closing twice is harmless
