"""The pacing interface: pure policies fed timestamped observations, asked how many to launch.

A policy never reads a clock, sleeps, or does I/O. The live campaign runner, the virtual-time
simulator and the tests all drive the same objects through ``observe`` and ``decide``;
``observe`` is the only way in: call and agent events, the database's abandonment ledger, live
setting changes and preview requests are all observations.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from dialer_core.pacing.ledger import AbandonmentLedger


class AgentStatus(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    IDLE = "idle"
    TALKING = "talking"
    WRAPUP = "wrapup"
    PAUSED = "paused"


class Outcome(enum.StrEnum):
    """What an observation reports about one call."""

    LAUNCHED = "launched"
    HUMAN_ANSWERED = "human_answered"
    UNSCREENED = "unscreened"  # answered with AMD off: needs an agent, person or machine
    LIVE = "live"  # an unscreened answer that was a person (or was dropped: counted live)
    MACHINE_ANSWERED = "machine_answered"
    FAILED = "failed"  # busy / no answer / invalid / congestion ... (cause says which)
    CONNECTED = "connected"  # handed to an agent (wait = seconds from answer to agent)
    ABANDONED = "abandoned"  # answered, no agent within the limit


@dataclass(frozen=True)
class CallObservation:
    """Something happened to call ``call_id`` at time ``at`` (seconds, any epoch)."""

    at: float
    call_id: str
    outcome: Outcome
    cause: int = 0
    duration: float = 0.0  # launch → this event
    wait: float = 0.0  # answer → agent, for CONNECTED / ABANDONED
    amd: bool = True  # LAUNCHED: answering-machine detection runs on this call


@dataclass(frozen=True)
class AgentObservation:
    """Agent ``agent`` entered ``status`` at time ``at``."""

    at: float
    agent: str
    status: AgentStatus


@dataclass(frozen=True)
class LedgerObservation:
    """The campaign's abandonment ledger as the database sums it at ``at`` (every node's calls).

    A policy that keeps a ledger takes it in place of its own; others ignore it.
    """

    at: float
    ledger: AbandonmentLedger


@dataclass(frozen=True)
class SettingsObservation:
    """The live pacing settings changed at ``at`` (the keys a policy reads at every decision)."""

    at: float
    target_abandon_rate: float
    lines_per_agent: float


@dataclass(frozen=True)
class PreviewRequest:
    """Agent ``agent`` asked at ``at`` to dial the contact on screen (preview mode)."""

    at: float
    agent: str


Observation = (
    CallObservation | AgentObservation | LedgerObservation | SettingsObservation | PreviewRequest
)


@dataclass(frozen=True)
class AgentView:
    agent: str
    status: AgentStatus
    since: float  # when the agent entered this status


@dataclass(frozen=True)
class PacingView:
    """What a real dialer knows right now; built by the runner or the simulator."""

    agents: tuple[AgentView, ...] = ()
    ringing: tuple[float, ...] = ()  # launch times of calls not yet answered or ended
    waiting: tuple[float, ...] = ()  # answer times of answered calls waiting for an agent
    extra: dict[str, float] = field(default_factory=dict)

    def count(self, status: AgentStatus) -> int:
        return sum(1 for a in self.agents if a.status == status)


class PacingPolicy(Protocol):
    """A pacing policy. ``decide`` returns how many new calls to launch now (never negative);
    ``amd_off_share`` is the share of those calls to place with AMD off (pacing.amd_plan)."""

    amd_off_share: float

    def observe(self, observation: Observation) -> None: ...

    def decide(self, now: float, view: PacingView) -> int: ...
