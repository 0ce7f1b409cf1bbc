"""Progressive pacing: a fixed number of lines per idle agent."""

from __future__ import annotations

from dataclasses import dataclass

from dialer_core.pacing.caps import status_counts
from dialer_core.pacing.interface import (
    AgentStatus,
    Observation,
    PacingView,
    SettingsObservation,
)


@dataclass
class Progressive:
    """Keep ``lines_per_agent`` calls in flight for each idle agent, minus calls already out."""

    amd_off_share = 0.0  # AMD runs on every call it launches

    lines_per_agent: float = 1.0

    def observe(self, observation: Observation) -> None:
        """Progressive pacing keeps no history; only a live ``lines_per_agent`` change counts."""
        if isinstance(observation, SettingsObservation):
            self.lines_per_agent = observation.lines_per_agent

    def decide(self, now: float, view: PacingView) -> int:
        idle = status_counts(view)[AgentStatus.IDLE]
        in_flight = len(view.ringing) + len(view.waiting)
        return max(0, int(idle * self.lines_per_agent) - in_flight)
