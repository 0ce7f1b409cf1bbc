"""Clocks for the I/O layer. Pure code never reads one: it is handed ``now``."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


class ScaledClock:
    """Epoch seconds that start at ``start`` and run ``scale`` times faster than real time.

    The simulated PBX runs its callees and agents ``time_scale`` times faster; giving the runner
    and the driver this clock with the same scale keeps every duration (ring timeout, talk time,
    redial delay, pacing estimates) in one consistent simulated time.
    """

    def __init__(self, start: float, scale: float = 1.0) -> None:
        self.start, self.scale = start, scale
        self._t0 = time.monotonic()

    def __call__(self) -> float:
        return self.start + (time.monotonic() - self._t0) * self.scale


def next_local_time(hour: int, zone: str, after: float) -> float:
    """The next instant (epoch seconds, ≥ ``after``) at ``hour``:00 local time in ``zone``."""
    tz = ZoneInfo(zone)
    local = datetime.fromtimestamp(after, UTC).astimezone(tz)
    candidate = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if candidate.timestamp() < after:
        candidate = (candidate + timedelta(days=1)).replace(hour=hour)
    return candidate.timestamp()
