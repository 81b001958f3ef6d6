"""Loading user code: import a node's ``module:attribute`` and construct it.

The code directory (the manifest's folder in local mode, the image's working directory in a
pod) goes first on ``sys.path``. A class is constructed with the node's ``init`` keyword
arguments plus one handle per name in ``handles`` ('-' becomes '_'); a function is used as it
is. Every failure is a :class:`~braid.runtime._wire.errors.LoadError` that names the node and says
what to fix, instead of an ImportError traceback. A constructor that takes long (a model that
loads for minutes) is reported every :data:`PROGRESS_SECONDS` by :func:`with_progress`, rather
than leaving its replica's log silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import inspect
import logging
import sys
import sysconfig
import time
import traceback
from collections.abc import Awaitable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from braid.runtime._wire.errors import LoadError
from braid.spec import DeploymentGraph, Node, Problem, Step, parse_call

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds between the "still constructing" lines of a node whose constructor runs long.
PROGRESS_SECONDS = 30.0


async def with_progress(work: Awaitable[T], *, node: str, every: float = PROGRESS_SECONDS) -> T:
    """Await ``work`` (a node's construction), logging every ``every`` seconds until it ends."""
    task = asyncio.ensure_future(work)
    began = time.monotonic()
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return task.result()
            logger.info('still constructing node "%s", %.0f s', node, time.monotonic() - began)
    except asyncio.CancelledError:
        task.cancel()
        raise


def import_target(path: str, *, node: str, code_dir: Path | None = None) -> Any:
    """Import ``module:attribute`` (dotted attributes allowed)."""
    if code_dir is not None and str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    module_name, _, attribute = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        where = f" (looked in {code_dir} and the Python path)" if code_dir else ""
        raise LoadError(
            f'node "{node}": cannot import module "{module_name}": {exc}{where}'
        ) from exc
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # user code may exit on import
        raise LoadError(
            f'node "{node}": importing "{module_name}" raised {_described(exc)}',
            user_frames=user_frames(exc),
        ) from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise LoadError(
                f'node "{node}": module "{module_name}" has no attribute "{attribute}"'
            ) from exc
    return target


def construct(node: Node, target: Any, handles: Mapping[str, Any]) -> Any:
    """Build the node's object: the class with init and handles, or the function itself."""
    if not inspect.isclass(target):
        if node.init or handles:
            raise LoadError(
                f'node "{node.name}": "{node.class_}" is a function; it takes no init or handles'
            )
        if not callable(target):
            raise LoadError(
                f'node "{node.name}": "{node.class_}" is neither a class nor a function'
            )
        return target
    arguments = {
        **node.init,
        **{name.replace("-", "_"): handle for name, handle in handles.items()},
    }
    try:
        return target(**arguments)
    except TypeError as exc:
        frames = user_frames(exc)
        if not frames:  # the call itself did not fit: the init keywords are wrong
            raise LoadError(
                f'node "{node.name}": constructing {target.__name__} failed: {exc}; '
                f"check the node's init and handles ({', '.join(arguments) or 'none given'})"
            ) from exc
        raise LoadError(
            f'node "{node.name}": the constructor of {target.__name__} raised {_described(exc)}',
            user_frames=frames,
        ) from exc
    except (Exception, SystemExit, KeyboardInterrupt) as exc:
        raise LoadError(
            f'node "{node.name}": the constructor of {target.__name__} raised {_described(exc)}',
            user_frames=user_frames(exc),
        ) from exc


def user_frames(exc: BaseException) -> str:
    """The traceback lines of ``exc`` in the user's files: none of braid's, the standard
    library's or the import machinery's; a syntax error's own line too."""
    ignored = (str(Path(__file__).parents[2]), sysconfig.get_paths()["stdlib"], "<frozen ")
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(ignored)
    ]
    lines = traceback.format_list(frames)
    if isinstance(exc, SyntaxError) and exc.filename:
        lines.append(
            f'  File "{exc.filename}", line {exc.lineno}\n    {(exc.text or "").strip()}\n'
        )
    return "".join("\n" + line.rstrip("\n") for line in lines)


def _described(exc: BaseException) -> str:
    """``Type: message``, or just the type when the message is empty."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def lacks_reconfigure(node: Node, target: Any) -> bool:
    """Whether ``node`` has a userConfig that ``target`` cannot take (no ``reconfigure()``)."""
    if node.user_config is None:
        return False
    return not inspect.isclass(target) or not callable(getattr(target, "reconfigure", None))


def reconfigure_problem(node: Node) -> str:
    return (
        f'node "{node.name}" has a userConfig, but "{node.class_}" has no reconfigure() method '
        "to receive it; add reconfigure(self, config) or remove userConfig"
    )


def missing_methods(target: Any, methods: list[str]) -> list[str]:
    """Which of ``methods`` ``target`` (a class or function) lacks, for validation before start."""
    missing = []
    for method in methods:
        if method == "__call__":
            if not callable(target) or (inspect.isclass(target) and "__call__" not in dir(target)):
                missing.append(method)
        elif not callable(getattr(target, method, None)):
            missing.append(method)
    return missing


def code_problems(graph: DeploymentGraph, code_dir: Path | None) -> list[Problem]:
    """Problems that only the node code shows: imports, constructor arguments, called methods,
    and whether the graph's own app's module exists.

    This imports user code, so it runs only when asked (``braid validate --check-code``).
    """
    with _isolated():
        return _code_problems(graph, code_dir)


@contextlib.contextmanager
def _isolated() -> Iterator[None]:
    """Import user code without leaving it behind: each manifest's modules are its own, so that
    two files with a module of the same name are each checked against their own code."""
    modules, path = set(sys.modules), list(sys.path)
    try:
        yield
    finally:
        for name in set(sys.modules) - modules:
            del sys.modules[name]
        sys.path[:] = path
        importlib.invalidate_caches()


def _code_problems(graph: DeploymentGraph, code_dir: Path | None) -> list[Problem]:
    problems: list[Problem] = []
    targets: dict[str, Any] = {}
    for index, node in enumerate(graph.spec.nodes):
        if node.class_ is None:
            continue
        try:
            targets[node.name] = import_target(node.class_, node=node.name, code_dir=code_dir)
        except LoadError as exc:
            message = exc.message.removeprefix(f'node "{node.name}": ')
            problems.append(Problem(f"spec.nodes[{index}].class", message))
            continue
        problem = _constructor_problem(node, targets[node.name])
        if problem:
            problems.append(Problem(f"spec.nodes[{index}].init", problem))
            if not inspect.isclass(targets[node.name]):
                del targets[node.name]  # its calls are not the problem: do not report them
        if lacks_reconfigure(node, targets.get(node.name)):
            message = reconfigure_problem(node).removeprefix(f'node "{node.name}" ')
            problems.append(Problem(f"spec.nodes[{index}].userConfig", message))
        if node.name in targets:
            problems += _option_problems(node, targets[node.name], f"spec.nodes[{index}]")
    for index, step in enumerate(graph.spec.flow.steps):
        for path, call in _calls_of(step, f"spec.flow.steps[{index}]"):
            target = parse_call(call)
            if target.node in targets and missing_methods(targets[target.node], [target.method]):
                node = graph.node(target.node)
                owner = f'"{node.class_}" of node "{node.name}"'
                message = (
                    f"{owner} is not callable; name a method in the step"
                    if target.method == "__call__"
                    else f'{owner} has no method "{target.method}"'
                )
                problems.append(Problem(f"{path}.call", message))
    return problems + _app_problems(graph, code_dir)


def _app_problems(graph: DeploymentGraph, code_dir: Path | None) -> list[Problem]:
    """The graph's own app must be findable; it is not imported here, since it binds to its
    graph at import and only the ingress can give it one (decision 0019)."""
    app = graph.spec.ingress.http.app
    if app is None:
        return []
    module = app.partition(":")[0]
    if code_dir is not None and str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    try:
        found = importlib.util.find_spec(module) is not None
    except (Exception, SystemExit) as exc:  # a parent package that fails to import
        found, reason = False, f": importing its package raised {_described(exc)}"
    else:
        reason = ""
    if found:
        return []
    where = f" (looked in {code_dir} and the Python path)" if code_dir else ""
    return [Problem("spec.ingress.http.app", f'cannot find module "{module}"{reason}{where}')]


def _option_problems(node: Node, target: Any, path: str) -> list[Problem]:
    """Batched methods that are missing or generators, and a missing multiplexing loader."""
    problems: list[Problem] = []
    for index, options in enumerate(node.methods):
        where = f"{path}.methods[{index}]"
        if missing_methods(target, [options.name]):
            problems.append(
                Problem(f"{where}.name", f'"{node.class_}" has no method "{options.name}"')
            )
            continue
        function = getattr(target, options.name, None)
        generator = inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function)
        if options.batching is not None and generator:
            problems.append(
                Problem(
                    f"{where}.batching",
                    f'method "{options.name}" is a generator; batching does not support streaming '
                    "methods: remove batching or return a list",
                )
            )
    multiplexing = node.multiplexing
    if multiplexing is not None and missing_methods(target, [multiplexing.loader]):
        problems.append(
            Problem(
                f"{path}.multiplexing.loader",
                f'"{node.class_}" has no method "{multiplexing.loader}" to load a model with',
            )
        )
    return problems


def _calls_of(step: Step, path: str) -> list[tuple[str, str]]:
    if step.split is not None:
        return [(f"{path}.split.cases[{k}]", case.call) for k, case in enumerate(step.split.cases)]
    if step.dispatch is None:
        return [(path, step.call)] if step.call else []
    found = [
        (f"{path}.dispatch.cases[{k}]", case.call) for k, case in enumerate(step.dispatch.cases)
    ]
    if step.dispatch.default is not None:
        found.append((f"{path}.dispatch.default", step.dispatch.default.call))
    return found


def _constructor_problem(node: Node, target: Any) -> str | None:
    if not inspect.isclass(target):
        if node.init or node.handles:
            return f'"{node.class_}" is a function; it takes no init or handles'
        if not callable(target):
            return f'"{node.class_}" is neither a class nor a function'
        return None
    arguments = {**node.init, **{name.replace("-", "_"): None for name in node.handles}}
    try:
        inspect.signature(target).bind(**arguments)
    except TypeError as exc:
        return f"the constructor of {target.__name__} does not fit init and handles: {exc}"
    except ValueError:  # no signature (a builtin): nothing to check
        return None
    return None
