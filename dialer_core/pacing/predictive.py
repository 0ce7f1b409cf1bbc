"""Predictive pacing: the state-dependent rule with an abandonment ledger on top.

At each decision the policy compares, on a grid of horizons ``s`` up to the longest answer time,

* ``A(s)``: live answers expected by ``now + s`` from calls in flight (hazard from each call's
  elapsed ring time) plus ``n`` new calls, and
* ``F(s)``: agents free by ``now + s + connect_limit`` (idle agents minus answered calls already
  waiting, plus each busy agent's residual-life probability of finishing talk and wrap-up),

and launches the largest ``n`` whose expected overflow ``max_s E[(A(s) - F(s))+]`` (normal
approximation of two sums of Bernoulli variables) stays within ``rate × E[A]``. ``rate`` is the
allowed abandon rate of the cohort in flight: the legal target minus the upper ``fp_z`` quantile of
the unseen AMD false positives a window may hold (pacing.unseen), lowered for binomial noise on
the shortest ledger window (``window_z``) and tapered to zero as any measured window approaches
the cap. It never launches fewer than progressive would, and never
more than the hard caps allow.
"""

from __future__ import annotations

import dataclasses
import math
from itertools import compress
from operator import attrgetter, is_not

import numpy as np
from scipy.special import ndtr

from dialer_core.pacing.amd_plan import amd_off_share
from dialer_core.pacing.caps import CallRateLimiter, HardCaps
from dialer_core.pacing.config import PacingConfig
from dialer_core.pacing.estimators import CallTimingModel, ResidualLife
from dialer_core.pacing.interface import (
    AgentObservation,
    AgentStatus,
    AgentView,
    CallObservation,
    LedgerObservation,
    Observation,
    Outcome,
    PacingView,
    SettingsObservation,
)
from dialer_core.pacing.ledger import AbandonmentLedger
from dialer_core.pacing.unseen import unseen_quantile

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TAPER_LOW, _TAPER_HIGH = 0.4, 0.9  # ledger taper: share of the cap where tightening starts/ends
_REFRESH_CALLS = 50  # rebuild the answer table after this many resolved calls
_REFRESH_AGENTS = 12  # rebuild the residual-life tables after this many talk/wrap ends
_RATE_REFRESH_SECONDS = 5.0  # ledger limits are recomputed at most this often (or on change)
_LEAVE_HALF_LIFE = 120.0  # seconds: how fast the pause/logout odds forget
_ANSWER_GRID_STEP = 0.5  # row spacing of the answer table (seconds of elapsed ring time)
_ANSWER_ROWS_PER_SECOND = 1.0 / _ANSWER_GRID_STEP
_FIRST_BLOCK = 16  # n = 2.._FIRST_BLOCK are tried before larger n (most answers are small)
_BLOCK_N = np.arange(2.0, _FIRST_BLOCK + 1.0)[:, None]  # n = 2.._FIRST_BLOCK as a column
_STATUS, _SINCE = attrgetter("status"), attrgetter("since")


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


class _AgentRows:
    """Per-agent state-table rows, kept in step with ``view.agents`` position by position.

    Consecutive views of the simulator share the ``AgentView`` objects of agents whose state
    did not change, so only the changed positions are re-read; any other view (a new length,
    many new objects) is read in full. Agents not talking or in wrap-up point at a dummy row
    past the end of the table (their start time is +inf, so their elapsed time is -inf).
    """

    def __init__(self, talk_row0: int, wrap_row0: int, dummy_row: int) -> None:
        # row offset by code: 0 idle, 1 talking, 2 wrap-up, 3 other (paused, logged out)
        self._offset_of = np.array([dummy_row, talk_row0, wrap_row0, dummy_row], dtype=np.intp)
        self._agents: tuple[AgentView, ...] | None = None
        self._codes: list[int] = []
        self.since = np.zeros(0)  # state start time (talking / wrap-up), else +inf
        self.offsets = np.zeros(0, dtype=np.intp)
        self.counts = [0, 0, 0, 0]  # agents per code

    @staticmethod
    def _code(status: AgentStatus) -> int:
        if status is AgentStatus.IDLE:
            return 0
        if status is AgentStatus.TALKING:
            return 1
        return 2 if status is AgentStatus.WRAPUP else 3

    def sync(self, agents: tuple[AgentView, ...]) -> None:
        """Bring the rows in step with ``agents`` (the cache holds the tuple: ids stay unique)."""
        prev = self._agents
        if agents is prev:
            return
        self._agents = agents
        if prev is not None and len(prev) == len(agents):
            changed = list(compress(range(len(agents)), map(is_not, agents, prev)))
            if len(changed) * 8 <= len(agents):
                for i in changed:
                    self._set(i, agents[i])
                return
        codes = [self._code(s) for s in map(_STATUS, agents)]
        code_arr = np.array(codes, dtype=np.intp)
        since = np.fromiter(map(_SINCE, agents), float, len(agents))
        self.since = np.where((code_arr == 1) | (code_arr == 2), since, np.inf)
        self.offsets = self._offset_of[code_arr]
        self._codes = codes
        self.counts = [codes.count(c) for c in range(4)]

    def _set(self, i: int, agent: AgentView) -> None:
        code = self._code(agent.status)
        self.counts[self._codes[i]] -= 1
        self.counts[code] += 1
        self._codes[i] = code
        self.since[i] = agent.since if code in (1, 2) else math.inf
        self.offsets[i] = self._offset_of[code]


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
        h = len(self._horizons)
        answer_rows = len(self.timing.human.edges)
        grid = self.agents_model.talk.edges
        # rows [ringing by elapsed (0.5 s steps); talking; wrapping] × columns [contribution to
        # the mean of D = answers − frees | its variance | expected answers], per horizon
        self._table = np.zeros((answer_rows + 2 * len(grid), 3 * h))
        self._grid = grid
        self._answer_version: int | None = None  # _resolved when the answer rows were filled
        self._free_version: int | None = None  # _handled when the agent rows were filled
        self._useful = np.ones(h, dtype=bool)
        self._all_useful = True
        self._q_new = np.zeros(h)  # P(a new call is answered within each horizon)
        self._v_new = np.zeros(h)  # its Bernoulli variance
        self._neg_q_useful = self._q_new
        self._block_q = self._block_v = np.zeros((_FIRST_BLOCK - 1, h))
        self._ring_row_max = answer_rows - 1
        talk_row0 = answer_rows - 1  # searchsorted("right") of elapsed 0 is 1
        self._agent_rows = _AgentRows(talk_row0, talk_row0 + len(grid), len(self._table))
        self._resolved = 0
        self._handled = 0
        self._left = 0.0  # time-decayed counts of wrap-ups followed by a pause/logout ...
        self._stayed = 0.0  # ... or by taking the next call
        self._leave_at = 0.0
        self.last_rate = 0.0  # allowed cohort abandon rate at the last decision (for plots)
        self._aim = cfg.target_abandon_rate * cfg.aim_fraction  # long-run rate aimed at
        self._log_calibration = math.log(cfg.model_calibration_prior)
        self._rate_key: tuple[int, AbandonmentLedger, int] | None = None
        self._base_rate, self._taper = 0.0, 0.0
        self.amd_off_share = 0.0  # share of new calls to place with AMD off (pacing.amd_plan)
        self.decisions = 0
        self.fallbacks = 0  # decisions with no budget left: progressive dialing

    # ---- observations -------------------------------------------------------------------
    def observe(self, observation: Observation) -> None:
        """Feed one timestamped event into the estimators and the ledger."""
        if isinstance(observation, AgentObservation):
            self._observe_agent(observation)
            return
        if isinstance(observation, LedgerObservation):  # every node's calls, from the database
            self.ledger = observation.ledger
            return
        if isinstance(observation, SettingsObservation):
            self.cfg = dataclasses.replace(
                self.cfg,
                target_abandon_rate=observation.target_abandon_rate,
                lines_per_agent=observation.lines_per_agent,
            )
            return
        if not isinstance(observation, CallObservation):
            return
        o = observation
        if o.outcome is Outcome.LAUNCHED:  # the most frequent event; nothing to learn yet
            return
        if o.outcome is Outcome.HUMAN_ANSWERED:
            self.timing.observe(o.duration, human=True)
            self.ledger.record(o.at, answers=1)
            self._resolved += 1
            self._calibrate(self._aim * self._taper)  # no wind-up while the ledger holds back
        elif o.outcome is Outcome.UNSCREENED:  # AMD off: an agent is needed, live or not
            self.timing.observe(o.duration, human=True)
            self._resolved += 1
        elif o.outcome is Outcome.LIVE:  # that answer was a person (or dropped: counted so)
            self.ledger.record(o.at, answers=1)
            self._calibrate(self._aim * self._taper)
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
            if status is AgentStatus.TALKING and spent > 0:  # idle next: no wrap-up
                self.agents_model.observe_talk(spent, wrap=o.status is not AgentStatus.IDLE)
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
                    self._free_version = None  # a leaver changes the odds at once (shift end)
                self._handled += 1
        self._agent_state[o.agent] = (o.status, o.at)

    # ---- decision -----------------------------------------------------------------------
    def allowed_rate(self, now: float) -> float:
        """Abandon rate the calls in flight may carry now (0 → behave progressively)."""
        ledger = self.ledger  # read each time: the live runner swaps in a rebuilt ledger
        key = (int(now // _RATE_REFRESH_SECONDS), ledger, ledger.version)
        if self._rate_key != key:
            self._rate_key = key
            self._base_rate, self._taper = self._ledger_limits(now)
        self._aim = self._base_rate * self.cfg.aim_fraction
        return max(0.0, self._aim * self._taper * self.calibration)

    def _ledger_limits(self, now: float) -> tuple[float, float]:
        """(long-run rate that keeps every window under the cap, taper from measured windows)."""
        cfg = self.cfg
        cap = cfg.target_abandon_rate
        ledger = self.ledger
        sums = ledger.sums(now)
        expected_of = []
        for i, (window, window_answers, _) in enumerate(sums):
            answers = float(window_answers)
            if i == 0 and ledger.first_event_at is not None:
                span = min(max(now - ledger.first_event_at, 900.0), window)
                answers = answers * window / span
            expected_of.append(max(answers, cfg.min_history_answers))
        # AMD off on the share of calls that keeps the unseen false positives of every window
        # within its part of the cap (pacing.amd_plan); they arise on the other calls only
        fp = cfg.amd_false_positive_rate
        share = 0.0
        if fp > 0 and cfg.amd_off_max > 0:
            for expected in expected_of:
                share = max(share, amd_off_share(fp, expected, cap, cfg.fp_z, cfg.amd_reserve))
            share = min(share, cfg.amd_off_max)
            fp *= 1.0 - share
        self.amd_off_share = share
        rate, taper = math.inf, 1.0
        for (_, window_answers, abandons), expected in zip(sums, expected_of, strict=True):
            # unseen abandons at their upper quantile (a shift has hundreds of overlapping
            # windows: the worst of them, not the mean, is what breaks the cap)
            unseen = unseen_quantile(fp * expected, cfg.fp_z) / expected if fp > 0 else 0.0
            rate = min(rate, window_rate(cap - unseen, expected, cfg.window_z))
            pressure = (abandons + 1 + fp * window_answers) / max(
                window_answers, cfg.min_history_answers
            )
            x = pressure / cap if cap > 0 else math.inf
            taper = min(taper, max(0.0, (_TAPER_HIGH - x) / (_TAPER_HIGH - _TAPER_LOW)))
        return rate, taper

    def _state_table(self) -> np.ndarray:
        """The state table, its answer rows refreshed every ``_REFRESH_CALLS`` resolved calls and
        its agent rows every ``_REFRESH_AGENTS`` talk/wrap ends (or at once after a leaver).

        One ``bincount`` of the state's rows and one matrix product sum every call and agent.
        """
        h = len(self._horizons)
        table = self._table
        version = self._answer_version
        if version is None or self._resolved - version >= _REFRESH_CALLS:
            self._answer_version = self._resolved
            tab = self.timing.table(self._horizons)  # P(answer within s | elapsed ring time)
            rows = table[: len(tab)]
            rows[:, :h] = tab
            np.multiply(tab, 1 - tab, out=rows[:, h : 2 * h])
            rows[:, 2 * h :] = tab  # expected answers (agent rows stay zero)
            self._useful = tab[0] > 1e-3
            self._useful[-1] = True
            self._all_useful = bool(self._useful.all())
            self._q_new = tab[0].copy()
            self._v_new = rows[0, h : 2 * h].copy()
            self._neg_q_useful = -self._q_new[self._useful]
            self._block_q = _BLOCK_N * self._q_new  # n × q_new for n = 2.._FIRST_BLOCK
            self._block_v = _BLOCK_N * self._v_new
        version = self._free_version
        if version is None or self._handled - version >= _REFRESH_AGENTS:
            self._free_version = self._handled
            free = self.agents_model.free_table(self._horizons + self.cfg.connect_limit_seconds)
            both = np.multiply(free, 1.0 - self.leave_probability(), out=free)
            rows = table[len(table) - len(both) :]
            np.negative(both, out=rows[:, :h])  # a free agent lowers D
            np.multiply(both, 1 - both, out=rows[:, h : 2 * h])
        return table

    @property
    def fallback_share(self) -> float:
        """Share of decisions taken as progressive because no abandon budget was left."""
        return self.fallbacks / self.decisions if self.decisions else 0.0

    def leave_probability(self) -> float:
        """Share of wrap-ups followed by a pause or logout instead of taking the next call."""
        return (self._left + 0.3) / (self._left + self._stayed + 10.0)

    def decide(self, now: float, view: PacingView) -> int:
        """Number of calls to launch now (>= progressive, <= every hard cap)."""
        cfg = self.cfg
        agents = self._agent_rows
        agents.sync(view.agents)
        idle, talking, wrapping, _ = agents.counts
        staffed = idle + talking + wrapping
        in_flight = len(view.ringing) + len(view.waiting)
        floor = max(0, int(idle * cfg.lines_per_agent) - in_flight)
        rate = self.allowed_rate(now)
        self.last_rate = rate
        self.decisions += 1
        self.fallbacks += rate <= 0
        wish = floor
        limit = int(cfg.max_lines_per_agent * staffed) - in_flight
        if rate > 0 and limit > floor:
            safe = self._largest_safe(now, view, idle, rate, limit)
            wish = max(floor, safe)
        return self.caps.clamp(now, view, wish, staffed, talking)

    def _largest_safe(
        self, now: float, view: PacingView, idle: int, rate: float, limit: int
    ) -> int:
        table = self._state_table()
        h = len(self._horizons)
        ringing = view.ringing
        ring_rows = (
            (now - np.fromiter(ringing, float, len(ringing))) * _ANSWER_ROWS_PER_SECOND
        ).astype(np.intp)
        np.minimum(ring_rows, self._ring_row_max, out=ring_rows)
        agents = self._agent_rows
        agent_rows = self._grid.searchsorted(now - agents.since, "right")
        agent_rows += agents.offsets
        rows = np.concatenate((ring_rows, agent_rows))
        state = np.bincount(rows, minlength=len(table) + 1)[: len(table)] @ table
        waiting = len(view.waiting)
        mu_d = state[:h] - float(idle - waiting)  # E[answers − frees] without new calls
        var_d = state[h : 2 * h]
        expected = state[2 * h :]  # answers expected from the calls in flight, per horizon
        q_new, v_new = self._q_new, self._v_new
        # n = 1 first: about half of all decisions stop there (the order of the zero exits
        # below does not change the answer, only how soon it is known)
        answers = expected + q_new + waiting  # E[A(s)] with one new call
        excess = np.minimum(expected_excess(mu_d + q_new, var_d + v_new), answers)
        if not excess.max() <= rate * answers[-1]:
            return 0
        # upper bound on n: where the mean answers first exceed the mean free agents, plus slack
        # (-a / b == a / -b exactly: negation is exact in IEEE arithmetic)
        if self._all_useful:
            balance = float((-mu_d / q_new).min())
        else:
            balance = float((mu_d[self._useful] / self._neg_q_useful).min())
        if balance < -1.0:  # more answers expected than free agents even without new calls
            return 0
        top = min(limit, int(balance + 2.0 + 2.0 * math.sqrt(max(balance, 1.0))))
        if top <= 0:
            return 0
        # then blocks of n; the answer is the last n before the first unsafe one
        low = 2
        for high in (_FIRST_BLOCK, top):
            high = min(high, top)
            if high < low:
                continue
            if low == 2:  # the first block's n × q_new and n × v_new are precomputed
                nq, nv = self._block_q[: high - 1], self._block_v[: high - 1]
            else:
                n = np.arange(float(low), high + 1.0)[:, None]
                nq, nv = n * q_new, n * v_new
            answers = expected + nq + waiting
            # the normal tail overstates E[(A - F)+] when few answers are due: it is <= E[A]
            excess = np.minimum(expected_excess(mu_d + nq, var_d + nv), answers)
            safe = excess.max(axis=1) <= rate * answers[:, -1]
            if not safe.all():
                return low - 1 + int(np.argmin(safe))
            low = high + 1
        return top
