"""load_app: "module:attribute" or "file.py:attribute" to a Graph, with errors that say why not."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from braid.authoring import AppLoadError, BindError, Graph, load_app

NODES = "class Echo:\n    def echo(self, value):\n        return value\n"
APP = (
    "from braid.authoring import Input, bind, graph\n"
    "from nodes_{tag} import Echo\n"
    "echo = bind(Echo)\n"
    "value = Input()\n"
    "app = graph(echo.echo.bind(value), name='{tag}')\n"
)


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    yield tmp_path
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        del sys.modules[name]


def write_app(folder: Path, tag: str, app: str = APP) -> None:
    (folder / f"nodes_{tag}.py").write_text(NODES)
    (folder / "app.py").write_text(app.format(tag=tag))


def test_a_file_and_a_module_both_load(folder: Path) -> None:
    write_app(folder, "one")
    graph = load_app("app.py:app", cwd=folder)
    assert isinstance(graph, Graph) and graph.name == "one"
    assert graph.code_dir == folder.resolve()
    assert graph.build().spec.nodes[0].class_ == "nodes_one:Echo"
    assert load_app("app", cwd=folder) is graph  # the attribute defaults to "app"


def test_two_apps_of_the_same_module_name_in_two_folders(folder: Path) -> None:
    (folder / "a").mkdir()
    (folder / "b").mkdir()
    write_app(folder / "a", "first")
    write_app(folder / "b", "second")
    assert load_app("a/app.py:app", cwd=folder).name == "first"
    assert load_app("b/app.py:app", cwd=folder).name == "second"


def test_what_is_not_a_graph_is_named(folder: Path) -> None:
    write_app(folder, "three")
    with pytest.raises(AppLoadError, match='has no "ap" \\(did you mean "app"\\?\\)'):
        load_app("app.py:ap", cwd=folder)
    with pytest.raises(AppLoadError, match="is a BoundNode, not a graph"):
        load_app("app.py:echo", cwd=folder)
    with pytest.raises(AppLoadError, match="no such file"):
        load_app("missing.py:app", cwd=folder)
    with pytest.raises(AppLoadError, match='cannot import module "nowhere"'):
        load_app("nowhere:app", cwd=folder)


def test_errors_while_importing_keep_their_place(folder: Path) -> None:
    write_app(folder, "four", APP + "raise RuntimeError('boom')\n")
    with pytest.raises(AppLoadError, match=r"raised RuntimeError: boom \(at .*app\.py:6\)"):
        load_app("app.py:app", cwd=folder)
    write_app(folder, "five", APP + "echo.ech.bind(value)\n")
    with pytest.raises(BindError, match=r"app\.py:6: Echo has no method \"ech\""):
        load_app("app.py:app", cwd=folder)
