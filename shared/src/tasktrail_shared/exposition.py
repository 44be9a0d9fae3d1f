"""The Prometheus text exposition format (0.0.4), written by hand. Pure.

prometheus_client keeps its figures in process-wide registries of live objects; tasktrail's
figures are read from durable state (the API's ``/metrics``) or from a service's own
counters at the moment of a request (each health port's ``/metrics``), so a writer of the
text is all that is needed, and no service depends on the client library. Tests parse what
this writes with prometheus_client's parser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Buckets:
    """One histogram series: the cumulative count at or under each bound, then all of them."""

    le: Sequence[tuple[float, float]]
    """``(bound, observations at or under it)``, bounds in increasing order."""
    count: float
    total: float
    """The sum of the observations."""


def le_label(bound: float) -> str:
    """prometheus_client's spelling of a bound: ``0.005``, ``1.0``, ``2.5``, ``10.0``."""
    return f"{bound:g}" if bound < 1 or bound % 1 else f"{bound:.1f}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, labels: Labels, value: float) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    number = repr(float(value)) if not float(value).is_integer() else f"{float(value):.1f}"
    return f"{name}{{{inner}}} {number}" if inner else f"{name} {number}"


class Exposition:
    """Families in order, each once: ``# HELP``, ``# TYPE``, then its samples. A counter is
    named ``<name>_total`` throughout (give its name with or without the suffix)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_: str, samples: Mapping[Labels, float]) -> None:
        if kind == "counter" and not name.endswith("_total"):
            name = f"{name}_total"  # in HELP and TYPE too, as prometheus_client writes 0.0.4
        self.lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
        self.lines += [_sample(name, labels, v) for labels, v in sorted(samples.items())]

    def histogram(self, name: str, help_: str, series: Mapping[Labels, Buckets]) -> None:
        self.lines += [f"# HELP {name} {help_}", f"# TYPE {name} histogram"]
        for labels, b in sorted(series.items()):
            for bound, n in b.le:
                self.lines.append(_sample(f"{name}_bucket", (*labels, ("le", le_label(bound))), n))
            self.lines.append(_sample(f"{name}_bucket", (*labels, ("le", "+Inf")), b.count))
            self.lines.append(_sample(f"{name}_count", labels, b.count))
            self.lines.append(_sample(f"{name}_sum", labels, b.total))

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"
