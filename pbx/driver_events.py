"""The event stream every PbxDriver hands out: an outbox its pump fills, ended by close().

Drivers map their PBX's messages to ``pbx.model`` events on a background task (the pump) and
put them here; ``PbxDriver.events()`` is :meth:`EventOutbox.stream`, which ends once the
driver calls :meth:`EventOutbox.end` in ``close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Iterable

from pbx.model import AgentEvent, CallEvent

YIELD_EVERY = 64  # events handed out between two chances for other tasks to run

__all__ = ["DriverEvent", "EventOutbox", "stop_task"]

DriverEvent = CallEvent | AgentEvent


class EventOutbox:
    """Call and agent events in the order the driver put them, for every consumer.

    Each :meth:`stream` gets every event put after it was opened (several campaigns on one
    driver each see every agent change; each follows its own calls). Events put before the
    first stream go to that stream; events put while no stream is open after that are dropped
    (a stream opened later starts from the driver's agent list, not from stale changes).
    """

    def __init__(self) -> None:
        self._readers: list[asyncio.Queue[DriverEvent | None]] = []
        self._backlog: list[DriverEvent] | None = []  # until the first stream opens
        self._ended = False

    def put(self, item: DriverEvent) -> None:
        """Append one event (never blocks)."""
        if self._backlog is not None:
            self._backlog.append(item)
        for reader in self._readers:
            reader.put_nowait(item)

    def put_all(self, items: Iterable[DriverEvent]) -> None:
        """Append events in order."""
        for item in items:
            self.put(item)

    def stream(self) -> AsyncIterator[DriverEvent]:
        """The events from now on, in order; ends after :meth:`end` once those before it are
        read. Every ``YIELD_EVERY`` events it lets other tasks run (a long backlog never
        starves them)."""
        reader: asyncio.Queue[DriverEvent | None] = asyncio.Queue()
        for item in self._backlog or ():
            reader.put_nowait(item)
        self._backlog = None
        if self._ended:
            reader.put_nowait(None)
        self._readers.append(reader)
        stream = self._read(reader)
        weakref.finalize(stream, self._drop, reader)  # a stream dropped unread stops filling
        return stream

    async def _read(self, reader: asyncio.Queue[DriverEvent | None]) -> AsyncIterator[DriverEvent]:
        read = 0
        try:
            while (item := await reader.get()) is not None:
                yield item
                read += 1
                if read % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        finally:
            self._drop(reader)

    def _drop(self, reader: asyncio.Queue[DriverEvent | None]) -> None:
        if reader in self._readers:
            self._readers.remove(reader)

    def end(self) -> None:
        """End every :meth:`stream` after the events already put."""
        self._ended = True
        for reader in self._readers:
            reader.put_nowait(None)


async def stop_task(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` (if there is one) and wait until it has ended."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
