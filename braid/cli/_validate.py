"""``braid validate FILE...``: check manifests and list every problem with its field path.

Graphs given together are also checked together: sub-graphs (steps with ``graph:``) that call
each other in a cycle are a problem of the graph whose step starts the cycle.

Text output is one line per valid file (``FILE: valid (...)``), one line per file that is not
one manifest (``FILE: reason``), and for an invalid graph a header line followed by one indented
``path: message`` line per problem. ``--output json`` prints a list with one object per file:
``{"file", "valid", "name", "error", "problems": [{"path", "message"}]}``, where ``error`` is the
reason a file could not be read as a manifest (else null). Exit 0 when every file is valid, 1
otherwise.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from braid.operator import size_problems
from braid.runtime import code_problems
from braid.spec import (
    DeploymentGraph,
    GraphInvalid,
    Problem,
    SpecError,
    check_graph_set,
    hosts,
    load_graph,
)

#: How standard input ("-") is named in messages.
STDIN = "<stdin>"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check DeploymentGraph manifests",
        description=(
            "Check DeploymentGraph manifests against the schema and the graph's rules. "
            "Exit 0 when every file is valid, 1 otherwise. '-' reads standard input."
        ),
    )
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="manifest files ('-' for standard input)"
    )
    parser.add_argument(
        "--output",
        choices=["text", "json"],
        default="text",
        help=(
            "text (default): one line per file, then one per problem; json: a list of "
            "{file, valid, name, error, problems: [{path, message}]}"
        ),
    )
    parser.add_argument(
        "--check-code",
        action="store_true",
        help=(
            "also import each node's code (from the manifest's folder) and check that it "
            "exists, that its constructor fits init and handles, and that called methods exist"
        ),
    )
    parser.set_defaults(handler=run)


@dataclass
class Outcome:
    """The result of validating one file."""

    file: str
    graph: DeploymentGraph | None = None
    error: str | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.graph is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "valid": self.valid,
            "name": self.graph.metadata.name if self.graph else None,
            "error": self.error,
            "problems": [{"path": p.path, "message": p.message} for p in self.problems],
        }

    def as_text(self) -> str:
        if self.graph is not None:
            spec = self.graph.spec
            header = (
                f'{self.file}: valid (DeploymentGraph "{self.graph.metadata.name}": '
                f"{_count(len(spec.nodes), 'node')}, {_count(len(spec.flow.steps), 'step')})"
            )
            return "\n".join([header, *group_notes(self.graph)])
        if self.problems:
            count = len(self.problems)
            lines = [f"{self.file}: invalid, {count} problem{'s' if count != 1 else ''}:"]
            return "\n".join(lines + [f"  {problem}" for problem in self.problems])
        return f"{self.file}: {self.error}"


def group_notes(graph: DeploymentGraph) -> list[str]:
    """What each co-location group means for scaling, one indented line per group."""
    notes = []
    for host in hosts(graph):
        if host.group is None:
            continue
        names = ", ".join(f'"{member.name}"' for member in host.members)
        scaling = host.node.autoscaling
        if scaling is not None:
            count = f"{scaling.min_replicas} to {scaling.max_replicas} replicas"
        else:
            count = _count(1 if host.node.replicas is None else host.node.replicas, "replica")
        notes.append(
            f'  group "{host.name}": nodes {names} share one pod and one process, and scale '
            f"together ({count}, each running every member); calls between them are "
            "in-process. Each keeps its own code, userConfig, version and maxOngoingRequests"
        )
    return notes


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"


def check_file(path: str, *, check_code: bool = False) -> Outcome:
    """Validate one file; never raises for bad input."""
    shown = STDIN if path == "-" else path
    try:
        graph = load_graph(path)
        too_big = size_problems(graph)
        if too_big:
            return Outcome(shown, problems=too_big)
        if check_code:
            code_dir = Path.cwd() if path == "-" else Path(path).resolve().parent
            problems = code_problems(graph, code_dir)
            if problems:
                return Outcome(shown, problems=problems)
        return Outcome(shown, graph=graph)
    except GraphInvalid as exc:
        return Outcome(shown, problems=exc.problems)
    except SpecError as exc:
        return Outcome(shown, error=str(exc).removeprefix(f"{shown}: "))


def check_together(outcomes: list[Outcome]) -> list[Outcome]:
    """The outcomes, with the rules that need every graph at once applied to the valid ones:
    sub-graphs that call each other in a cycle make each graph that starts one invalid."""
    valid = [(index, outcome) for index, outcome in enumerate(outcomes) if outcome.graph]
    found = check_graph_set([outcome.graph for _, outcome in valid if outcome.graph])
    checked = list(outcomes)
    for problem in found:
        index, outcome = valid[problem.index]
        if checked[index].graph is not None:
            checked[index] = Outcome(outcome.file)
        checked[index].problems.append(problem.problem)
    return checked


def run(args: argparse.Namespace) -> int:
    outcomes = check_together([check_file(path, check_code=args.check_code) for path in args.files])
    if args.output == "json":
        print(json.dumps([outcome.as_json() for outcome in outcomes], indent=2))
    else:
        for outcome in outcomes:
            print(outcome.as_text())
    return 0 if all(outcome.valid for outcome in outcomes) else 1
