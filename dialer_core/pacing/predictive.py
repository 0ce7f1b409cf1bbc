"""Predictive pacing: the state-dependent rule with an abandonment ledger on top.

At each decision the policy compares, on a grid of horizons ``s`` up to the longest answer time,

* ``A(s)``: live answers expected by ``now + s`` from calls in flight (hazard from each call's
  elapsed ring time) plus ``n`` new calls, and
* ``F(s)``: agents free by ``now + s + connect_limit`` (idle agents minus answered calls already
  waiting, plus each busy agent's residual-life probability of finishing talk and wrap-up),

and launches the largest ``n`` whose expected overflow ``max_s E[(A(s) - F(s))+]`` (normal
approximation of two sums of Bernoulli variables) stays within ``rate × E[A]``. ``rate`` is the
allowed abandon rate of the cohort in flight: the legal target minus the AMD false-positive budget,
lowered for binomial noise on the shortest ledger window (``window_z``) and tapered to zero as any
measured window approaches the cap. It never launches fewer than progressive would, and never
more than the hard caps allow.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from dialer_core.pacing.caps import CallRateLimiter, HardCaps
from dialer_core.pacing.config import PacingConfig
from dialer_core.pacing.estimators import CallTimingModel, ResidualLife
from dialer_core.pacing.interface import (
    AgentObservation,
    AgentStatus,
    CallObservation,
    Observation,
    Outcome,
    PacingView,
)
from dialer_core.pacing.ledger import AbandonmentLedger

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TAPER_LOW, _TAPER_HIGH = 0.4, 0.9  # ledger taper: share of the cap where tightening starts/ends
_REFRESH_CALLS = 50  # rebuild the answer table after this many resolved calls
_REFRESH_AGENTS = 12  # rebuild the residual-life tables after this many talk/wrap ends
_RATE_REFRESH_SECONDS = 5.0  # ledger limits are recomputed at most this often (or on change)
_LEAVE_HALF_LIFE = 120.0  # seconds: how fast the pause/logout odds forget
_ANSWER_GRID_STEP = 0.5  # row spacing of the answer table (seconds of elapsed ring time)


def window_rate(cap: float, answers: float, z: float) -> float:
    """Long-run abandon rate keeping a window of ``answers`` under ``cap`` with confidence ``z``.

    Abandons in the window are ~Poisson(r·L); solve r·L + z·sqrt(r·L) = cap·L for r.
    """
    if cap <= 0 or answers <= 0:
        return 0.0
    x = (-z + math.sqrt(z * z + 4 * cap * answers)) / 2
    return x * x / answers


def expected_excess(mu: np.ndarray, var: np.ndarray) -> np.ndarray:
    """E[max(D, 0)] for D ~ Normal(mu, var)."""
    sd = np.sqrt(np.maximum(var, 0.05))
    t = mu / sd
    return mu * ndtr(t) + sd * _INV_SQRT_2PI * np.exp(-0.5 * t * t)


class Predictive:
    """Model-based predictive pacing (see module docstring); pure, no clock, no I/O."""

    def __init__(self, cfg: PacingConfig, ledger: AbandonmentLedger | None = None) -> None:
        self.cfg = cfg
        self.ledger = ledger or AbandonmentLedger(cfg.ledger_windows_seconds)
        self.timing = CallTimingModel(
            cfg.prior_human_rate,
            cfg.prior_answer_mean_seconds,
            cfg.prior_answer_cv,
            cfg.prior_other_mean_seconds,
            cfg.prior_other_cv,
            cfg.prior_weight_calls,
            cfg.half_life_calls,
        )
        self.agents_model = ResidualLife(
            (cfg.prior_talk_mean_seconds, cfg.prior_talk_cv),
            (cfg.prior_wrap_mean_seconds, cfg.prior_wrap_cv),
            cfg.prior_weight_agents,
            cfg.half_life_connects,
        )
        self.caps = HardCaps(
            cfg.max_lines_per_agent, cfg.trunk_channels, CallRateLimiter(cfg.calls_per_second)
        )
        self._agent_state: dict[str, tuple[AgentStatus, float]] = {}
        self._horizons = np.array([1.0, 2, 3, 4, 6, 8, 11, 15, 20, 25, 32, 40])
        self._answer_cache: tuple[int, np.ndarray] | None = None
        self._useful = np.ones(len(self._horizons), dtype=bool)
        self._state_cache: tuple[tuple[int, int], tuple[np.ndarray, np.ndarray, int]] | None = None
        self._free_cache: tuple[int, tuple[np.ndarray, np.ndarray]] | None = None
        self._resolved = 0
        self._handled = 0
        self._left = 0.0  # time-decayed counts of wrap-ups followed by a pause/logout ...
        self._stayed = 0.0  # ... or by taking the next call
        self._leave_at = 0.0
        self.last_rate = 0.0  # allowed cohort abandon rate at the last decision (for plots)
        self._aim = cfg.target_abandon_rate * cfg.aim_fraction  # long-run rate aimed at
        self._log_calibration = math.log(cfg.model_calibration_prior)
        self._rate_key: tuple[int, int] | None = None
        self._base_rate, self._taper = 0.0, 0.0

    # ---- observations -------------------------------------------------------------------
    def observe(self, observation: Observation) -> None:
        """Feed one timestamped event into the estimators and the ledger."""
        if isinstance(observation, AgentObservation):
            self._observe_agent(observation)
            return
        o: CallObservation = observation
        if o.outcome is Outcome.HUMAN_ANSWERED:
            self.timing.observe(o.duration, human=True)
            self.ledger.record(o.at, answers=1)
            self._resolved += 1
            self._calibrate(self._aim * self._taper)  # no wind-up while the ledger holds back
        elif o.outcome in (Outcome.MACHINE_ANSWERED, Outcome.FAILED):
            self.timing.observe(o.duration, human=False)
            self._resolved += 1
        elif o.outcome is Outcome.ABANDONED:
            self.ledger.record(o.at, abandons=1)
            self._calibrate(-1.0)

    def _calibrate(self, step: float) -> None:
        """Stochastic approximation: abandons/answers → aimed rate by scaling the model budget.

        The cohort model ignores how successive decisions share the same agents, so its budget
        is scaled by a factor that falls by ``gain`` per abandon and rises by ``gain × aim`` per
        live answer: at equilibrium the measured rate equals the aim.
        """
        lo, hi = math.log(0.01), math.log(1.0)
        value = self._log_calibration + self.cfg.calibration_gain * step
        self._log_calibration = min(hi, max(lo, value))

    @property
    def calibration(self) -> float:
        return math.exp(self._log_calibration)

    def _observe_agent(self, o: AgentObservation) -> None:
        prev = self._agent_state.get(o.agent)
        if prev is not None:
            status, since = prev
            spent = o.at - since
            if status is AgentStatus.TALKING and spent > 0:
                self.agents_model.observe_talk(spent)
                self._handled += 1
            elif status is AgentStatus.WRAPUP:
                decay = 0.5 ** (max(0.0, o.at - self._leave_at) / _LEAVE_HALF_LIFE)
                self._left *= decay
                self._stayed *= decay
                self._leave_at = max(self._leave_at, o.at)
                if o.status is AgentStatus.IDLE:
                    self.agents_model.observe_wrap(spent)
                    self._stayed += 1.0
                else:
                    self._left += 1.0
                    self._free_cache = None  # a leaver changes the odds at once (shift end)
                self._handled += 1
        self._agent_state[o.agent] = (o.status, o.at)

    # ---- decision -----------------------------------------------------------------------
    def allowed_rate(self, now: float) -> float:
        """Abandon rate the calls in flight may carry now (0 → behave progressively)."""
        key = (int(now // _RATE_REFRESH_SECONDS), self.ledger.version)
        if self._rate_key != key:
            self._rate_key = key
            self._base_rate, self._taper = self._ledger_limits(now)
        self._aim = self._base_rate * self.cfg.aim_fraction
        return max(0.0, self._aim * self._taper * self.calibration)

    def _ledger_limits(self, now: float) -> tuple[float, float]:
        """(long-run rate that keeps every window under the cap, taper from measured windows)."""
        cfg = self.cfg
        cap = cfg.target_abandon_rate
        fp = cfg.amd_false_positive_rate
        totals = self.ledger.totals(now)
        rate, taper = math.inf, 1.0
        for i, t in enumerate(totals):
            answers = float(t.answers)
            if i == 0 and self.ledger.first_event_at is not None:
                span = min(max(now - self.ledger.first_event_at, 900.0), t.window_seconds)
                answers = answers * t.window_seconds / span
            expected = max(answers, cfg.min_history_answers)
            # false positives are random too: budget them inside the Poisson noise
            rate = min(rate, window_rate(cap, expected, cfg.window_z) - fp)
            pressure = (t.abandons + 1 + fp * t.answers) / max(t.answers, cfg.min_history_answers)
            x = pressure / cap if cap > 0 else math.inf
            taper = min(taper, max(0.0, (_TAPER_HIGH - x) / (_TAPER_HIGH - _TAPER_LOW)))
        return rate, taper

    def _answer_table(self) -> np.ndarray:
        """Rows by elapsed ring time: [P(answer within each horizon) | Bernoulli variances]."""
        if self._answer_cache is None or self._resolved - self._answer_cache[0] >= _REFRESH_CALLS:
            tab = self.timing.table(self._horizons)
            self._answer_cache = (self._resolved, np.hstack((tab, tab * (1 - tab))))
            self._state_cache = None
            self._useful = tab[0] > 1e-3
            self._useful[-1] = True
        return self._answer_cache[1]

    def _free_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """(elapsed grid, rows [talking; wrapping] of [P(free within s) | variances])."""
        if self._free_cache is None or self._handled - self._free_cache[0] >= _REFRESH_AGENTS:
            grid, talk, wrap = self.agents_model.tables(
                self._horizons + self.cfg.connect_limit_seconds
            )
            stay = 1.0 - self.leave_probability()
            both = np.vstack((talk, wrap)) * stay
            self._free_cache = (self._handled, (grid, np.hstack((both, both * (1 - both)))))
            self._state_cache = None
        return self._free_cache[1]

    def leave_probability(self) -> float:
        """Share of wrap-ups followed by a pause or logout instead of taking the next call."""
        return (self._left + 0.3) / (self._left + self._stayed + 10.0)

    def decide(self, now: float, view: PacingView) -> int:
        """Number of calls to launch now (>= progressive, <= every hard cap)."""
        cfg = self.cfg
        idle = 0
        talk_since: list[float] = []
        wrap_since: list[float] = []
        idle_s, talk_s, wrap_s = AgentStatus.IDLE, AgentStatus.TALKING, AgentStatus.WRAPUP
        for a in view.agents:
            status = a.status
            if status is idle_s:
                idle += 1
            elif status is talk_s:
                talk_since.append(a.since)
            elif status is wrap_s:
                wrap_since.append(a.since)
        staffed = idle + len(talk_since) + len(wrap_since)
        in_flight = len(view.ringing) + len(view.waiting)
        floor = max(0, int(idle * cfg.lines_per_agent) - in_flight)
        rate = self.allowed_rate(now)
        self.last_rate = rate
        wish = floor
        limit = int(cfg.max_lines_per_agent * staffed) - in_flight
        if rate > 0 and limit > floor:
            safe = self._largest_safe(now, view, idle, talk_since, wrap_since, rate, limit)
            wish = max(floor, safe)
        return self.caps.clamp(now, view, wish, staffed, len(talk_since))

    def _state_table(self) -> tuple[np.ndarray, np.ndarray, int]:
        """One table for the whole state: rows [ringing by elapsed; talking; wrapping].

        Columns are [contribution to the mean of D = answers − frees | its variance] for each
        horizon, then [expected answers by each horizon]; one ``bincount`` and one matrix
        product sum every call and agent.
        """
        answer_tab = self._answer_table()
        grid, free_tab = self._free_tables()
        key = (self._answer_cache[0], self._free_cache[0])  # versions, never ids (ids get reused)
        if self._state_cache is None or self._state_cache[0] != key:
            h = len(self._horizons)
            agents = free_tab.copy()
            agents[:, :h] *= -1.0  # a free agent lowers D
            # last columns: expected answers by each horizon (ringing rows only)
            answers = np.vstack((answer_tab[:, :h], np.zeros((len(agents), h))))
            table = np.hstack((np.vstack((answer_tab, agents)), answers))
            self._state_cache = (key, (grid, table, len(answer_tab)))
        return self._state_cache[1]

    def _largest_safe(
        self,
        now: float,
        view: PacingView,
        idle: int,
        talk_since: list[float],
        wrap_since: list[float],
        rate: float,
        limit: int,
    ) -> int:
        grid, table, n_answer_rows = self._state_table()
        h = len(self._horizons)
        q_new, v_new = table[0, :h], table[0, h : 2 * h]
        ring_rows = ((now - np.array(view.ringing)) * (1.0 / _ANSWER_GRID_STEP)).astype(np.intp)
        np.minimum(ring_rows, n_answer_rows - 1, out=ring_rows)
        agent_rows = np.searchsorted(grid, now - np.array(talk_since + wrap_since), "right")
        agent_rows += n_answer_rows - 1
        agent_rows[len(talk_since) :] += len(grid)  # wrap-up rows follow the talking rows
        rows = np.concatenate((ring_rows, agent_rows))
        state = np.bincount(rows, minlength=len(table)) @ table
        mu_d = state[:h] - float(idle - len(view.waiting))  # E[answers − frees] without new calls
        var_d = state[h : 2 * h]
        # upper bound on n: where the mean answers first exceed the mean free agents, plus slack
        balance = float((-mu_d[self._useful] / q_new[self._useful]).min())
        if balance < -1.0:  # more answers expected than free agents even without new calls
            return 0
        top = min(limit, int(balance + 2.0 + 2.0 * math.sqrt(max(balance, 1.0))))
        if top <= 0:
            return 0
        n = np.arange(1.0, top + 1.0)[:, None]
        answers = state[2 * h :] + n * q_new + len(view.waiting)  # E[A(s)] per n and horizon
        # the normal tail overstates E[(A - F)+] when few answers are due: it is <= E[A]
        excess = np.minimum(expected_excess(mu_d + n * q_new, var_d + n * v_new), answers)
        safe = excess.max(axis=1) <= rate * answers[:, -1]
        if not safe[0]:
            return 0
        # largest n such that every smaller n is safe too
        return int(np.argmin(safe)) if not safe.all() else top
