"""Per-node Python environments under ``braid run`` (a node's ``local``).

On Kubernetes every node has its own image. On one machine every node would share braid's
interpreter, so two nodes that need different versions of a package could not run side by side
(Ray Serve's answer is a ``runtime_env`` per deployment). A node's ``local`` gives either:

- ``python``: an interpreter that has braid installed; braid checks that it imports braid;
- ``requirements``: braid makes a virtualenv for them, cached under ``~/.cache/braid/envs`` (or
  ``$BRAID_ENVS``) by a key of the requirements, the base interpreter and braid's environment,
  so a second run starts at once. The virtualenv is *layered* over braid's own environment: a
  ``.pth`` file adds braid's site-packages after the virtualenv's own, so the node's packages win
  and braid with its dependencies stays importable. It is built with ``uv`` when ``uv`` is on
  ``PATH`` (much faster), else with ``venv`` and pip, in a temporary folder that is renamed into
  place when complete; a lock file serialises two runs that build the same one.

In the pod layout the environment is the worker's (the process that runs the node's code); the
sidecar stays on braid's interpreter.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from braid.runtime._local.processes import LaunchError
from braid.spec import LocalEnvironment

#: Seconds an environment may take to build (pip resolving and downloading included).
BUILD_TIMEOUT_SECONDS = 600.0
_READY = ".braid-ready"


def environments_dir() -> Path:
    """Where cached environments live: ``$BRAID_ENVS``, else ``~/.cache/braid/envs``."""
    configured = os.environ.get("BRAID_ENVS")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "braid" / "envs"


def interpreter_of(
    node: str,
    local: LocalEnvironment,
    *,
    manifest_dir: Path,
    base_python: str,
    cache_dir: Path | None = None,
) -> str:
    """The interpreter that runs ``node``: ``local.python`` (checked), or a built environment's.

    Raises :class:`LaunchError` naming the node and the field when it cannot be had.
    """
    if local.python is not None:
        python = Path(local.python)
        if not python.is_absolute():
            python = manifest_dir / python
        _check_interpreter(node, str(python))
        return str(python)
    return _built(node, local.requirements, base_python, cache_dir or environments_dir())


def _check_interpreter(node: str, python: str) -> None:
    where = f'node "{node}": local.python {python}'
    if not os.access(python, os.X_OK) or Path(python).is_dir():
        raise LaunchError(f"{where} is not an executable interpreter")
    try:
        # The user's own interpreter, named in their manifest, with a fixed one-line program.
        done = subprocess.run(  # noqa: S603
            # -I: isolated, so that a braid folder in the working directory does not count.
            [python, "-I", "-c", "import braid"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LaunchError(f"{where} does not run: {exc}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise LaunchError(
            f"{where} cannot import braid ({last}); install braid into that environment "
            "(pip install braid), or give requirements instead"
        )


def _base_site_packages(base_python: str) -> list[str]:
    done = subprocess.run(  # noqa: S603 - braid's own interpreter, a fixed program
        [base_python, "-c", "import json, site; print(json.dumps(site.getsitepackages()))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    paths: list[str] = json.loads(done.stdout)
    return paths


def environment_key(requirements: list[str], base_python: str, base_paths: list[str]) -> str:
    """The cache key: the requirements (in order; pip's resolution may depend on it), the base
    interpreter and the environment braid runs in."""
    material = json.dumps(
        {"requirements": requirements, "python": base_python, "base": base_paths}, sort_keys=True
    )
    return hashlib.sha256(material.encode()).hexdigest()[:20]


def _built(node: str, requirements: list[str], base_python: str, cache_dir: Path) -> str:
    base_paths = _base_site_packages(base_python)
    key = environment_key(requirements, base_python, base_paths)
    target = cache_dir / key
    python = target / "bin" / "python"
    if (target / _READY).exists():
        return str(python)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another braid run may be building the same one
        if (target / _READY).exists():
            return str(python)
        building = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=cache_dir))
        try:
            _build(node, requirements, base_python, base_paths, building)
            (building / _READY).write_text(json.dumps({"requirements": requirements}) + "\n")
            if target.exists():
                shutil.rmtree(target)  # a leftover without its ready mark
            building.rename(target)
        finally:
            if building.exists():
                shutil.rmtree(building, ignore_errors=True)
    return str(python)


def _build(
    node: str, requirements: list[str], base_python: str, base_paths: list[str], folder: Path
) -> None:
    uv = shutil.which("uv")
    # Built in place under its temporary name; the interpreter's links keep working after the
    # rename because a venv's bin/python points at the base interpreter, not into the folder.
    python = str(folder / "bin" / "python")
    steps: list[list[str]]
    if uv is not None:
        steps = [
            [uv, "venv", "--quiet", "--python", base_python, str(folder)],
            [uv, "pip", "install", "--quiet", "--python", python, *requirements],
        ]
    else:
        quiet = ["--quiet", "--disable-pip-version-check"]
        steps = [
            [base_python, "-m", "venv", "--without-pip", str(folder)],
            [base_python, "-m", "pip", "--python", python, "install", *quiet, *requirements],
        ]
    for argv in steps:
        try:
            # No shell: the requirements are pip arguments (the spec refuses pip options).
            done = subprocess.run(  # noqa: S603
                argv, capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            raise LaunchError(
                f'node "{node}": local.requirements took over {BUILD_TIMEOUT_SECONDS:g} s to '
                "install"
            ) from None
        if done.returncode != 0:
            lines = [
                line
                for line in (done.stderr or done.stdout).strip().splitlines()
                if "WARNING: Location" not in line
            ]
            detail = " / ".join(lines[-3:]) or f"exit code {done.returncode}"
            raise LaunchError(
                f'node "{node}": local.requirements {requirements} could not be installed: {detail}'
            )
    _layer_over(folder, base_paths)


def _layer_over(folder: Path, base_paths: list[str]) -> None:
    """Make braid's environment importable after the virtualenv's own packages.

    ``site.addsitedir`` (not a plain path) so that the base's own ``.pth`` files run too: an
    editable install of braid is one.
    """
    (site_packages,) = folder.glob("lib/python*/site-packages")
    lines = [f"import site; site.addsitedir({path!r})" for path in base_paths]
    (site_packages / "zz-braid-base.pth").write_text("\n".join(lines) + "\n")
