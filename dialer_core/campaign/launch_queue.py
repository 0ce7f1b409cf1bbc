"""Decided launches waiting for a launch round: the decision never waits on the database.

The runner asks the policy at every wake-up (a freed channel, an agent change, a tick) and
adds what it decided here; one task runs the launch rounds one after the other, each taking
at most ``LAUNCH_BATCH`` of what is waiting. Until a call is sent it counts as ``launching``
in the pacing view, so the next decision does not ask for it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from dialer_core.campaign.calls import Call, Event
from dialer_core.campaign.launch import LAUNCH_BATCH, Launcher
from dialer_core.run_metrics import RunMetrics
from dialer_core.store.database import DATABASE_ERRORS

log = logging.getLogger(__name__)
YIELD_EVERY = 16  # calls started between two looks at the PBX's events
StartCall = Callable[[Call, Event], Awaitable[None]]  # the runner takes a written call


class LaunchQueue:
    """Launches decided and not yet sent; ``run`` turns them into rounds, one at a time."""

    def __init__(
        self,
        launcher: Launcher,
        start_call: StartCall,
        clock: Callable[[], float],
        metrics: RunMetrics,
        retry: float,
    ) -> None:
        self.launcher, self.start_call, self.clock = launcher, start_call, clock
        self.metrics, self.retry = metrics, retry
        self.waiting = 0  # decided, not yet taken by a round
        self.in_round = 0  # taken by the round in flight and not yet sent
        self.starved = False  # the last round wrote no call at all (no contact due, all held)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def launching(self) -> int:
        """Calls decided and not yet sent (or given up)."""
        return self.waiting + self.in_round

    def add(self, n: int) -> None:
        """``n`` more calls decided."""
        if n > 0:
            self.waiting += n
            self._wake.set()

    async def start(self, written: list[tuple[Call, Event]]) -> None:
        """Hand each written call to the runner (its Originate goes out without awaiting a
        Response); a Launch that meets a stop or a pause is held instead."""
        for i, (call, event) in enumerate(written, 1):
            await self.start_call(call, self.launcher.still_on(event))
            self.in_round = max(0, self.in_round - 1)
            if i % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let PBX events (freed channels) in between

    def drop(self) -> None:
        """Forget what waits (pause, stop, no contacts left): the next decision asks again."""
        self.waiting = 0

    async def close(self) -> None:
        """At stop: drop what waits, let the round in flight end (its Launches are held), then
        close the attempts of unanswered INSERTs that did get written (``Launcher.settle``)."""
        self.drop()
        await self._idle.wait()
        with contextlib.suppress(*DATABASE_ERRORS):
            await self.start(await self.launcher.settle(self.clock()))

    async def run(self) -> None:
        """Run rounds while anything waits, forever (cancel it after ``close``)."""
        while True:
            if not self.waiting:
                self._wake.clear()
                await self._wake.wait()
                continue
            n = min(self.waiting, LAUNCH_BATCH)
            self.waiting -= n
            self.in_round = n
            self._idle.clear()
            try:
                await self._round(n)
            finally:
                self.in_round = 0
                self._idle.set()

    async def _round(self, n: int) -> None:
        try:
            written = await self.launcher.round(n, self.clock)
        except DATABASE_ERRORS as exc:
            log.warning("launch round failed, retrying: %s", exc)
            self.drop()
            await asyncio.sleep(self.retry)
            return
        self.starved = not written
        if len(written) < n:  # contacts ran out or were held: decide afresh at the next wake
            self.drop()
        await self.start(written)
        self.metrics.launched(self.launcher.launched, time.perf_counter())
