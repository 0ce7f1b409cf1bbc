"""The event stream every PbxDriver hands out: an outbox its pump fills, ended by close().

Drivers map their PBX's messages to ``pbx.model`` events on a background task (the pump) and
put them here; ``PbxDriver.events()`` is :meth:`EventOutbox.stream`, which ends once the
driver calls :meth:`EventOutbox.end` in ``close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable

from pbx.model import AgentEvent, CallEvent

YIELD_EVERY = 64  # events handed out between two chances for other tasks to run

__all__ = ["DriverEvent", "EventOutbox", "stop_task"]

DriverEvent = CallEvent | AgentEvent


class EventOutbox:
    """Call and agent events in the order the driver put them, for one consumer."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[DriverEvent | None] = asyncio.Queue()

    def put(self, item: DriverEvent) -> None:
        """Append one event (never blocks)."""
        self._queue.put_nowait(item)

    def put_all(self, items: Iterable[DriverEvent]) -> None:
        """Append events in order."""
        for item in items:
            self._queue.put_nowait(item)

    async def stream(self) -> AsyncIterator[DriverEvent]:
        """The events in order; ends after :meth:`end` once those before it are read. Every
        ``YIELD_EVERY`` events it lets other tasks run (a long backlog never starves them)."""
        read = 0
        while (item := await self._queue.get()) is not None:
            yield item
            read += 1
            if read % YIELD_EVERY == 0:
                await asyncio.sleep(0)

    def end(self) -> None:
        """End :meth:`stream` after the events already put."""
        self._queue.put_nowait(None)


async def stop_task(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` (if there is one) and wait until it has ended."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
