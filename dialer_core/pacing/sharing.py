"""One agent queue fed by several campaigns: each runner's view of the queue's free members.

Every runner whose calls go to a queue publishes a ``QueueClaim``: its calls ringing, its
answered callers waiting for (or on their way to) an agent, and whether it is dialing now.
``shared_view`` turns a runner's own pacing view into what it may use of the queue:

* the other runners' calls count as in flight (ringing and waiting since ``now``: a call
  whose ring time is unknown is taken as just launched, the most likely to still answer);
* the idle members are split fairly between the runners dialing (``fair_shares``: equal
  shares, the remainder one each to the next runners in turn, the turn moving every
  ``TURN_SECONDS``); the part of another dialing runner's share that its calls do not use
  yet is reserved for it, shown to this runner as paused members.

So no runner goes past its share while another has not used its own, and the sum of the
runners' calls never exceeds what one campaign alone would place for the whole queue. Claims
read from another process are up to two share periods old: a call placed since fits the share
its runner had then, which can be larger than its share now (a member came free, the turn
moved, a call connected). ``RecentShares`` therefore keeps each runner's largest share of the
last few seconds, and the reserve for it uses that one. A runner not dialing (paused, out of
contacts) gets no share and keeps nothing reserved; its calls still count. Pure: the runner
passes everything in, time included.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from dialer_core.pacing.interface import AgentStatus, AgentView, PacingView

TURN_SECONDS = 60.0  # how long the remainder of an uneven split stays with the same runners
STALE_FOR = 3.0  # s a claim read from another process may lag behind (two share periods)


@dataclass(frozen=True)
class QueueClaim:
    """What one runner has aimed at a queue right now."""

    runner: str
    ringing: int  # calls launched (or decided) and not yet answered or ended
    waiting: int  # answered callers waiting for, or on their way to, an agent
    dialing: bool = True  # it places calls now (not paused, stopping or out of contacts)

    @property
    def in_flight(self) -> int:
        return self.ringing + self.waiting


def fair_shares(idle: int, runners: Sequence[str], turn: int = 0) -> dict[str, int]:
    """``idle`` members split between ``runners``: equal shares, one more each for the
    ``idle % len(runners)`` runners from position ``turn`` of the sorted ids on (every runner
    computes the same split from the same ids and turn)."""
    if not runners:
        return {}
    ordered = sorted(set(runners))
    base, extra = divmod(max(0, idle), len(ordered))
    first = turn % len(ordered)
    return {
        r: base + (1 if (i - first) % len(ordered) < extra else 0) for i, r in enumerate(ordered)
    }


class RecentShares:
    """Each runner's largest share over the last ``window`` seconds (time passed in)."""

    def __init__(self, window: float = STALE_FOR) -> None:
        self.window = window
        self._seen: deque[tuple[float, Mapping[str, int]]] = deque()  # (last in force, shares)

    def hold(self, now: float, shares: Mapping[str, int]) -> dict[str, int]:
        """Note ``shares`` in force at ``now``; per runner of ``shares``, its largest share
        in force since ``now - window`` (one entry per change: cheap at any decision rate)."""
        if self._seen and self._seen[-1][1] == shares:
            self._seen.pop()
        self._seen.append((now, shares))
        while self._seen[0][0] < now - self.window:
            self._seen.popleft()
        return {r: max(s.get(r, 0) for _, s in self._seen) for r in shares}


def reserved_for_others(
    idle: int,
    me: QueueClaim,
    others: Sequence[QueueClaim],
    turn: int = 0,
    recent: Callable[[Mapping[str, int]], Mapping[str, int]] | None = None,
) -> int:
    """Idle members kept for the other dialing runners: each one's share not yet used by its
    calls in flight (``recent`` turns the shares into the ones to keep, e.g. the largest of
    the last seconds; never more than the idle members)."""
    dialing = [c for c in others if c.dialing and c.runner != me.runner]
    ids = [c.runner for c in dialing] + ([me.runner] if me.dialing else [])
    shares = fair_shares(idle, ids, turn)
    if recent is not None:
        shares = recent(shares)
    reserved = sum(max(0, shares[c.runner] - c.in_flight) for c in dialing)
    return min(idle, reserved)


def shared_view(
    view: PacingView,
    now: float,
    me: QueueClaim,
    others: Sequence[QueueClaim],
    recent: RecentShares | None = None,
) -> PacingView:
    """``view`` (this runner's own calls and the queue's members) as seen on a shared queue:
    the others' calls in flight added, the members reserved for them shown as paused. Pass
    ``recent`` when any claim may be late (read from another process)."""
    others = [c for c in others if c.runner != me.runner]
    if not others:
        return view
    idle = sum(1 for a in view.agents if a.status == AgentStatus.IDLE)
    hold = (lambda shares: recent.hold(now, shares)) if recent is not None else None
    hide = reserved_for_others(idle, me, others, int(now // TURN_SECONDS), hold)
    ringing = sum(c.ringing for c in others)
    waiting = sum(c.waiting for c in others)
    return replace(
        view,
        agents=_hide_idle(view.agents, hide, now) if hide else view.agents,
        ringing=view.ringing + (now,) * ringing if ringing else view.ringing,
        waiting=view.waiting + (now,) * waiting if waiting else view.waiting,
    )


def _hide_idle(agents: tuple[AgentView, ...], hide: int, now: float) -> tuple[AgentView, ...]:
    """``agents`` with the ``hide`` most recently idle ones shown as paused since ``now``
    (the longest idle stay this runner's: they get the next call first anyway)."""
    idle = sorted(
        (i for i, a in enumerate(agents) if a.status == AgentStatus.IDLE),
        key=lambda i: (agents[i].since, agents[i].agent),
    )
    hidden = set(idle[len(idle) - hide :])
    return tuple(
        AgentView(a.agent, AgentStatus.PAUSED, now) if i in hidden else a
        for i, a in enumerate(agents)
    )
