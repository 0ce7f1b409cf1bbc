"""The simulated PBX's one clock: simulated epoch seconds read off the event loop's clock.

Every time the simulated PBX stamps (Uniqueids, ``Event-Date-Timestamp``, hold and talk
seconds, uptime) is ``clock()``; every wait is ``clock.scale`` times shorter on the loop. The
dialer's own ``dialer_core.clock.ScaledClock`` has the same shape, so a test or the demo hands
one object to both. Under an event loop whose clock is virtual, both run in virtual time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class SimClock(Protocol):
    """Simulated epoch seconds; ``scale`` simulated seconds pass per second of the loop."""

    scale: float

    def __call__(self) -> float: ...


def loop_time() -> float:
    """The running event loop's clock (monotonic seconds; virtual under a virtual loop)."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:  # no running loop: the default loop clock is time.monotonic
        return time.monotonic()


class LoopClock:
    """Epoch seconds from ``start`` (default: now), running ``scale`` times the loop's clock."""

    def __init__(self, start: float | None = None, scale: float = 1.0) -> None:
        self.start = time.time() if start is None else start
        self.scale = scale
        self._t0 = loop_time()

    def __call__(self) -> float:
        return self.start + (loop_time() - self._t0) * self.scale


def loop_seconds(clock: SimClock, seconds: float) -> float:
    """How long ``seconds`` of simulated time last on the loop."""
    return seconds / clock.scale
