"""``braid graph FILE``: draw a manifest's flow as Mermaid (the default), DOT or SVG.

The picture shows the input, each step with its node and method, fan-out and joins, dispatch
cases, handles (dashed) and the output; see :mod:`braid.drawing` for the rules. An invalid
manifest is still drawn, from the parts that parse, with each problem marked where its field path
points; the problems are also listed on standard error and the exit code is 1.

``--readme FILE`` writes the Mermaid picture into a Markdown file instead, between the lines
``<!-- braid graph NAME -->`` and ``<!-- /braid graph -->``, where NAME is the manifest's file
name. The examples' READMEs hold such blocks, and the tests check that they match.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from braid.cli._output import fail
from braid.drawing import Picture, picture_of, to_dot, to_mermaid, to_svg
from braid.spec import SpecError, inspect_graph, read_manifest_file

FORMATS = {"mermaid": to_mermaid, "dot": to_dot, "svg": to_svg}
END = "<!-- /braid graph -->"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "graph",
        help="draw a graph's flow (Mermaid, DOT or SVG)",
        description=(
            "Draw a DeploymentGraph's flow: input, steps (node.method), fan-out and joins, "
            "dispatch cases, handles (dashed) and output. Problems of an invalid manifest are "
            "marked on the picture and listed on stderr (exit 1). '-' reads standard input."
        ),
    )
    parser.add_argument("file", metavar="FILE", help="manifest file ('-' for standard input)")
    parser.add_argument(
        "--format",
        "-f",
        choices=sorted(FORMATS),
        default="mermaid",
        help="mermaid (default; GitHub renders it), dot (for Graphviz) or svg (standalone)",
    )
    parser.add_argument("--output", "-o", metavar="OUT", help="write to OUT instead of stdout")
    parser.add_argument(
        "--readme",
        metavar="MARKDOWN",
        help=(
            "write the Mermaid picture into MARKDOWN, between '<!-- braid graph FILENAME -->' "
            f"and '{END}'"
        ),
    )
    parser.set_defaults(handler=run)


def draw(path: str) -> Picture:
    """The picture of the manifest at ``path``; :class:`SpecError` if it is not a graph."""
    return picture_of(*inspect_graph(read_manifest_file(path)))


def begin_marker(manifest: str) -> str:
    """The line that opens the README block of the manifest at ``manifest``."""
    return f"<!-- braid graph {Path(manifest).name} -->"


def mermaid_block(manifest: str, picture: Picture) -> str:
    """The README block of a manifest: the markers around a fenced Mermaid picture."""
    return f"{begin_marker(manifest)}\n```mermaid\n{to_mermaid(picture)}```\n{END}"


def with_block(markdown: str, manifest: str, block: str) -> str:
    """``markdown`` with the manifest's block replaced by ``block``; ``ValueError`` if none."""
    begin = begin_marker(manifest)
    start = markdown.find(begin)
    end = markdown.find(END, start)
    if start < 0 or end < 0:
        raise ValueError(f"no '{begin}' ... '{END}' block to replace")
    return markdown[:start] + block + markdown[end + len(END) :]


def run(args: argparse.Namespace) -> int:
    try:
        picture = draw(args.file)
    except SpecError as exc:
        return fail(str(exc))
    for problem in picture.problems:
        print(f"braid: {problem}", file=sys.stderr)
    if args.readme is not None:
        readme = Path(args.readme)
        try:
            block = mermaid_block(args.file, picture)
            readme.write_text(with_block(readme.read_text(), args.file, block))
        except (OSError, ValueError) as exc:
            return fail(f"{args.readme}: {exc}")
    else:
        text = FORMATS[args.format](picture)
        if args.output is None:
            sys.stdout.write(text)
        else:
            try:
                Path(args.output).write_text(text)
            except OSError as exc:
                return fail(f"{args.output}: {exc.strerror or exc}")
    return 1 if picture.problems else 0
