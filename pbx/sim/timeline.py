"""What the simulated PBX did on each call, on its own clock, for timing checks.

Both faces (AMI + FastAGI, ESL) note the same marks on answered calls: ``amd`` when the
detector gives its verdict, ``queue`` when a call joins the agent queue, ``agent`` when an
agent is connected, ``play`` when a sound starts; the AMI face also notes ``originate`` (the
number dialed) for every Originate it accepts. Tests time the 2-second rule and the DNC with
them; the AMD verdicts come with the truth the sim knows (``AmdVerdict``), which a test writes
back as a review would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pbx.sim.calls import SimCall

CALL_ID_VARIABLES = ("PACEDIAL_CALL_ID", "pacedial_call_id")


@dataclass(frozen=True)
class Mark:
    call_id: str  # the dialer's call id (the originate's call-id variable), else the sim's seq
    what: str  # originate / amd / queue / agent / play
    at: float  # simulated epoch seconds
    detail: str = ""  # the number dialed, the sound played, the AMD verdict


@dataclass(frozen=True)
class AmdVerdict:
    call_id: str
    status: str  # HUMAN / MACHINE, as the detector said
    truth: str  # human / machine, what really answered


@dataclass
class Timeline:
    marks: list[Mark] = field(default_factory=list)
    amd: list[AmdVerdict] = field(default_factory=list)

    def note(self, call: SimCall, what: str, at: float, detail: str = "") -> None:
        self.marks.append(Mark(call_id_of(call), what, at, detail))

    def verdict(self, call: SimCall, status: str) -> None:
        self.amd.append(AmdVerdict(call_id_of(call), status, call.plan.truth))

    def of(self, call_id: str) -> list[Mark]:
        """The marks of one call, in order."""
        return [m for m in self.marks if m.call_id == call_id]


def call_id_of(call: SimCall) -> str:
    """The dialer's call id the originate carried, else ``sim:<seq>``."""
    for name, value in call.variables:
        if name in CALL_ID_VARIABLES:
            return value
    return f"sim:{call.seq}"
