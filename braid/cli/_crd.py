"""``braid crd``: print the DeploymentGraph CustomResourceDefinition generated from the spec."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from braid.cli._output import fail
from braid.spec import render_crd


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "crd",
        help="print the DeploymentGraph CRD (generated from the spec model)",
        description="Print the CustomResourceDefinition of DeploymentGraph as YAML.",
    )
    parser.add_argument(
        "--output-file", "-o", type=Path, help="write to this file instead of standard output"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    text = render_crd()
    if args.output_file is None:
        print(text, end="")
        return 0
    try:
        args.output_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        return fail(f"cannot write {args.output_file}: {exc.strerror}")
    return 0
