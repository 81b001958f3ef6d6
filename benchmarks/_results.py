"""What one system measured on one workload, and the ratios between systems; pure data.

``Results`` maps workload name -> system name -> ``Measurement``. A system that could not run
(braid before its runtime exists, Ray without its virtualenv) still gets a row, with a status
and the reason, so that the table and the JSON always have the same shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from benchmarks._stats import Summary, ratio

RAY = "ray"
FLOOR = "floor"
BRAID = "braid"
SYSTEMS = (RAY, FLOOR, BRAID)

#: The metrics that ratios are taken of.
RATIO_METRICS = ("p50_ms", "p99_ms", "throughput_rps", "cpu_ms_per_request", "rss_mb")


class Status(StrEnum):
    OK = "ok"
    UNAVAILABLE = "not available"
    FAILED = "failed"


@dataclass
class Measurement:
    """One cell group of the table: a latency summary and/or details such as memory or errors."""

    status: Status
    summary: Summary | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def metric(self, name: str) -> float | None:
        """A metric by name: a Summary field, else a numeric detail; None when not measured."""
        if self.status is not Status.OK:
            return None
        if self.summary is not None and hasattr(self.summary, name):
            value = getattr(self.summary, name)
        else:
            value = self.detail.get(name)
        return float(value) if isinstance(value, int | float) else None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            **(asdict(self.summary) if self.summary else {}),
            **self.detail,
            **({"error": self.error} if self.error else {}),
        }


Results = dict[str, dict[str, Measurement]]

_SUMMARY_FIELDS = tuple(f.name for f in fields(Summary))


def measurement_from_json(data: dict[str, Any]) -> Measurement:
    """The inverse of ``Measurement.as_json``, for tables of earlier runs."""
    rest = dict(data)
    status = Status(rest.pop("status"))
    error = rest.pop("error", None)
    summary = None
    if all(name in rest for name in _SUMMARY_FIELDS):
        summary = Summary(**{name: rest.pop(name) for name in _SUMMARY_FIELDS})
    return Measurement(status, summary, rest, error)


def results_from_json(data: dict[str, dict[str, dict[str, Any]]]) -> Results:
    """Results from the ``results`` object of a JSON document."""
    return {
        workload: {system: measurement_from_json(m) for system, m in row.items()}
        for workload, row in data.items()
    }


def ratios(row: dict[str, Measurement]) -> dict[str, dict[str, float | None]]:
    """braid/ray and braid/floor for every metric that both sides measured."""
    braid = row.get(BRAID)
    found: dict[str, dict[str, float | None]] = {}
    for baseline in (RAY, FLOOR):
        other = row.get(baseline)
        if braid is None or other is None:
            continue
        pairs = {m: ratio(braid.metric(m), other.metric(m)) for m in RATIO_METRICS}
        found[f"braid/{baseline}"] = {m: v for m, v in pairs.items() if v is not None}
    return found
