"""Metrics of one ``pacedial run`` process: rates, live channels, decision latency, write queue.

``RunMetrics`` is plain counters and a fixed-bucket histogram, fed by the campaign runner:
``originated`` for each Originate sent, ``event`` for each call event, ``freed`` when a Hangup
frees a channel, ``decided`` at each pacing decision (every channel freed since the last one
is accounted: "freed channel → decision") and ``launched`` when Originates go out (each pairs
with the oldest freed channel waiting: "freed channel → next Originate"). Times are
``time.perf_counter`` seconds passed in by the caller. ``render`` gives the Prometheus text.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dialer_core.store.write_behind import WriteBehind

__all__ = ["LATENCY_BUCKETS", "Histogram", "RunMetrics"]

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass
class Histogram:
    """Cumulative-bucket histogram (Prometheus semantics), seconds."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds
        self.n += 1

    def quantile(self, q: float) -> float | None:
        """Upper bound of the bucket holding quantile ``q`` (None when empty; inf above)."""
        if not self.n:
            return None
        rank, seen = q * self.n, 0
        for i, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return self.bounds[i] if i < len(self.bounds) else float("inf")
        return float("inf")


@dataclass
class RunMetrics:
    """Counters and gauges of the campaign runners of this process."""

    originates: int = 0
    events: int = 0
    decision: Histogram = field(default_factory=Histogram)  # freed → next Originate
    to_decision: Histogram = field(default_factory=Histogram)  # freed → the next decision
    live: Callable[[], int] = lambda: 0
    queue_depth: Callable[[], int] = lambda: 0
    db_round_trip: Callable[[], float] = lambda: 0.0
    _freed: deque[float] = field(default_factory=deque)
    _undecided: list[float] = field(default_factory=list)

    def watch(self, live: Callable[[], int], queue: WriteBehind) -> RunMetrics:
        """Read the live-call gauge from ``live``, the write queue's depth and round trip from
        ``queue``."""
        self.live = live
        self.queue_depth = lambda: queue.depth
        self.db_round_trip = lambda: queue.round_trip
        return self

    def event(self) -> None:
        self.events += 1

    def freed(self, at: float) -> None:
        """A Hangup freed a channel at ``at``."""
        self._freed.append(at)
        self._undecided.append(at)

    def decided(self, at: float) -> None:
        """The pacing policy decided at ``at``, knowing of every channel freed so far."""
        if self._undecided:
            for freed in self._undecided:
                self.to_decision.observe(max(0.0, at - freed))
            self._undecided.clear()

    def launched(self, count: int, at: float) -> None:
        """``count`` Originates sent at ``at``: each answers the oldest freed channel waiting."""
        self.originates += count
        freed = self._freed
        for _ in range(min(count, len(freed))):
            self.decision.observe(max(0.0, at - freed.popleft()))

    def forget_freed(self) -> None:
        """Launching stopped (pause, stop, no contacts): freed channels wait for no decision."""
        self._freed.clear()
        self._undecided.clear()

    def render(self) -> str:
        """The Prometheus text exposition of every metric."""
        lines: list[str] = []

        def family(name: str, kind: str, help_: str, *samples: str) -> None:
            lines.extend([f"# HELP {name} {help_}", f"# TYPE {name} {kind}", *samples])

        family(
            "pacedial_run_originates_total",
            "counter",
            "Originates sent.",
            f"pacedial_run_originates_total {self.originates}",
        )
        family(
            "pacedial_run_events_total",
            "counter",
            "Call events received.",
            f"pacedial_run_events_total {self.events}",
        )
        family(
            "pacedial_run_live_channels",
            "gauge",
            "Calls in flight.",
            f"pacedial_run_live_channels {self.live()}",
        )
        family(
            "pacedial_run_write_queue_depth",
            "gauge",
            "Attempt writes queued behind the event path.",
            f"pacedial_run_write_queue_depth {self.queue_depth()}",
        )
        family(
            "pacedial_run_db_round_trip_seconds",
            "gauge",
            "Duration of the last write-behind round.",
            f"pacedial_run_db_round_trip_seconds {float(self.db_round_trip())!r}",
        )
        for name, h, help_ in (
            (
                "pacedial_run_freed_to_originate_seconds",
                self.decision,
                "A Hangup freeing a channel to the next Originate.",
            ),
            (
                "pacedial_run_event_to_decision_seconds",
                self.to_decision,
                "A Hangup freeing a channel to the pacing decision that counts it.",
            ),
        ):
            buckets, cumulative = [], 0
            for bound, count in zip((*h.bounds, float("inf")), h.counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                buckets.append(f'{name}_bucket{{le="{le}"}} {cumulative}')
            family(
                name,
                "histogram",
                help_,
                *buckets,
                f"{name}_sum {h.total!r}",
                f"{name}_count {h.n}",
            )
        return "\n".join(lines) + "\n"
