"""The abandonment brake: a backstop around every launching policy that no mode can bypass.

Whatever the policy wishes, once the measured abandonment rate of any ledger window (1 h, 24 h,
30 d ... the legal windows) is at or above the target, the brake allows fewer lines than one per
available (idle) agent: ``floor(f × idle)`` calls in flight with ``f = 0.8 / x²`` where ``x`` is
the measured rate over the target, and from twice the target on only one call at a time, placed
only while an agent is free and no other call is in flight. Unseen abandons (AMD false positives
at the configured rate, on the share of calls that run AMD: pacing.amd_plan) count in the
measured rate.

Two signs mean the dialer's picture is wrong, not the odds, and raise an alarm naming the likely
cause, after which the brake launches nothing until ``resume`` (the live runner pauses the
campaign when it sees ``alarm``): ``ALARM_IDLE_ABANDONS`` callers abandoned while agents were
reported idle (an idle agent takes a waiting call at once, so the agent picture is wrong), or a
rate far above what any policy plans for (a Poisson tail below ``ALARM_P`` at the target rate,
at least ``ALARM_MIN_ABANDONS`` abandons).
"""

from __future__ import annotations

import math

from dialer_core.pacing.caps import status_counts
from dialer_core.pacing.interface import (
    AgentObservation,
    AgentStatus,
    CallObservation,
    LedgerObservation,
    Observation,
    Outcome,
    PacingPolicy,
    PacingView,
    SettingsObservation,
)
from dialer_core.pacing.ledger import AbandonmentLedger

ALARM_P = 1e-6  # P(this many abandons | the target rate) below which the picture is wrong
ALARM_MIN_ABANDONS = 5
ALARM_IDLE_ABANDONS = 3  # abandons while the PBX reported an agent idle
_REFRESH_SECONDS = 1.0

CAUSE_AGENTS = (
    "agents the PBX reports available did not take the calls (agent count or state wrong: "
    "check the queue's wrap-up time, pauses and ringinuse against what the dialer sees)"
)
CAUSE_ANSWERS = (
    "far more people answered than the policy planned for (answer rate jumped or talk "
    "time fell: check the list, the caller ID and the pacing priors)"
)


def lines_per_agent(excess: float) -> float:
    """Lines per idle agent the brake allows at ``excess`` = measured rate / target (>= 1)."""
    return 0.0 if excess >= 2.0 else 0.8 / (excess * excess)


class AbandonBrake:
    """Wraps ``inner`` (any launching policy); see the module docstring."""

    def __init__(
        self,
        inner: PacingPolicy,
        target: float,
        fp_rate: float,
        ledger: AbandonmentLedger,
    ) -> None:
        self.inner = inner
        self.target = target
        self.fp_rate = fp_rate
        self._own_ledger = getattr(inner, "ledger", None) is None
        self._ledger = ledger
        if not self._own_ledger:
            inner.ledger = ledger  # type: ignore[attr-defined]
        self.alarm: str | None = None
        self.excess = 0.0  # measured rate / target on the worst window at the last decision
        self.engaged = 0  # decisions the brake cut
        self._key: tuple[int, AbandonmentLedger] | None = None
        self._idle: set[str] = set()  # agents reported idle now
        self._abandons_with_idle = 0
        self._abandons = 0
        self._abandons_at_resume = -ALARM_MIN_ABANDONS  # a fresh brake judges the restored past
        self._idle_abandons_at_resume = 0

    @property
    def ledger(self) -> AbandonmentLedger:
        return self._ledger

    @ledger.setter
    def ledger(self, ledger: AbandonmentLedger) -> None:
        """The live runner swaps in the ledger rebuilt from the database (all nodes)."""
        self._ledger = ledger
        if not self._own_ledger:
            self.inner.ledger = ledger  # type: ignore[attr-defined]

    def __getattr__(self, name: str):  # the inner policy's figures (calibration, last_rate ...)
        return getattr(self.inner, name)

    def observe(self, observation: Observation) -> None:
        self.inner.observe(observation)
        if isinstance(observation, AgentObservation):
            if observation.status is AgentStatus.IDLE:
                self._idle.add(observation.agent)
            else:
                self._idle.discard(observation.agent)
            return
        if isinstance(observation, LedgerObservation):  # every node's calls, from the database
            self._ledger = observation.ledger
            return
        if isinstance(observation, SettingsObservation):
            self.target = observation.target_abandon_rate
            return
        if not isinstance(observation, CallObservation):  # a preview request
            return
        o = observation
        if o.outcome is Outcome.ABANDONED:
            self._abandons += 1
            if self._idle:
                self._abandons_with_idle += 1
                if self._abandons_with_idle - self._idle_abandons_at_resume >= (
                    ALARM_IDLE_ABANDONS
                ) and self.alarm is None:
                    self.alarm = f"{self._abandons_with_idle} callers abandoned: {CAUSE_AGENTS}"
        if self._own_ledger:
            if o.outcome in (Outcome.HUMAN_ANSWERED, Outcome.LIVE):
                self._ledger.record(o.at, answers=1)
            elif o.outcome is Outcome.ABANDONED:
                self._ledger.record(o.at, abandons=1)

    def resume(self) -> None:
        """Clear the alarm (the operator fixed the cause) and dial again, still braked."""
        self.alarm = None
        self._abandons_at_resume = self._abandons  # alarm again only on new abandons
        self._idle_abandons_at_resume = self._abandons_with_idle

    def _judge(self, now: float) -> None:
        excess = 0.0
        fp = self.fp_rate * (1.0 - self.inner.amd_off_share)
        for _, answers, abandons in self._ledger.sums(now):
            if answers <= 0 or self.target <= 0:
                continue
            seen = abandons + fp * answers
            excess = max(excess, seen / (self.target * answers))
            expected = self.target * answers
            # the exact tail only when a cheap bound says the count may be far out
            far = abandons >= max(ALARM_MIN_ABANDONS, expected + 4.0 * math.sqrt(expected))
            far = far and self._abandons - self._abandons_at_resume >= ALARM_MIN_ABANDONS
            if self.alarm is None and far and _poisson_sf(abandons - 1, expected) < ALARM_P:
                self.alarm = self._cause(abandons, answers)
        self.excess = excess

    def _cause(self, abandons: int, answers: int) -> str:
        cause = CAUSE_AGENTS if self._abandons_with_idle * 2 > self._abandons else CAUSE_ANSWERS
        return f"{abandons} abandoned of {answers} live answers: {cause}"

    def decide(self, now: float, view: PacingView) -> int:
        wish = self.inner.decide(now, view)
        key = (int(now // _REFRESH_SECONDS), self._ledger)
        if key != self._key:
            self._key = key
            self._judge(now)
        if self.alarm is not None:
            return 0
        if self.excess < 1.0 or wish <= 0:
            return wish
        idle = status_counts(view)[AgentStatus.IDLE]
        in_flight = len(view.ringing) + len(view.waiting)
        allowed = math.floor(lines_per_agent(self.excess) * idle) - in_flight
        if idle > 0 and in_flight == 0:
            allowed = max(allowed, 1)  # one call for a free agent, one at a time
        if allowed < wish:
            self.engaged += 1
        return max(0, min(wish, allowed))


def _poisson_sf(k: int, mean: float) -> float:
    """P(X > k) for X ~ Poisson(mean)."""
    # Imported here: scipy.stats takes ~1 s to import, paid by every command that builds a
    # campaign (an operator's mistake is reported before any policy decides).
    from scipy.stats import poisson

    return float(poisson.sf(k, mean))
