"""The entry point: builds the parser from the command modules and maps errors to exit codes.

Each command lives in a module of its own with ``register(subparsers)``, which adds its parser
and sets ``handler`` to a function ``(args) -> exit code``. Exit codes: 0 success, 1 the input is
invalid or the command failed, 2 usage errors (argparse), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from braid._version import __version__
from braid.cli._output import fail
from braid.spec import SpecError

# The command modules; the order here is the order of `braid --help`.
_COMMANDS = (
    "_run",
    "_build",
    "_validate",
    "_graph",
    "_crd",
    "_render",
    "_sidecar",
    "_ingress",
    "_operator",
)
#: The long-lived processes of a running graph import their own command's module only, and so
#: none of the others' dependencies (uvicorn, the launcher, the operator): an idle replica's
#: memory is what its role needs (issue 11).
_ALONE = {"sidecar": "_sidecar", "worker": "_sidecar", "ingress": "_ingress"}

_DESCRIPTION = """\
braid serves multi-model inference graphs: declare nodes and a flow in one DeploymentGraph
manifest, run it on this machine with `braid run`, or on Kubernetes with the braid operator.
"""

_EPILOG = """\
examples:
  braid validate examples/*/graph.yaml     check manifests, every problem with its field path
  braid build app.py:app -o graph.yaml     write the manifest of a graph declared in Python
  braid graph graph.yaml -f svg -o g.svg   draw a graph's flow (Mermaid by default)
  braid crd -o crds/deploymentgraphs.braid.dev.yaml   write the CustomResourceDefinition

Run `braid COMMAND --help` for the options of a command.
"""


def build_parser(commands: Sequence[str] = _COMMANDS) -> argparse.ArgumentParser:
    """The ``braid`` parser with ``commands`` (modules of :mod:`braid.cli`; all by default)."""
    parser = argparse.ArgumentParser(
        prog="braid",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"braid {__version__}")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("BRAID_LOG_LEVEL", "INFO"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity (env BRAID_LOG_LEVEL; default INFO)",
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for command in commands:
        importlib.import_module(f"braid.cli.{command}").register(subparsers)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (after the global options), if any."""
    words = iter(argv)
    for word in words:
        if word == "--log-level":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``braid`` command and return its exit code."""
    command = _command_of(sys.argv[1:] if argv is None else argv)
    parser = build_parser((_ALONE[command],) if command in _ALONE else _COMMANDS)
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = handler(args)
    except SpecError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `braid crd | head` closes the pipe early; that is not an error worth a message.
        return 0
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
