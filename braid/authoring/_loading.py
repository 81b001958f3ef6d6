"""``load_app("module:attribute")``: import the module that declares a graph and return the graph.

``module`` is a dotted module importable from the working folder (``pkg.app``) or the path of
a Python file (``examples/chain/app.py``), whose folder then goes first on ``sys.path`` and whose
stem is its module name, as when Python runs a script. ``attribute`` defaults to ``app``. A
module already imported from another file under the same name is imported afresh, so that two
apps named ``app.py`` in different folders can be loaded one after the other.
"""

from __future__ import annotations

import difflib
import importlib
import sys
import traceback
from pathlib import Path

from braid.authoring._errors import AppLoadError, AuthoringError
from braid.authoring._graphs import Graph

#: The attribute looked up when ``module:attribute`` names none.
DEFAULT_ATTRIBUTE = "app"


def load_app(spec: str, *, cwd: Path | None = None) -> Graph:
    """The :class:`Graph` named by ``spec`` (``module:attribute`` or ``file.py:attribute``)."""
    module_part, colon, attribute = spec.rpartition(":")
    if not colon:
        module_part, attribute = spec, DEFAULT_ATTRIBUTE
    if not module_part or not attribute:
        raise AppLoadError(f'"{spec}": expected "module:attribute", e.g. "app:app"')
    folder = (cwd or Path.cwd()).resolve()
    if module_part.endswith(".py") or "/" in module_part:
        file = (folder / module_part).resolve()
        if not file.is_file():
            raise AppLoadError(f'"{spec}": no such file {module_part}')
        folder, module_name = file.parent, file.stem
    else:
        module_name = module_part
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    _forget_other(module_name, folder)
    try:
        module = importlib.import_module(module_name)
    except AuthoringError:
        raise
    except ModuleNotFoundError as exc:
        if exc.name != module_name.split(".")[0] and exc.name != module_name:
            raise AppLoadError(f'importing "{module_name}" failed: {exc}{_where(exc)}') from exc
        raise AppLoadError(f'"{spec}": cannot import module "{module_name}" from {folder}') from exc
    except Exception as exc:
        raise AppLoadError(
            f'importing "{module_name}" raised {type(exc).__name__}: {exc}{_where(exc)}'
        ) from exc
    found = getattr(module, attribute, None)
    if found is None:
        graphs = [name for name, value in vars(module).items() if isinstance(value, Graph)]
        close = difflib.get_close_matches(attribute, graphs, n=1)
        hint = (
            f' (did you mean "{close[0]}"?)'
            if close
            else (f"; its graphs: {', '.join(graphs)}" if graphs else "")
        )
        raise AppLoadError(f'"{spec}": module "{module_name}" has no "{attribute}"{hint}')
    if not isinstance(found, Graph):
        raise AppLoadError(
            f'"{spec}" is a {type(found).__name__}, not a graph made with braid.authoring.graph()'
        )
    return found


def _forget_other(module_name: str, folder: Path) -> None:
    """Drop a module of this name imported from another folder, so the right file is imported."""
    loaded = sys.modules.get(module_name)
    file = getattr(loaded, "__file__", None)
    if loaded is not None and file and not Path(file).resolve().is_relative_to(folder):
        del sys.modules[module_name]


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
