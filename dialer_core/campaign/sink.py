"""The answered-call handlers' reports (``AnsweredCallSink``) as call events, stamped once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from dialer_core.campaign import calls as c


class HandlerSink:
    """Turns each handler report into a ``calls`` event at the clock's reading.

    ``report`` feeds an event and performs its effects; ``report_now`` changes the call's state
    before returning (the handler does not await it) and performs any effects later.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        report: Callable[[str, c.Event], Awaitable[None]],
        report_now: Callable[[str, c.Event], None],
    ) -> None:
        self.clock, self._report, self._report_now = clock, report, report_now

    def handler_started(self, call_id: str) -> None:
        self._report_now(call_id, c.HandlerStarted(self.clock()))

    def queue_wait_started(self, call_id: str) -> None:
        self._report_now(call_id, c.QueueWaitStarted(self.clock()))

    def robot_started(self, call_id: str) -> None:
        self._report_now(call_id, c.RobotStarted(self.clock()))

    async def amd_decided(self, call_id: str, status: str, cause: str, action: str) -> None:
        await self._report(call_id, c.AmdDecided(self.clock(), status, cause, action))

    async def recording_started(self, call_id: str, path: str) -> None:
        await self._report(call_id, c.RecordingStarted(self.clock(), path))

    async def abandoned(self, call_id: str) -> None:
        await self._report(call_id, c.Abandoned(self.clock()))

    async def handler_finished(
        self, call_id: str, disposition: str, detail: dict[str, Any]
    ) -> None:
        await self._report(call_id, c.HandlerFinished(self.clock(), disposition, detail))
