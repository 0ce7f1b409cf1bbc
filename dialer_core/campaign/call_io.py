"""The runner's I/O for one call besides the database: the Originate sent, the hang-up asked,
and the call's own timers (the handler's grace after a hangup, the ring time)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from dialer_core.campaign import calls as c
from dialer_core.compliance.model import mask
from pbx.driver import PbxDriver

log = logging.getLogger("dialer_core.campaign.runner")


async def originate(driver: PbxDriver, call: c.Call, e: c.Originate) -> None:
    """Send the call's Originate; a link lost mid-send is left to the reconciliation."""
    req, case = e.request, call.contact.external_id
    log.info("originate call=%s case=%s to=%s", req.call_id, case, mask(req.destination))
    try:
        await driver.originate(req)
    except Exception as exc:  # link lost mid-send: the call may exist; reconcile decides
        log.warning("originate call=%s: %s; will reconcile after reconnect", req.call_id, exc)


async def hang_up(driver: PbxDriver, call_id: str) -> None:
    """Ask the PBX to hang the call up (a call already gone is no error)."""
    with contextlib.suppress(Exception):
        await driver.hangup(call_id)


class CallTimers:
    """The calls' timers, fed back as call events; tasks kept until done. The ring time is in
    the clock's seconds (a ``ScaledClock`` runs ``scale`` times faster than the loop); the
    handler's grace is an I/O wait, in the loop's."""

    def __init__(
        self, feed: Callable[[c.Call, c.Event], Awaitable[None]], clock: Callable[[], float]
    ) -> None:
        self.feed, self.clock = feed, clock
        self.scale = getattr(clock, "scale", 1.0)
        self.tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Awaitable[None]) -> None:
        """Run ``coro`` in the background, held until it ends."""
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def start(self, call: c.Call, wait: c.WaitForHandler | c.WaitForRing) -> None:
        """Feed GraceOver / RingOver to ``call`` after ``wait.seconds`` if still due."""
        if isinstance(wait, c.WaitForRing):
            loop = asyncio.get_running_loop()
            loop.call_later(wait.seconds / self.scale, self._ring_over, call)
        else:
            self.spawn(self._grace(call, wait.seconds))

    async def _grace(self, call: c.Call, seconds: float) -> None:
        """The handler's last word after a hangup: an I/O wait, in real seconds."""
        await asyncio.sleep(seconds)
        if call.state is c.State.ENDED:
            await self.feed(call, c.GraceOver(self.clock()))

    def _ring_over(self, call: c.Call) -> None:
        if call.ringing:  # unanswered the full ring time after its first ring: hang it up
            self.spawn(self.feed(call, c.RingOver(self.clock())))
