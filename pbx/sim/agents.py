"""Simulated queue agents: a pure state machine (time passed in) plus their random choices.

An agent goes idle → ringing → talking → wrap-up → idle (or → paused → idle). Wrap-up is what
app_queue's ``wrapuptime`` (and mod_callcenter's ``wrap-up-time``) does: the member is not
paused and looks idle ("not in use"), but is offered no call until ``LastCall + wrapuptime``,
and nothing is sent when it ends (``tests/fixtures/asterisk/ami/queue_wrapup.txt``).
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from pbx.sim.callees import lognormal
from pbx.sim.config import AgentConfig

__all__ = ["Agent", "AgentBoard", "AgentPhase", "agent_rng"]

# AST_DEVICE_* values as QueueMember / QueueMemberStatus report them.
DEVICE_NOT_INUSE = 1
DEVICE_INUSE = 2
DEVICE_RINGING = 6


class AgentPhase(enum.StrEnum):
    IDLE = "idle"
    RINGING = "ringing"
    TALKING = "talking"
    WRAPUP = "wrapup"
    PAUSED = "paused"


@dataclass
class Agent:
    """One queue member and its counters (what QueueMember reports)."""

    index: int
    name: str  # MemberName
    interface: str  # Location / Interface, e.g. Local/agent1@sim-agents/n
    exten: str  # agent1
    phase: AgentPhase = AgentPhase.IDLE
    calls_taken: int = 0
    last_call: int = 0  # epoch seconds of the end of the last call
    last_pause: int = 0
    idle_since: float = 0.0  # board time; the longest idle agent is offered the next call
    paused_reason: str = ""
    held: str = ""  # a pause asked for over AMI (QueuePause): it stays until unpaused
    wrap_until: float = 0.0  # loop time at which the wrap-up after the last call ends
    phantom: bool = False  # reported free, never picks up (``AgentConfig.phantom``)

    @property
    def device_status(self) -> int:
        if self.phase is AgentPhase.TALKING:
            return DEVICE_INUSE
        if self.phase is AgentPhase.RINGING:
            return DEVICE_RINGING
        return DEVICE_NOT_INUSE

    @property
    def paused(self) -> bool:
        return bool(self.held) or self.phase is AgentPhase.PAUSED


def agent_rng(seed: int, agent: Agent, call_number: int) -> random.Random:
    """The random source of one agent's decisions around one call (pure in its inputs)."""
    return random.Random(f"{seed}:agent:{agent.index}:{call_number}")


class AgentBoard:
    """Members of one queue and their phases. No clock: every transition takes ``now``."""

    def __init__(self, cfg: AgentConfig) -> None:
        self.cfg = cfg
        self.agents: list[Agent] = [
            Agent(
                index=i,
                name=f"Agent {i:03d}",
                interface=f"Local/agent{i}@{cfg.context}/n",
                exten=f"agent{i}",
                phantom=i > cfg.count - cfg.phantom,
            )
            for i in range(1, cfg.count + 1)
        ]

    def add(self, exten: str) -> Agent:
        """A member added at run time (mod_callcenter ``tier add``): logged out, offered no
        call until it is made available."""
        agent = Agent(
            index=len(self.agents) + 1,
            name=f"Agent {exten}",
            interface=f"Local/{exten}@{self.cfg.context}/n",
            exten=exten,
            phase=AgentPhase.PAUSED,
            paused_reason="logged out",
            held="logged out",
        )
        self.agents.append(agent)
        return agent

    def by_interface(self, interface: str) -> Agent | None:
        for agent in self.agents:
            if agent.interface == interface or agent.interface.removesuffix("/n") == interface:
                return agent
        return None

    def pick_idle(self) -> Agent | None:
        """The agent idle for the longest time, or None."""
        idle = [a for a in self.agents if a.phase is AgentPhase.IDLE]
        return min(idle, key=lambda a: (a.idle_since, a.index)) if idle else None

    def ring(self, agent: Agent) -> None:
        agent.phase = AgentPhase.RINGING

    def connect(self, agent: Agent) -> None:
        agent.phase = AgentPhase.TALKING

    def finish_call(self, agent: Agent, epoch: int) -> None:
        """The conversation ended: count it and start wrap-up (or stay held)."""
        agent.calls_taken += 1
        agent.last_call = epoch
        if agent.held:
            agent.phase, agent.paused_reason = AgentPhase.PAUSED, agent.held
            return
        agent.phase = AgentPhase.WRAPUP

    def hold(self, agent: Agent, epoch: int, reason: str) -> None:
        """A QueuePause: offered no call until released; a call in progress goes on."""
        agent.held = agent.paused_reason = reason
        agent.last_pause = epoch
        if agent.phase in (AgentPhase.IDLE, AgentPhase.WRAPUP, AgentPhase.PAUSED):
            agent.phase = AgentPhase.PAUSED

    def pause(self, agent: Agent, epoch: int, reason: str = "break") -> None:
        agent.phase = AgentPhase.PAUSED
        agent.paused_reason = reason
        agent.last_pause = epoch

    def release(self, agent: Agent, now: float) -> None:
        """Back to idle (after wrap-up, a pause, or an unanswered ring), unless held."""
        if agent.held:
            agent.phase, agent.paused_reason = AgentPhase.PAUSED, agent.held
            return
        agent.phase = AgentPhase.IDLE
        agent.paused_reason = ""
        agent.idle_since = now

    # --- random decisions (pure functions of the rng) -----------------------------------------
    def talk_seconds(self, rng: random.Random) -> float:
        return max(1.0, lognormal(rng, self.cfg.talk_mean, self.cfg.talk_cv))

    def pause_after_wrapup(self, rng: random.Random) -> float:
        """Seconds of break after wrap-up (0 = straight back to idle)."""
        if rng.random() < self.cfg.pause_share:
            return lognormal(rng, self.cfg.pause_mean, 0.5)
        return 0.0
