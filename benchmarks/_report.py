"""The results table (plain text, also pasted into docs/benchmarks.md) and the JSON document.

Pure formatting: the caller passes in the results, the verdicts and the machine description,
and writes the returned text where it wants.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks._results import BRAID, FLOOR, RAY, SYSTEMS, Measurement, Results, ratios
from benchmarks._targets import Verdict
from benchmarks._workloads import WORKLOADS


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:.0f}{unit}"
    if value >= 10:
        return f"{value:.1f}{unit}"
    return f"{value:.2f}{unit}"


def _cells(measurement: Measurement | None, memory: bool) -> list[str]:
    if measurement is None:
        return ["", "", "", ""]
    if measurement.status.value != "ok":
        return [measurement.status.value, "", "", ""]
    if memory:
        rss = measurement.metric("rss_mb")
        return [_number(rss, " MB"), "", "", ""]
    return [
        _number(measurement.metric("p50_ms")),
        _number(measurement.metric("p99_ms")),
        _number(measurement.metric("throughput_rps")),
        _number(measurement.metric("cpu_ms_per_request")),
    ]


def _columns(systems: Sequence[str]) -> list[str]:
    columns = ["workload"]
    for system in systems:
        columns += [f"{system} p50", f"{system} p99", f"{system} rps", f"{system} cpu"]
    if BRAID in systems and RAY in systems:
        columns += ["b/ray p50", "b/ray rps"]
    if BRAID in systems and FLOOR in systems:
        columns += ["b/floor p50"]
    return columns


def _row(name: str, row: dict[str, Measurement], systems: Sequence[str]) -> list[str]:
    memory = name == "idle-memory"
    cells = [name]
    for system in systems:
        cells += _cells(row.get(system), memory)
    found = ratios(row)
    first = "rss_mb" if memory else "p50_ms"
    if BRAID in systems and RAY in systems:
        versus_ray = found.get(f"braid/{RAY}", {})
        cells.append(_number(versus_ray.get(first), "x"))
        cells.append("" if memory else _number(versus_ray.get("throughput_rps"), "x"))
    if BRAID in systems and FLOOR in systems:
        cells.append(_number(found.get(f"braid/{FLOOR}", {}).get(first), "x"))
    return cells


def table(results: Results) -> str:
    """A Markdown table: latencies in ms, throughput in requests/s, CPU time per request in ms
    (user + system, of all the system's processes), ratios braid/baseline.

    Only the systems that the run included get columns; ratios need braid and the baseline.
    """
    systems = [s for s in SYSTEMS if any(s in row for row in results.values())]
    order = [w.name for w in WORKLOADS if w.name in results]
    columns = _columns(systems)
    rows = [columns] + [_row(name, results[name], systems) for name in order]
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|" + "|".join("-" * (w + 1) + ("-" if i == 0 else ":") for i, w in enumerate(widths)) + "|"
    )
    return "\n".join([line(rows[0]), rule, *(line(r) for r in rows[1:])])


def verdict_lines(verdicts: Sequence[Verdict]) -> str:
    """One line per target: MET, NOT MET or N/A, with the measured ratio."""
    lines = []
    for verdict in verdicts:
        flag = {True: "MET    ", False: "NOT MET", None: "N/A    "}[verdict.met]
        value = f"{verdict.value:.3f}" if verdict.value is not None else "-"
        note = f"  ({verdict.note})" if verdict.note else ""
        lines.append(f"  {flag} {verdict.text}: measured {value}{note}")
    return "\n".join(lines)


def document(
    results: Results,
    verdicts: Sequence[Verdict],
    machine: dict[str, Any],
    config: dict[str, Any],
) -> dict[str, Any]:
    """The JSON document written to benchmarks/results/."""
    return {
        "machine": machine,
        "config": config,
        "results": {
            workload: {system: m.as_json() for system, m in row.items()}
            for workload, row in results.items()
        },
        "ratios": {workload: ratios(row) for workload, row in results.items()},
        "targets": [
            {"target": v.text, "value": v.value, "limit": v.limit, "met": v.met, "note": v.note}
            for v in verdicts
        ],
    }
