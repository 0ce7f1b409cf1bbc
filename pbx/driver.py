"""The driver protocol every PBX backend implements (Asterisk AMI, FreeSWITCH ESL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from pbx.model import AgentEvent, AgentState, CallEvent, CallRequest


class PbxDriver(Protocol):
    """What the campaign runner needs from a PBX. All call ids are ours (see pbx.model)."""

    async def connect(self) -> None:
        """Connect and log in; raises with the host and the PBX's own message on failure."""

    @property
    def ready(self) -> bool:
        """Whether the link to the PBX is up (the runner launches nothing while it is down)."""

    async def originate(self, request: CallRequest) -> None:
        """Send the originate once. Never re-sent by the driver, even after a reconnect.

        The outcome arrives as events; a synchronous refusal arrives as OriginateFailed.
        """

    async def hangup(self, call_id: str) -> None:
        """Hang up a call we placed."""

    def events(self) -> AsyncIterator[CallEvent | AgentEvent]:
        """Call and agent events, in the order the PBX reported them."""

    # After a reconnect the driver itself re-syncs: calls whose channels vanished while the link
    # was down end with a Hangup event (so every attempt still gets exactly one end), and agent
    # states are re-read and emitted as AgentEvents.

    async def live_calls(self) -> set[str]:
        """Call ids of our channels that still exist (reconciliation after a reconnect)."""

    async def agents(self) -> list[AgentState]:
        """Current queue member states (at start-up and after a reconnect)."""

    async def dropped_while_down(self, call_id: str) -> float | None:
        """The epoch at which the PBX's dialplan fallback played the drop message to
        ``call_id`` while pacedial was unreachable (and forget it), or None."""

    async def amd_missing(self) -> str:
        """'' when the PBX has the answering-machine detector our sessions run (Asterisk's
        app_amd, FreeSWITCH's third-party mod_amd), else one line saying what is missing."""

    async def set_agent_paused(self, agent: str, paused: bool, reason: str) -> None:
        """Pause (with a reason code) or unpause an agent in every queue it serves."""

    async def spy(self, spy_id: str, phone: str, agent: str, call_id: str, mode: str) -> None:
        """Ring ``phone`` and, once answered, listen to / whisper to / barge into the call the
        agent is on (``mode`` is listen, whisper or barge). ``call_id`` is our call's id."""

    async def close(self) -> None:
        """Log off and close the link."""
