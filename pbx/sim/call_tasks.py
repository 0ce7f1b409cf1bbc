"""The running calls of a simulated PBX face (AMI or ESL): one asyncio task per call."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from pbx.sim.clock import loop_time

__all__ = ["CallTasks"]


class CallTasks:
    """Starts call tasks, counts the live ones, waits for idle, and ends them all on close."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, call: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``call`` as a task named ``name``; it leaves the set when it ends."""
        task = asyncio.create_task(call, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no call is in progress; False if ``timeout`` seconds of the loop's clock
        passed first."""
        deadline = loop_time() + timeout
        while self._tasks:
            if loop_time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def cancel_all(self) -> None:
        """Cancel every call and wait for each to finish its clean-up."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
