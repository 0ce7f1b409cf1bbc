"""Hard caps every launching policy obeys: lines per agent, trunk channels, calls per second."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from operator import attrgetter

from dialer_core.pacing.interface import AgentStatus, PacingView

_status = attrgetter("status")
_last: list[tuple[PacingView, Counter[AgentStatus]]] = []


def status_counts(view: PacingView) -> Counter[AgentStatus]:
    """Agents per status (the last view's counts are memoised: views are immutable)."""
    if _last and _last[0][0] is view:
        return _last[0][1]
    counts = Counter(map(_status, view.agents))
    _last[:] = [(view, counts)]
    return counts


def channels_in_use(view: PacingView) -> int:
    """Trunk channels busy now: calls ringing, answered calls waiting, and calls with agents."""
    robot = int(view.extra.get("robot_sessions", 0))
    return len(view.ringing) + len(view.waiting) + status_counts(view)[AgentStatus.TALKING] + robot


def staffed_agents(view: PacingView) -> int:
    """Agents logged in and not paused (idle, talking or in wrap-up)."""
    c = status_counts(view)
    return c[AgentStatus.IDLE] + c[AgentStatus.TALKING] + c[AgentStatus.WRAPUP]


@dataclass
class CallRateLimiter:
    """Token bucket: ``rate`` launches per second, burst of ``max(1, rate)``; 0 = unlimited."""

    rate: float
    _tokens: float = 0.0
    _at: float | None = None

    def available(self, now: float) -> int:
        """Launches allowed at ``now`` (does not consume)."""
        if self.rate <= 0:
            return 1 << 30
        burst = max(1.0, self.rate)
        if self._at is None:
            self._tokens, self._at = burst, now
        elif now > self._at:
            self._tokens = min(burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
        return int(self._tokens + 1e-9)

    def take(self, n: int) -> None:
        """Consume ``n`` launches granted by ``available``."""
        if self.rate > 0:
            self._tokens -= n


@dataclass
class HardCaps:
    """Clamp a wished launch count to lines-per-agent, trunk and calls-per-second limits.

    ``max_lines_per_agent <= 0`` disables the per-agent cap (robot mode has no agents).
    """

    max_lines_per_agent: float
    trunk_channels: int
    limiter: CallRateLimiter

    def clamp(
        self,
        now: float,
        view: PacingView,
        wish: int,
        staffed: int | None = None,
        talking: int | None = None,
    ) -> int:
        """Return ``min(wish, every cap)``, never negative, and consume the rate tokens.

        ``staffed`` / ``talking`` are agent counts the caller already computed from ``view``.
        """
        in_flight = len(view.ringing) + len(view.waiting)
        n = wish
        if self.max_lines_per_agent > 0:
            if staffed is None:
                staffed = staffed_agents(view)
            n = min(n, int(self.max_lines_per_agent * staffed + 1e-9) - in_flight)
        if self.trunk_channels > 0:
            if talking is None:
                busy = channels_in_use(view)
            else:
                busy = in_flight + talking + int(view.extra.get("robot_sessions", 0))
            n = min(n, self.trunk_channels - busy)
        n = max(0, min(n, self.limiter.available(now)))
        self.limiter.take(n)
        return n
