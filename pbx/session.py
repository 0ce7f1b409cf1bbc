"""The answered-call session: what answered-call handlers (router, robot, queue) speak.

FastAGI (Asterisk) and outbound ESL (FreeSWITCH) each implement it, so the handlers in
``agi_scripts/`` run unchanged on both PBXs. Every method raises ``CallerHungUp`` once the PBX
has reported that the callee hung up, so a handler's dialog simply unwinds.
"""

from __future__ import annotations

from typing import Protocol


class CallerHungUp(Exception):
    """The callee hung up; the session can no longer play or collect anything."""


class CallSession(Protocol):
    call_id: str  # our call id (the attempt), from the channel variable / origination_uuid
    variables: dict[str, str]  # channel variables the dialer set on the originate

    async def answer(self) -> None: ...

    async def play(self, prompt: str, interrupt_digits: str = "") -> str:
        """Play a sound file (no extension); return the digit that interrupted it, or ""."""

    async def read_digits(self, prompt: str, max_digits: int, timeout: float) -> str:
        """Play ``prompt`` and collect up to ``max_digits`` DTMF digits; "" on timeout."""

    async def wait_digit(self, timeout: float) -> str:
        """Wait for one DTMF digit; "" on timeout."""

    async def set_variable(self, name: str, value: str) -> None: ...

    async def get_variable(self, name: str) -> str | None: ...

    async def execute(self, application: str, args: str = "") -> str:
        """Run a PBX application (Asterisk EXEC / FreeSWITCH execute); return its raw result."""

    async def enqueue(self, queue: str, timeout: float) -> bool:
        """Offer the call to an agent queue; True if an agent took it within ``timeout``.

        Returns when the agent conversation is over (True) or the timeout passed (False).
        """

    async def hangup(self) -> None: ...

    @property
    def hung_up(self) -> bool: ...
