"""Shutdown of a runner's calls in flight: a bounded wait, hang up the rest, close the lost.

Every wait is measured on the runner's clock (simulated seconds in the demo and the tests);
the loops only poll the event loop. A call leaves ``inflight`` when its state machine forgets
it, so the drain only feeds events and watches the dict shrink.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from dialer_core.campaign import calls as c

log = logging.getLogger(__name__)
DRAIN_MARGIN = 30.0  # clock seconds past ring timeout and handler grace before hanging up
HANGUP_WAIT = 10.0  # clock seconds for the PBX to report the ends of the calls we hung up
POLL = 0.1  # event-loop seconds between looks at the calls in flight
PARALLEL = 500  # hang-ups in flight at once at shutdown
LOST_WHY = "runner stopped before the PBX's end"

Feed = Callable[[c.Call, c.Event], Awaitable[None]]


async def drain(
    inflight: Mapping[str, c.Call], feed: Feed, clock: Callable[[], float], ring_timeout: float
) -> None:
    """Wait for the calls in flight to end; hang up the rest; close as lost what stays up."""
    await wait_empty(inflight, clock, ring_timeout + c.HANDLER_GRACE + DRAIN_MARGIN)
    if inflight:
        log.warning("%d call(s) still up at shutdown: hanging up", len(inflight))
        await each(list(inflight.values()), lambda: c.StopRequested(clock()), feed)
    await wait_empty(inflight, clock, HANGUP_WAIT)
    if inflight:
        log.warning("%d call(s) with no end from the PBX: closed as lost", len(inflight))
        await each(list(inflight.values()), lambda: c.Lost(clock(), LOST_WHY), feed)


async def each(calls: list[c.Call], event: Callable[[], c.Event], feed: Feed) -> None:
    """Feed every call its event, up to PARALLEL at a time (hang-ups go out side by side)."""
    for start in range(0, len(calls), PARALLEL):
        await asyncio.gather(*(feed(call, event()) for call in calls[start : start + PARALLEL]))


async def wait_empty(
    inflight: Mapping[str, c.Call], clock: Callable[[], float], seconds: float
) -> None:
    """Poll until no call is in flight or ``seconds`` of the clock have passed."""
    deadline = clock() + seconds
    while inflight and clock() < deadline:
        await asyncio.sleep(POLL)
