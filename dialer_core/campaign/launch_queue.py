"""Decided launches waiting for a launch round: the decision never waits on the database.

The runner asks the policy at every wake-up (a freed channel, an agent change, a tick) and
adds what it decided here; one task runs the launch rounds one after the other, each taking
at most ``LAUNCH_BATCH`` of what is waiting. Until a call is sent it counts as ``launching``
in the pacing view, so the next decision does not ask for it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from dialer_core.campaign.launch import LAUNCH_BATCH

Round = Callable[[int], Awaitable[None]]  # place up to n calls (one launch round)


class LaunchQueue:
    """Launches decided and not yet sent; ``run`` turns them into rounds, one at a time."""

    def __init__(self, launch_round: Round) -> None:
        self._round = launch_round
        self.waiting = 0  # decided, not yet taken by a round
        self.in_round = 0  # taken by the round in flight and not yet sent
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

    def sent(self, n: int = 1) -> None:
        """``n`` calls of the round in flight went out (or were held)."""
        self.in_round = max(0, self.in_round - n)

    def drop(self) -> None:
        """Forget what waits (pause, stop, no contacts left): the next decision asks again."""
        self.waiting = 0

    async def idle(self) -> None:
        """Return once no round is in flight."""
        await self._idle.wait()

    async def run(self) -> None:
        """Run rounds while anything waits, forever (cancel it once ``idle``)."""
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
