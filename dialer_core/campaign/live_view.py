"""The pacing view's call side, kept current as calls change state (O(1) per change).

``calls.pacing_view`` rebuilds ringing / waiting / robot counts from every call in flight; at
10,000 live channels and a decision per freed channel that scan was most of the runner's CPU.
``LiveView`` files each call under what it is now (ringing, waiting for an agent, held by a
robot dialog) whenever the runner feeds it an event, so a view costs only what it returns.
Calls being launched (decided, their round not yet sent) count as ringing from ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping

from dialer_core.campaign.calls import Call
from dialer_core.pacing.interface import AgentStatus, AgentView, PacingView
from dialer_core.pacing.sharing import QueueClaim


class LiveView:
    """Ringing launch times, callers waiting for an agent (in the queue, or answered and on
    their way to it) and robot sessions, by call id."""

    def __init__(self) -> None:
        self.ringing: dict[str, float] = {}  # call id → launch time
        self.waiting: dict[str, float] = {}  # call id → when it started waiting in the queue
        self.bound: dict[str, float] = {}  # answered, on its way to the queue → answer time
        self.bound_now: set[str] = set()  # the same, answer time unknown: counts from now
        self.robot: set[str] = set()
        self._agents: tuple[Mapping[str, tuple[AgentStatus, float]], tuple[AgentView, ...]]
        self._agents = ({}, ())

    def track(self, call: Call) -> None:
        """File ``call`` under its state after an event (a closed call leaves every list)."""
        cid = call.call_id
        if call.ringing:
            self.ringing.setdefault(cid, call.launched_at)
        else:
            self.ringing.pop(cid, None)
        if call.waiting and call.waiting_since is not None:
            self.waiting[cid] = call.waiting_since
        else:
            self.waiting.pop(cid, None)
        if call.bound_for_agent and call.answered_at:
            self.bound[cid] = call.answered_at
        else:
            self.bound.pop(cid, None)
        if call.bound_for_agent and not call.answered_at:
            self.bound_now.add(cid)
        else:
            self.bound_now.discard(cid)
        if call.robot:
            self.robot.add(cid)
        else:
            self.robot.discard(cid)

    def claim(self, runner: str, launching: int, dialing: bool) -> QueueClaim:
        """What these calls hold of the agent queue (robot sessions need no agent), with
        ``launching`` calls decided but not yet sent counted as ringing."""
        waiting = len(self.waiting) + len(self.bound) + len(self.bound_now)
        return QueueClaim(runner, len(self.ringing) + launching, waiting, dialing)

    def view(
        self,
        agents: Mapping[str, tuple[AgentStatus, float]],
        now: float,
        agent_wait: float,
        launching: int = 0,
    ) -> PacingView:
        """What a pacing policy may know at ``now`` (as ``calls.pacing_view``), with
        ``launching`` calls decided but not yet sent counted as ringing since ``now``."""
        ringing = tuple(self.ringing.values())
        if launching:
            ringing += (now,) * launching
        return PacingView(
            agents=self._agent_views(agents),
            ringing=ringing,
            waiting=tuple(t for t in self.waiting.values() if now - t <= agent_wait)
            + tuple(self.bound.values())
            + (now,) * len(self.bound_now),
            extra={"robot_sessions": float(len(self.robot))},
        )

    def _agent_views(
        self, agents: Mapping[str, tuple[AgentStatus, float]]
    ) -> tuple[AgentView, ...]:
        """The agents as views, rebuilt only when a seat changed."""
        seen, views = self._agents
        if seen != agents:
            views = tuple(AgentView(a, s, since) for a, (s, since) in agents.items())
            self._agents = (dict(agents), views)
        return views
