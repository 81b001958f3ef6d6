"""``braid build MODULE:APP``: write the manifest of a graph declared in Python.

The graph is a :class:`braid.authoring.Graph` (``graph(...)``) found at ``module:attribute`` or
``path/to/file.py:attribute`` (``attribute`` defaults to ``app``). The output is the validated
``DeploymentGraph`` as YAML, ready for ``kubectl apply`` or ``braid run``. Problems are listed one
per line, each at the Python line that declared its node or step; exit 1 then.

:func:`built_manifest` serves ``braid run MODULE:APP`` too.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from braid.authoring import AuthoringError, BuildInvalid, Graph, load_app
from braid.cli._output import fail


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "build",
        help="write the manifest of a graph declared in Python",
        description=(
            "Import MODULE:APP (a dotted module importable from the working folder, or a "
            "file.py path; APP defaults to 'app'), build the graph declared there with "
            "braid.authoring, validate it, and print the DeploymentGraph manifest as YAML."
        ),
    )
    parser.add_argument("app", metavar="MODULE:APP", help="e.g. app:app or examples/chain/app.py")
    parser.add_argument("-o", "--output", type=Path, help="write the manifest to this file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        text = load_app(args.app).to_yaml()
    except BuildInvalid as exc:
        return fail(f"{args.app}: {exc}")
    except AuthoringError as exc:
        return fail(str(exc))
    if args.output is None:
        print(text, end="")
        return 0
    try:
        args.output.write_text(text)
    except OSError as exc:
        return fail(f"cannot write {args.output}: {exc.strerror}")
    return 0


def is_app_reference(argument: str) -> bool:
    """Whether a command-line argument names a Python graph rather than a manifest file."""
    if Path(argument).exists():
        return False
    module, colon, attribute = argument.rpartition(":")
    return bool(colon and module and attribute.isidentifier())


def built_manifest(argument: str, folder: Path) -> tuple[Path, Path]:
    """Build the app ``argument`` into ``folder``: the manifest's path and the code's folder.

    Raises :class:`~braid.authoring.AuthoringError` (with every problem) when it does not build.
    """
    graph: Graph = load_app(argument)
    path = folder / f"{graph.name}.yaml"
    path.write_text(graph.to_yaml())
    return path, graph.code_dir or Path.cwd()
