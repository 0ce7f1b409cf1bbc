"""Baseline policies for comparison: a fixed dial level, a VICIdial ADAPT_HARD_LIMIT-style one and
the textbook binomial rule.

Both use VICIdial's dial formula: every ``dial_period`` seconds launch
``round(level × staffed agents) − calls in progress`` where staffed agents are logged in and not
paused, and calls in progress are calls ringing, answered calls waiting, and calls with agents.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from dialer_core.pacing.caps import HardCaps, staffed_agents, status_counts
from dialer_core.pacing.interface import (
    AgentStatus,
    CallObservation,
    Observation,
    Outcome,
    PacingView,
    SettingsObservation,
)


def _vicidial_goal(level: float, view: PacingView) -> int:
    in_progress = len(view.ringing) + len(view.waiting) + status_counts(view)[AgentStatus.TALKING]
    return max(0, int(round(level * staffed_agents(view))) - in_progress)


class FixedRatio:
    """Constant dial level (VICIdial "RATIO" mode), placed every ``dial_period`` seconds."""

    amd_off_share = 0.0  # AMD runs on every call it launches

    def __init__(self, level: float, caps: HardCaps, dial_period: float = 2.5) -> None:
        self.level = level
        self.caps = caps
        self.dial_period = dial_period
        self._next_dial: float | None = None

    def observe(self, observation: Observation) -> None:
        """A fixed ratio ignores history."""

    def decide(self, now: float, view: PacingView) -> int:
        if self._next_dial is not None and now < self._next_dial:
            return 0
        self._next_dial = now + self.dial_period
        return self.caps.clamp(now, view, _vicidial_goal(self.level, view))


class VicidialAdapt:
    """VICIdial ADAPT_HARD_LIMIT as summarised in REFERENCE.md (Pacing).

    Every 15 s: ``level ← clamp(level × (1 + adj), 1, max_level)`` with ``adj`` = (mean idle
    agents − mean answered calls waiting) / mean staffed agents over the period, scaled by
    ``intensity``; when the day has more than 50 calls and drops / human answers exceed the target
    the level is set to 1.0; a one-minute brake halves it when over 50 % of more than 20 answered
    calls in the last minute dropped.
    """

    amd_off_share = 0.0  # AMD runs on every call it launches

    def __init__(
        self,
        caps: HardCaps,
        target: float,
        max_level: float = 3.0,
        intensity: float = 0.0,
        start_level: float = 1.0,
        dial_period: float = 2.5,
        adapt_period: float = 15.0,
    ) -> None:
        self.caps = caps
        self.target = target
        self.max_level = max_level
        self.intensity = intensity
        self.level = start_level
        self.dial_period = dial_period
        self.adapt_period = adapt_period
        self._next_dial: float | None = None
        self._next_adapt: float | None = None
        self._samples: list[tuple[int, int, int]] = []  # idle, waiting, staffed
        self.day_calls = 0
        self.day_answers = 0
        self.day_drops = 0
        self._minute: deque[tuple[float, bool]] = deque()  # (time, dropped) of answered calls

    def observe(self, observation: Observation) -> None:
        if isinstance(observation, SettingsObservation):
            self.target = observation.target_abandon_rate
        if not isinstance(observation, CallObservation):
            return
        o = observation
        if o.outcome is Outcome.LAUNCHED:
            self.day_calls += 1
        elif o.outcome is Outcome.HUMAN_ANSWERED:
            self.day_answers += 1
            self._minute.append((o.at, False))
        elif o.outcome is Outcome.ABANDONED:
            self.day_drops += 1
            self._minute.append((o.at, True))

    def _adapt(self, now: float) -> None:
        if self._samples:
            k = len(self._samples)
            idle = sum(s[0] for s in self._samples) / k
            waiting = sum(s[1] for s in self._samples) / k
            staffed = sum(s[2] for s in self._samples) / k
            if staffed > 0:
                adj = (idle - waiting) / staffed
                # intensity > 0 makes the controller more aggressive, < 0 gentler
                adj *= 1.0 + self.intensity / 10.0 if adj > 0 else 1.0 - self.intensity / 10.0
                self.level = min(self.max_level, max(1.0, self.level * (1.0 + adj)))
        self._samples.clear()
        while self._minute and self._minute[0][0] < now - 60.0:
            self._minute.popleft()
        if len(self._minute) > 20 and sum(d for _, d in self._minute) > len(self._minute) / 2:
            self.level = max(1.0, self.level / 2)
        if (
            self.day_calls > 50
            and self.day_answers > 0
            and self.day_drops / self.day_answers > self.target
        ):
            self.level = 1.0

    def decide(self, now: float, view: PacingView) -> int:
        self._samples.append(
            (status_counts(view)[AgentStatus.IDLE], len(view.waiting), staffed_agents(view))
        )
        if self._next_adapt is None:
            self._next_adapt = now + self.adapt_period
        elif now >= self._next_adapt:
            self._adapt(now)
            self._next_adapt = now + self.adapt_period
        if self._next_dial is not None and now < self._next_dial:
            return 0
        self._next_dial = now + self.dial_period
        return self.caps.clamp(now, view, _vicidial_goal(self.level, view))


class BinomialTextbook:
    """The textbook binomial rule, for comparison: no ledger, no feedback.

    Agents free within the look-ahead ``τ`` (the mean launch-to-live time) are the idle agents
    minus answered calls waiting plus, for each busy agent, ``1 − exp(−τ / mean handle time)``;
    live answers are Binomial(calls ringing + n, p) with ``p`` the live share of resolved calls.
    It launches the largest ``n`` with P(live answers > free agents) <= the target.
    """

    amd_off_share = 0.0  # AMD runs on every call it launches

    def __init__(self, target: float, caps: HardCaps, prior_live: float = 0.15) -> None:
        self.target = target
        self.caps = caps
        self._live, self._resolved = prior_live * 50.0, 50.0
        self._to_live, self._lives = 15.0 * 10, 10.0  # sum of launch-to-live seconds, count
        self._handle, self._handles = 210.0 * 10, 10.0  # sum of talk + wrap seconds, count
        self._busy_since: dict[str, float] = {}

    def observe(self, observation: Observation) -> None:
        if isinstance(observation, CallObservation):
            o = observation
            if o.outcome is Outcome.HUMAN_ANSWERED:
                self._live += 1
                self._resolved += 1
                self._to_live += o.duration
                self._lives += 1
            elif o.outcome in (Outcome.MACHINE_ANSWERED, Outcome.FAILED):
                self._resolved += 1
            return
        a = observation
        if a.status is AgentStatus.TALKING:
            self._busy_since[a.agent] = a.at
        elif a.status is not AgentStatus.WRAPUP and a.agent in self._busy_since:
            self._handle += a.at - self._busy_since.pop(a.agent)
            self._handles += 1

    def decide(self, now: float, view: PacingView) -> int:
        counts = status_counts(view)
        busy = counts[AgentStatus.TALKING] + counts[AgentStatus.WRAPUP]
        tau = self._to_live / self._lives
        finish = 1.0 - math.exp(-tau / (self._handle / self._handles))
        free = counts[AgentStatus.IDLE] - len(view.waiting) + busy * finish
        if free < 1.0:
            return 0
        p = self._live / self._resolved
        ringing = len(view.ringing)
        # Imported here: scipy.stats takes ~1 s to import, paid by every command that builds a
        # campaign (an operator's mistake is reported before any policy decides).
        from scipy.stats import binom

        n = np.arange(0, int(4 * free / p) + 2)
        risk = binom.sf(math.floor(free), ringing + n, p)
        wish = int(np.count_nonzero(risk <= self.target)) - 1
        return self.caps.clamp(now, view, max(0, wish))
