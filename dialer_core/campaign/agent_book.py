"""The campaign's agents as the pacer sees them, and the time each spent in each state."""

from __future__ import annotations

from dataclasses import dataclass, field

from dialer_core.pacing.interface import AgentObservation, AgentStatus


@dataclass
class RunnerStats:
    launched: int = 0
    answered: int = 0
    connected: int = 0
    abandoned: int = 0
    finished: int = 0
    skipped_duplicates: int = 0
    rang_out: int = 0  # unanswered the full ring time after the first ring: hung up by us
    held_by_rules: dict[str, int] = field(default_factory=dict)  # denial code → count
    dispositions: dict[str, int] = field(default_factory=dict)
    agent_seconds: dict[str, float] = field(default_factory=dict)  # by agent status

    def count(self, what: str, key: str = "") -> None:
        """One more ``what``: a plain counter, or 'held' by a code / 'finished' by disposition."""
        if what == "held":
            self.held_by_rules[key] = self.held_by_rules.get(key, 0) + 1
            return
        setattr(self, what, getattr(self, what) + 1)
        if what == "finished":
            self.dispositions[key] = self.dispositions.get(key, 0) + 1

    def talk_utilization(self) -> float | None:
        """Talking time over logged-in time, over the agent states seen so far."""
        logged_in = sum(self.agent_seconds.values())
        return self.agent_seconds.get("talking", 0.0) / logged_in if logged_in else None


class AgentBook:
    """seat → (status, since) for one queue; accounts time per status into ``stats``."""

    def __init__(self, queue: str, stats: RunnerStats) -> None:
        self.queue, self.stats = queue, stats
        self.agents: dict[str, tuple[AgentStatus, float]] = {}

    def changed(self, agent: str, queue: str, state: str, now: float) -> AgentObservation | None:
        """Take a PBX agent state; the observation for the policy, None if nothing changed."""
        if queue and queue != self.queue:
            return None
        status = AgentStatus(state) if state in AgentStatus._value2member_map_ else None
        if status is None:  # "ringing": the agent is being offered a call, i.e. not idle
            status = AgentStatus.TALKING
        previous = self.agents.get(agent)
        if previous is not None and previous[0] == status:
            return None
        if previous is not None:
            self._spend(previous[0], now - previous[1])
        if status == AgentStatus.LOGGED_OUT:
            self.agents.pop(agent, None)
        else:
            self.agents[agent] = (status, now)
        return AgentObservation(now, agent, status)

    def close_books(self, now: float) -> None:
        """Account the time of every agent's current state up to ``now``."""
        for agent, (status, since) in self.agents.items():
            self._spend(status, now - since)
            self.agents[agent] = (status, now)

    def _spend(self, status: AgentStatus, seconds: float) -> None:
        spent = self.stats.agent_seconds
        spent[status.value] = spent.get(status.value, 0.0) + seconds
