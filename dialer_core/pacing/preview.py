"""Preview pacing: the agent sees the contact first and dials it, or a timer dials for them."""

from __future__ import annotations

from dialer_core.pacing.caps import HardCaps
from dialer_core.pacing.interface import (
    AgentObservation,
    AgentStatus,
    Observation,
    PacingView,
    PreviewRequest,
)


class Preview:
    """At most one call in flight per idle agent, dialed on request or when a timer expires.

    The runner passes a ``PreviewRequest`` observation when an agent presses "dial". With
    ``auto_dial_after > 0`` an idle agent is dialed for automatically once it has been idle, and
    its previous call launched, that many seconds ago (time to read the contact).
    ``due_agents(now, view)`` names the agents to dial for, longest-idle first; ``decide``
    returns how many.
    """

    amd_off_share = 0.0  # AMD runs on every call it launches

    def __init__(self, auto_dial_after: float, caps: HardCaps) -> None:
        self.auto_dial_after = auto_dial_after
        self.caps = caps
        self._last_dial: dict[str, float] = {}
        self._requested: set[str] = set()

    def observe(self, observation: Observation) -> None:
        if isinstance(observation, PreviewRequest):  # the agent pressed "dial"
            self._requested.add(observation.agent)
        elif isinstance(observation, AgentObservation) and observation.status is not (
            AgentStatus.IDLE
        ):
            self._requested.discard(observation.agent)

    def due_agents(self, now: float, view: PacingView) -> tuple[str, ...]:
        """Agents to dial for now (records the dial, so call it once per decision)."""
        idle = sorted(
            (a for a in view.agents if a.status is AgentStatus.IDLE), key=lambda a: a.since
        )
        free_lines = len(idle) - len(view.ringing) - len(view.waiting)
        due = []
        for a in idle:
            if len(due) >= free_lines:
                break
            ready = max(a.since, self._last_dial.get(a.agent, a.since))
            timer = self.auto_dial_after > 0 and now - ready >= self.auto_dial_after
            if a.agent in self._requested or timer:
                due.append(a.agent)
        due = due[: self.caps.clamp(now, view, len(due))]
        for agent in due:
            self._last_dial[agent] = now
            self._requested.discard(agent)
        return tuple(due)

    def decide(self, now: float, view: PacingView) -> int:
        return len(self.due_agents(now, view))
