"""The generated stubs in braid/runtime/_proto are what scripts/gen-proto makes of the .proto files."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[3]
PROTO_DIR = Path("braid/runtime/_proto")


@pytest.mark.parametrize("name", ["braid", "inference"])
def test_stubs_match_their_proto(tmp_path: Path, name: str) -> None:
    (tmp_path / PROTO_DIR).mkdir(parents=True)
    shutil.copy(ROOT / PROTO_DIR / f"{name}.proto", tmp_path / PROTO_DIR)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            ".",
            "--python_out=.",
            "--pyi_out=.",
            "--grpc_python_out=.",
            str(PROTO_DIR / f"{name}.proto"),
        ],
        cwd=tmp_path,
        check=True,
    )
    for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
        generated = (tmp_path / PROTO_DIR / f"{name}{suffix}").read_text()
        committed = (ROOT / PROTO_DIR / f"{name}{suffix}").read_text()
        assert generated == committed, f"run scripts/gen-proto: {name}{suffix} is stale"
