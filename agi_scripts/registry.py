"""Which live call belongs to which campaign runner, for the answered-call handlers.

The FastAGI / outbound-ESL handler only knows the call id (a channel variable); it looks the
call up here to learn the case, the campaign's settings and whom to report the outcome to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from agi_scripts.handling import CallHandling
from dialer_core.compliance.rules import ComplianceRules
from dialer_core.store.attempts import Contact


class CampaignSettings(Protocol):
    """What a handler reads of its campaign (the runner passes its CampaignConfig)."""

    @property
    def queue(self) -> str: ...

    @property
    def agent_wait(self) -> float: ...

    @property
    def compliance(self) -> ComplianceRules: ...


class AnsweredCallSink(Protocol):
    """Where a handler reports what happened on an answered call."""

    clock: Callable[[], float]  # the runner's clock (epoch seconds; simulated in the demo)

    def handler_started(self, call_id: str) -> None: ...

    def queue_wait_started(self, call_id: str) -> None: ...

    def robot_started(self, call_id: str) -> None: ...

    async def amd_decided(self, call_id: str, status: str, cause: str, action: str) -> None: ...

    async def recording_started(self, call_id: str, path: str) -> None: ...

    async def abandoned(self, call_id: str) -> None: ...

    async def handler_finished(
        self, call_id: str, disposition: str, detail: dict[str, Any]
    ) -> None: ...


@dataclass(frozen=True)
class LiveCall:
    call_id: str
    campaign: CampaignSettings
    contact: Contact
    sink: AnsweredCallSink
    handling: CallHandling


class CallRegistry:
    """call id → LiveCall, shared by the runners and the answered-call server of one process."""

    def __init__(self) -> None:
        self._calls: dict[str, LiveCall] = {}

    def add(self, call: LiveCall) -> None:
        self._calls[call.call_id] = call

    def remove(self, call_id: str) -> None:
        self._calls.pop(call_id, None)

    def get(self, call_id: str) -> LiveCall | None:
        return self._calls.get(call_id)

    def __len__(self) -> int:
        return len(self._calls)
