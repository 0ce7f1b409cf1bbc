"""Clocks for the I/O layer. Pure code never reads one: it is handed ``now``."""

from __future__ import annotations

import time
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


class ShiftedClock:
    """The wall clock moved to read ``start`` at wall time ``anchor`` (real speed): several
    processes given the same pair read the same time (a lab running ``pacedial run`` processes
    against one simulated PBX at a chosen hour)."""

    scale = 1.0

    def __init__(self, start: float, anchor: float) -> None:
        self.offset = start - anchor

    def __call__(self) -> float:
        return time.time() + self.offset


LAB_CLOCK_ENV = "PACEDIAL_LAB_CLOCK"


def lab_clock(spec: str) -> ShiftedClock:
    """``START@ANCHOR`` (epoch seconds) as a ShiftedClock; ValueError naming the variable."""
    start, sep, anchor = spec.partition("@")
    try:
        if not sep:
            raise ValueError
        return ShiftedClock(float(start), float(anchor))
    except ValueError:
        raise ValueError(
            f"{LAB_CLOCK_ENV}: expected START@ANCHOR in epoch seconds "
            f"(the clock reads START at wall time ANCHOR), got {spec!r}"
        ) from None


def next_local_time(hour: int, zone: str, after: float) -> float:
    """The next instant (epoch seconds, ≥ ``after``) at ``hour``:00 local time in ``zone``."""
    tz = ZoneInfo(zone)
    local = datetime.fromtimestamp(after, UTC).astimezone(tz)
    candidate = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if candidate.timestamp() < after:
        candidate = (candidate + timedelta(days=1)).replace(hour=hour)
    return candidate.timestamp()
