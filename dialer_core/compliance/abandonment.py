"""Abandonment rate over rolling windows and callee-independent calendar days (audit side).

The rate is abandoned calls over live-answered calls (abandoned ones included). The live pacer
keeps its own ledger; these functions replay records to find every window above the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from dialer_core.compliance.windows import zone


@dataclass(frozen=True)
class LiveCall:
    """One live-answered call: when it was answered and whether it was abandoned."""

    at: datetime
    abandoned: bool


@dataclass(frozen=True)
class AbandonWindow:
    """A window [start, end) and its abandonment figures."""

    start: datetime
    end: datetime
    live: int
    abandoned: int

    @property
    def rate(self) -> float:
        return self.abandoned / self.live if self.live else 0.0


def abandon_windows(
    calls: Sequence[LiveCall], window: timedelta, target: float
) -> list[AbandonWindow]:
    """Every maximal run of rolling windows of length ``window`` whose rate exceeds ``target``,
    reported by its worst window (windows end at each call and just after each call leaves).
    Every window is judged whatever its number of live calls (the count is in the result)."""
    items = sorted(calls, key=lambda c: c.at)
    ends = sorted(
        {c.at + timedelta(microseconds=1) for c in items} | {c.at + window for c in items}
    )
    out: list[AbandonWindow] = []
    lo = hi = 0
    worst: AbandonWindow | None = None
    live = dropped = 0
    for end in ends:
        while hi < len(items) and items[hi].at < end:
            live += 1
            dropped += items[hi].abandoned
            hi += 1
        while lo < hi and items[lo].at < end - window:
            live -= 1
            dropped -= items[lo].abandoned
            lo += 1
        w = AbandonWindow(end - window, end, live, dropped)
        if w.rate > target:
            if worst is None or w.rate > worst.rate:
                worst = w
        elif worst is not None:
            out.append(worst)
            worst = None
    if worst is not None:
        out.append(worst)
    return out


def abandon_days(calls: Sequence[LiveCall], zone_name: str, target: float) -> list[AbandonWindow]:
    """Calendar days (midnight to midnight in ``zone_name``, e.g. the centre's zone for Ofcom)
    whose abandonment rate exceeds ``target``, whatever their number of live calls."""
    zi = zone(zone_name)
    days: dict = {}
    for c in calls:
        d = c.at.astimezone(zi).date()
        live, dropped = days.get(d, (0, 0))
        days[d] = (live + 1, dropped + c.abandoned)
    out = []
    for d in sorted(days):
        live, dropped = days[d]
        start = datetime.combine(d, time(0), tzinfo=zi).astimezone(UTC)
        end = datetime.combine(d + timedelta(days=1), time(0), tzinfo=zi).astimezone(UTC)
        w = AbandonWindow(start, end, live, dropped)
        if w.rate > target:
            out.append(w)
    return out
