"""Clocks for the I/O layer. Pure code never reads one: it is handed ``now``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pbx.sim.clock import LoopClock


class ScaledClock(LoopClock):
    """Epoch seconds that start at ``start`` and run ``scale`` times faster than the loop's clock.

    The simulated PBX runs its callees and agents ``time_scale`` times faster; giving the runner,
    the driver and the simulated PBX this one clock keeps every duration (ring timeout, talk time,
    redial delay, pacing estimates) in one consistent simulated time. It reads the running event
    loop's clock (``pbx.sim.clock.LoopClock``): under a virtual-time loop everything runs in
    virtual time.
    """

    def __init__(self, start: float, scale: float = 1.0) -> None:
        super().__init__(start, scale)


def next_local_time(hour: int, zone: str, after: float) -> float:
    """The next instant (epoch seconds, ≥ ``after``) at ``hour``:00 local time in ``zone``."""
    tz = ZoneInfo(zone)
    local = datetime.fromtimestamp(after, UTC).astimezone(tz)
    candidate = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if candidate.timestamp() < after:
        candidate = (candidate + timedelta(days=1)).replace(hour=hour)
    return candidate.timestamp()
