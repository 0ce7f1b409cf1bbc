"""The answered-call session: what answered-call handlers (router, robot, queue) speak.

FastAGI (Asterisk) and outbound ESL (FreeSWITCH) each implement it, so the handlers in
``agi_scripts/`` run unchanged on both PBXs. Every method raises ``CallerHungUp`` once the PBX
has reported that the callee hung up, so a handler's dialog simply unwinds.
"""

from __future__ import annotations

from typing import Protocol


class CallerHungUp(Exception):
    """The callee hung up; the session can no longer play or collect anything."""


AMD_STATUSES = frozenset({"HUMAN", "MACHINE", "NOTSURE", "HANGUP"})


def recording_file(name: str) -> str:
    """The file name a recording called ``name`` is written to (``.wav`` unless it has one).

    Raises ValueError for a name that would break an application argument (comma, quote,
    space, newline) or is empty.
    """
    if not name or any(c in name for c in ",\"' \n\r\t"):
        raise ValueError(f"recording name must be one word without commas or quotes: {name!r}")
    return name if "." in name.rsplit("/", 1)[-1] else f"{name}.wav"


def amd_status(raw: str | None) -> str:
    """A detector's status word as one of AMD_STATUSES (anything unknown or unset: NOTSURE)."""
    status = (raw or "").strip().upper()
    return status if status in AMD_STATUSES else "NOTSURE"


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

    async def start_recording(self, name: str) -> str:
        """Record the call (both directions) into ``name``; return the file the PBX writes.

        ``name`` has no extension (``.wav`` is added); a relative name lands in the PBX's own
        recordings directory. Asterisk: ``MixMonitor <name>.wav,b``; FreeSWITCH:
        ``record_session <name>.wav``.
        """

    async def detect_machine(self) -> tuple[str, str]:
        """Answering-machine detection: ``(status, cause)``.

        ``status`` is HUMAN, MACHINE or NOTSURE, or HANGUP when the callee hung up while the
        detector listened. Asterisk: ``AMD`` then AMDSTATUS/AMDCAUSE; FreeSWITCH: mod_amd's
        ``amd`` then ``amd_result``/``amd_cause``.
        """

    async def enqueue(self, queue: str, timeout: float) -> bool:
        """Offer the call to an agent queue; True if an agent took it within ``timeout``.

        Returns when the agent conversation is over (True) or the timeout passed (False).
        """

    async def hangup(self) -> None: ...

    @property
    def hung_up(self) -> bool: ...

    @property
    def link_lost(self) -> bool:
        """True when the connection to the PBX ended before the PBX reported the call's end
        (a crash, a restart, a cut network): what happened to the caller is not known here."""
        ...
