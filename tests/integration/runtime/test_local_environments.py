"""Per-node Python environments under `braid run`: two versions of one package side by side.

Real `braid run` processes and real virtualenvs built with pip (or uv when installed) from the
machine's package index. The environments are cached in a folder of this module's own
(``BRAID_ENVS``), so the second layout reuses what the first built.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from edge_harness import GRAPHS, braid_run, post_json

from braid.runtime._local.environments import environments_dir, interpreter_of
from braid.runtime._local.processes import LaunchError
from braid.spec import LocalEnvironment

LOOPBACK = ["--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"]


@pytest.fixture(scope="module")
def envs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("envs")
    saved = os.environ.get("BRAID_ENVS")
    os.environ["BRAID_ENVS"] = str(folder)  # braid run, started below, inherits it
    yield folder
    if saved is None:
        del os.environ["BRAID_ENVS"]
    else:
        os.environ["BRAID_ENVS"] = saved


def test_two_nodes_import_two_versions_of_one_package(
    envs: Path, layout: str, tmp_path: Path
) -> None:
    with braid_run([GRAPHS / "versions.yaml"], tmp_path, "--layout", layout) as running:
        reply = post_json(running.http, "/versions", None)
    assert reply.status == 200, reply.body
    found = reply.json()
    assert (found["old"], found["new"], found["shared"]) == ("1.16.0", "1.17.0", "1.17.0")
    assert found["old_python"] != found["new_python"]  # two virtualenvs ...
    assert Path(found["old_python"]).parent == envs  # ... cached in BRAID_ENVS
    assert found["shared_python"] == sys.prefix  # and braid's own environment
    built = sorted(path.name for path in envs.iterdir() if path.is_dir())
    assert len(built) == 2, built  # the second layout reused them


def test_an_environment_is_built_once_and_reused(envs: Path) -> None:
    local = LocalEnvironment(requirements=["six==1.16.0"])
    first = interpreter_of("old", local, manifest_dir=GRAPHS, base_python=sys.executable)
    marker = Path(first).parents[1] / ".braid-ready"
    stamp = marker.stat().st_mtime_ns
    again = interpreter_of("old", local, manifest_dir=GRAPHS, base_python=sys.executable)
    assert again == first and marker.stat().st_mtime_ns == stamp
    assert environments_dir() == envs


def test_requirements_that_cannot_be_installed_stop_braid_run_with_the_node_named(
    envs: Path, tmp_path: Path
) -> None:
    manifest = yaml.safe_load((GRAPHS / "versions.yaml").read_text())
    manifest["spec"]["nodes"][0]["local"] = {"requirements": ["braid-no-such-package-xyz==9.9"]}
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(manifest))
    (tmp_path / "versions_nodes.py").symlink_to(GRAPHS / "versions_nodes.py")
    done = subprocess.run(
        [sys.executable, "-m", "braid", "run", str(broken), *LOOPBACK],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1
    assert 'node "old": local.requirements' in done.stderr
    assert "braid-no-such-package-xyz" in done.stderr
    assert "Traceback" not in done.stderr
    assert not [p for p in envs.iterdir() if p.name.endswith(".lock") is False and "-" in p.name]


def test_an_interpreter_without_braid_is_refused_with_the_reason(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120
    )
    local = LocalEnvironment(python=str(bare / "bin" / "python"))
    with pytest.raises(LaunchError, match=r'node "x": local\.python .* cannot import braid'):
        interpreter_of("x", local, manifest_dir=tmp_path, base_python=sys.executable)
    missing = LocalEnvironment(python="no/such/python")
    with pytest.raises(LaunchError, match="is not an executable interpreter"):
        interpreter_of("x", missing, manifest_dir=tmp_path, base_python=sys.executable)


def test_an_interpreter_with_braid_runs_the_node(tmp_path: Path) -> None:
    manifest = yaml.safe_load((GRAPHS / "versions.yaml").read_text())
    for node in manifest["spec"]["nodes"][:2]:
        node["local"] = {"python": sys.executable}
    own = tmp_path / "own.yaml"
    own.write_text(yaml.safe_dump(manifest))
    (tmp_path / "versions_nodes.py").symlink_to(GRAPHS / "versions_nodes.py")
    with braid_run([own], tmp_path / "run") as running:
        found = post_json(running.http, "/versions", None).json()
    assert found["old"] == found["new"] == "1.17.0"
    assert found["old_python"] == found["new_python"] == sys.prefix
