"""Prometheus metrics of one node: histograms, metric families, the collector registry and the text format.

Pure: no clocks, no I/O, no module-level state — each node owns its ``MetricsRegistry`` (several nodes
run in one test process). Nothing is counted twice: a collector reads the figures the node's parts
keep anyway (push counters, log sequence numbers, connection tables) when a scrape asks for them, so
only what no part keeps (request latency, fsync latency) costs anything on the hot path, and that is a
``Histogram.observe``: one ``bisect`` and two additions.

Parts register a *collector* under a name: a callable returning ``MetricFamily`` values. The HTTP
server registers its connection figures, the naming application its registry figures, the cluster
its membership and Distro figures, each the same way, without a change here. ``render`` writes the
text exposition format (version 0.0.4) the way ``prometheus_client`` writes it, so Prometheus and that
library's parser read it.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = [
    "CONTENT_TYPE",
    "LATENCY_BUCKETS_S",
    "Collector",
    "Histogram",
    "MetricFamily",
    "MetricsRegistry",
    "counter",
    "gauge",
    "render",
]

CONTENT_TYPE: Final = b"text/plain; version=0.0.4; charset=utf-8"
"""The exposition format's media type, as ``prometheus_client`` sends it."""

LATENCY_BUCKETS_S: Final = (
    0.000_05,
    0.000_1,
    0.000_25,
    0.000_5,
    0.001,
    0.002_5,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
"""Upper bounds of latency buckets in seconds: a handler takes tens of µs, an fsync milliseconds."""

MetricType = Literal["counter", "gauge", "histogram", "summary"]
Labels = tuple[tuple[str, str], ...]
"""Label pairs (written sorted by name)."""


class Histogram:
    """Cumulative-at-render histogram of observations in nanoseconds, exposed in seconds.

    ``observe_ns`` is the hot-path call: a ``bisect`` over integer bounds, one list increment, one sum.
    """

    __slots__ = ("bounds_ns", "bounds_s", "counts", "sum_ns")

    def __init__(self, bounds_s: Sequence[float] = LATENCY_BUCKETS_S) -> None:
        if list(bounds_s) != sorted(set(bounds_s)) or not bounds_s:
            raise ValueError("histogram bounds must be distinct and increasing")
        self.bounds_s = tuple(bounds_s)
        self.bounds_ns = [round(bound * 1e9) for bound in bounds_s]
        self.counts = [0] * (len(bounds_s) + 1)
        """Observations per bucket (not cumulative); the last one is above every bound."""
        self.sum_ns = 0

    def observe_ns(self, elapsed_ns: int) -> None:
        """Count one observation of ``elapsed_ns`` nanoseconds."""
        self.counts[bisect_left(self.bounds_ns, elapsed_ns)] += 1
        self.sum_ns += elapsed_ns

    @property
    def count(self) -> int:
        """Observations so far."""
        return sum(self.counts)

    def samples(self, name: str, labels: Labels = ()) -> list[Sample]:
        """The ``_bucket`` (cumulative, ``le`` last), ``_count`` and ``_sum`` samples."""
        result: list[Sample] = []
        running = 0
        for bound, count in zip((*self.bounds_s, math.inf), self.counts, strict=True):
            running += count
            result.append(Sample(f"{name}_bucket", (*labels, ("le", _number(bound))), running))
        result.append(Sample(f"{name}_count", labels, running))
        result.append(Sample(f"{name}_sum", labels, self.sum_ns / 1e9))
        return result


@dataclass(frozen=True, slots=True)
class Sample:
    """One line of the exposition: full sample name, labels, value."""

    name: str
    labels: Labels
    value: float


@dataclass(slots=True)
class MetricFamily:
    """One metric: its name (without ``_total``), type, help text and samples."""

    name: str
    type: MetricType
    help: str
    samples: list[Sample] = field(default_factory=list)

    def add(self, value: float, labels: Labels = (), suffix: str = "") -> MetricFamily:
        """Add a sample named ``name + suffix``; returns the family, for chaining."""
        self.samples.append(Sample(self.name + suffix, labels, value))
        return self

    def add_histogram(self, histogram: Histogram, labels: Labels = ()) -> MetricFamily:
        """Add a histogram's samples under ``labels``."""
        self.samples += histogram.samples(self.name, labels)
        return self


def counter(name: str, help_text: str, value: float | None = None, labels: Labels = ()) -> MetricFamily:
    """A counter family (its samples are written as ``name_total``); with one sample if ``value``."""
    family = MetricFamily(name, "counter", help_text)
    if value is not None:
        family.add(value, labels, "_total")
    return family


def gauge(name: str, help_text: str, value: float | None = None, labels: Labels = ()) -> MetricFamily:
    """A gauge family; with one sample if ``value`` is given."""
    family = MetricFamily(name, "gauge", help_text)
    if value is not None:
        family.add(value, labels)
    return family


Collector = Callable[[], Iterable[MetricFamily]]
"""Reads a part's figures at scrape time."""


class MetricsRegistry:
    """The collectors of one node, by name; ``collect`` runs them all in registration order."""

    __slots__ = ("_collectors",)

    def __init__(self) -> None:
        self._collectors: dict[str, Collector] = {}

    def register(self, name: str, collector: Collector) -> None:
        """Add a collector; a name can be registered once (unregister first to replace it)."""
        if name in self._collectors:
            raise ValueError(f"metrics collector {name!r} is registered already")
        self._collectors[name] = collector

    def unregister(self, name: str) -> None:
        """Remove a collector (a part that stops, such as a closed listener); unknown names are ignored."""
        self._collectors.pop(name, None)

    @property
    def names(self) -> list[str]:
        """The registered collectors' names."""
        return list(self._collectors)

    def collect(self) -> list[MetricFamily]:
        """Every collector's families; two families of one name are an error (a naming clash)."""
        families: list[MetricFamily] = []
        seen: set[str] = set()
        for collector in list(self._collectors.values()):
            for family in collector():
                if family.name in seen:
                    raise ValueError(f"metric {family.name!r} is collected twice")
                seen.add(family.name)
                families.append(family)
        return families

    def render(self) -> bytes:
        """The exposition text of everything collected."""
        return render(self.collect())


def _number(value: float) -> str:
    """A value as Prometheus (and ``prometheus_client``'s ``floatToGoString``) writes it."""
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(float(value))
    dot = text.find(".")
    if value > 0 and dot > 6:  # Go writes large values with an exponent sooner than Python does
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+0{dot - 1}"
    return text


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    pairs = sorted(labels)  # prometheus_client writes labels sorted by name
    return "{" + ",".join(f'{key}="{_escape_label(value)}"' for key, value in pairs) + "}"


def render(families: Iterable[MetricFamily]) -> bytes:
    """The text exposition format 0.0.4: ``# HELP``, ``# TYPE``, then one line per sample."""
    lines: list[str] = []
    for family in families:
        # As prometheus_client writes it: a counter's HELP and TYPE name its ``_total`` samples.
        name = family.name + "_total" if family.type == "counter" else family.name
        lines.append(f"# HELP {name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {name} {family.type}")
        lines.extend(
            f"{sample.name}{_labels(sample.labels)} {_number(sample.value)}" for sample in family.samples
        )
    lines.append("")
    return "\n".join(lines).encode()
