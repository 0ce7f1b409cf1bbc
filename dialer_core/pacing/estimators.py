"""Online duration estimators with priors: exponentially forgetting histograms.

Each histogram starts from a lognormal prior (``scipy.stats.lognorm``) worth ``prior_weight``
observations; every new observation weighs ``2 ** (1 / half_life)`` times more than the one
before, so the estimate follows drift (answer rates falling over a shift) without a window.
"""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np

_RESCALE = 1e12
_ELAPSED_STEP = 0.5  # spacing of the ring-time grid of the answer table


def lognormal_bin_mass(edges: np.ndarray, mean: float, cv: float) -> np.ndarray:
    """Probability of each bin ``[edges[i], edges[i+1])`` plus a last overflow bin."""
    # Imported here: scipy.stats takes ~1 s to import, paid by every command that builds a
    # campaign (an operator's mistake is reported before any policy is made).
    from scipy import stats

    sigma = math.sqrt(math.log1p(cv * cv))
    mu = math.log(max(mean, 1e-6)) - sigma * sigma / 2
    cdf = stats.lognorm.cdf(edges, s=sigma, scale=math.exp(mu))
    return np.append(np.diff(cdf), 1.0 - cdf[-1])


class DecayedHistogram:
    """A forgetting histogram over fixed ``edges`` with a CDF interpolated inside bins."""

    def __init__(self, edges: np.ndarray, prior_mass: np.ndarray, half_life: float) -> None:
        self.edges = np.asarray(edges, dtype=float)
        self._edge_list = self.edges.tolist()
        self.counts = np.asarray(prior_mass, dtype=float).copy()  # len(edges) bins, last = overflow
        self._weight = 1.0
        self._growth = 2.0 ** (1.0 / half_life)
        self._cum: np.ndarray | None = None

    def add(self, x: float) -> None:
        """Record one observation ``x`` (values past the last edge go to the overflow bin)."""
        self.add_weighted(x, self._weight)
        self._weight *= self._growth
        if self._weight > _RESCALE:
            self.scale(1.0 / self._weight)
            self._weight = 1.0

    def add_weighted(self, x: float, weight: float) -> None:
        """Add ``weight`` to the bin holding ``x`` (callers that manage their own forgetting)."""
        idx = bisect_right(self._edge_list, x) - 1
        self.counts[max(0, min(idx, len(self.counts) - 1))] += weight
        self._cum = None

    def scale(self, factor: float) -> None:
        self.counts *= factor
        self._cum = None

    @property
    def total(self) -> float:
        return float(self.counts.sum())

    def knot_cumulative(self) -> np.ndarray:
        """``cumulative`` at each edge (exactly what ``cumulative(edges)`` returns)."""
        if self._cum is None:
            self._cum = np.concatenate(([0.0], np.cumsum(self.counts[:-1])))
        return self._cum

    def cumulative(self, x: np.ndarray | float) -> np.ndarray:
        """Weighted count of observations ``<= x`` (linear inside a bin)."""
        return np.interp(x, self.edges, self.knot_cumulative())

    def cdf(self, x: np.ndarray | float) -> np.ndarray:
        return self.cumulative(x) / self.total

    def mean(self) -> float:
        mids = np.append((self.edges[:-1] + self.edges[1:]) / 2, self.edges[-1])
        return float((mids * self.counts).sum() / self.total)


class CallTimingModel:
    """Launch → resolution timing of calls: when humans answer, and when any call ends.

    ``human`` counts human answers by elapsed time since launch; ``resolved`` counts every
    resolution (human, machine, failure). Both share one forgetting weight, so
    ``P(human answer in (e, e+s] | still in flight at e) = ΔH / (N - R(e))``.
    """

    def __init__(
        self,
        human_rate: float,
        answer_mean: float,
        answer_cv: float,
        other_mean: float,
        other_cv: float,
        prior_weight: float,
        half_life: float,
    ) -> None:
        edges = np.arange(0.0, 120.0 + _ELAPSED_STEP, _ELAPSED_STEP)
        self._shift: dict[tuple[float, ...], np.ndarray | bool] = {}
        human_prior = prior_weight * human_rate * lognormal_bin_mass(edges, answer_mean, answer_cv)
        other_prior = (
            prior_weight * (1 - human_rate) * lognormal_bin_mass(edges, other_mean, other_cv)
        )
        self.human = DecayedHistogram(edges, human_prior, half_life)
        self.resolved = DecayedHistogram(edges, human_prior + other_prior, half_life)
        self._weight = 1.0
        self._growth = 2.0 ** (1.0 / half_life)

    def observe(self, duration: float, human: bool) -> None:
        """A call ended its dialing phase after ``duration`` seconds (human answer or not)."""
        if human:
            self.human.add_weighted(duration, self._weight)
        self.resolved.add_weighted(duration, self._weight)
        self._weight *= self._growth
        if self._weight > _RESCALE:
            self.human.scale(1.0 / self._weight)
            self.resolved.scale(1.0 / self._weight)
            self._weight = 1.0

    def table(self, horizons: np.ndarray) -> np.ndarray:
        """``answer_within`` on the elapsed grid 0, 0.5, ..., 120 s (row ``i`` = ``i / 2`` s).

        Horizons that are whole grid steps land on edges, where the interpolated CDF is the
        stored cumulative sum: the table is then read by index instead of interpolated.
        """
        shift = self._shift.get(tuple(horizons))
        if shift is None:
            steps = np.asarray(horizons, dtype=float) / _ELAPSED_STEP
            exact = bool(np.all(steps == np.round(steps)) and np.all(steps >= 0))
            rows = np.arange(len(self.human.edges))[:, None]
            shift = np.minimum(rows + steps.astype(np.intp), len(rows) - 1) if exact else False
            self._shift[tuple(horizons)] = shift
        if shift is False:
            return self.answer_within(self.human.edges, horizons)
        human = self.human.knot_cumulative()
        at_risk = (self.resolved.total - self.resolved.knot_cumulative())[:, None]
        gain = human[shift] - human[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(at_risk > 1e-9, gain / at_risk, 0.0)
        return np.clip(p, 0.0, 1.0)

    def human_rate(self) -> float:
        return self.human.total / self.resolved.total

    def answer_within(self, elapsed: np.ndarray, horizon: np.ndarray) -> np.ndarray:
        """Matrix P(human answer in (e, e+s]) for each ``elapsed`` (rows) and ``horizon`` (cols)."""
        e = np.asarray(elapsed, dtype=float)[:, None]
        s = np.asarray(horizon, dtype=float)[None, :]
        at_risk = self.resolved.total - self.resolved.cumulative(e)
        gain = self.human.cumulative(e + s) - self.human.cumulative(e)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(at_risk > 1e-9, gain / at_risk, 0.0)
        return np.clip(p, 0.0, 1.0)


def handle_edges() -> np.ndarray:
    """Bin edges for talk and wrap-up times: 0, then log-spaced from 1 s to 4 h."""
    return np.concatenate(([0.0], np.geomspace(1.0, 14400.0, 240)))


class ResidualLife:
    """P(an agent frees up within s) from the elapsed time in its current state.

    A talk is followed by a wrap-up (its mean is added) unless the agent went straight back to
    idle: ``direct`` counts those talks (an agent hanging up on a machine a call with AMD off
    brought, pacing.amd_plan), with the talk histogram's own weights, so a talk of a length that
    usually ends without wrap-up frees its agent at its end.
    """

    def __init__(
        self,
        cfg_talk: tuple[float, float],
        cfg_wrap: tuple[float, float],
        prior_weight: float,
        half_life: float,
    ) -> None:
        edges = handle_edges()
        self.talk = DecayedHistogram(
            edges, prior_weight * lognormal_bin_mass(edges, *cfg_talk), half_life
        )
        self.wrap = DecayedHistogram(
            edges, prior_weight * lognormal_bin_mass(edges, *cfg_wrap), half_life
        )
        self.direct = DecayedHistogram(edges, np.zeros(len(edges)), half_life)
        self._any_direct = False  # a talk without wrap-up was seen (else ``direct`` is empty)
        self._wrap_mean: float | None = None

    def observe_talk(self, seconds: float, wrap: bool = True) -> None:
        """A talk of ``seconds`` ended, followed by a wrap-up or (``wrap=False``) by nothing."""
        weight = self.talk._weight
        self.talk.add(seconds)
        if not wrap:
            self.direct.add_weighted(seconds, weight)
            self._any_direct = True
        if self.talk._weight < weight:  # the talk histogram rescaled its counts
            self.direct.scale(1.0 / (weight * self.talk._growth))

    def observe_wrap(self, seconds: float) -> None:
        self.wrap.add(seconds)
        self._wrap_mean = None

    def wrap_mean(self) -> float:
        if self._wrap_mean is None:
            self._wrap_mean = self.wrap.mean()
        return self._wrap_mean

    @staticmethod
    def _conditional(h: DecayedHistogram, e: np.ndarray, until: np.ndarray) -> np.ndarray:
        f_e = h.cdf(e)
        surv = 1.0 - f_e
        gain = h.cdf(np.maximum(until, e)) - f_e
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(surv > 1e-9, gain / surv, 0.0)
        return np.clip(p, 0.0, 1.0)

    def free_table(self, horizon: np.ndarray) -> np.ndarray:
        """``free_within`` rows [talking; wrapping] for elapsed = every edge of ``handle_edges``.

        Same values as ``free_within(edges, edges, horizon)``, computed faster: at the edges the
        elapsed-time CDF is the stored cumulative sum, so only the horizon ends are interpolated,
        and the work runs on one (horizons × 2·edges) array (a transposed view is returned).
        """
        talk, wrap = self.talk, self.wrap
        edges = talk.edges
        n = len(edges)
        e = edges[None, :]
        s = np.asarray(horizon, dtype=float)[:, None]
        talk_total, wrap_total = talk.total, wrap.total
        f_e = np.concatenate(
            (talk.knot_cumulative() / talk_total, wrap.knot_cumulative() / wrap_total)
        )
        gain = np.empty((s.shape[0], 2 * n))
        wrapped_end = np.maximum(e + s - self.wrap_mean(), e)  # talk end that frees by e + s
        gain[:, :n] = talk.cumulative(wrapped_end)
        if self._any_direct:  # talks with no wrap-up free their agent at their end
            gain[:, :n] += self.direct.cumulative(e + s) - self.direct.cumulative(wrapped_end)
        gain[:, n:] = wrap.cumulative(np.maximum(e + s, e))
        gain[:, :n] /= talk_total
        gain[:, n:] /= wrap_total
        gain -= f_e
        surv = 1.0 - f_e
        p = np.zeros_like(gain)
        np.divide(gain, surv, out=p, where=surv > 1e-9)
        return np.clip(p, 0.0, 1.0, out=p).T

    def tables(self, horizon: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(grid, talking table, wrapping table): ``free_within`` rows for elapsed = ``grid``."""
        grid = self.talk.edges
        both = self.free_within(grid, grid, horizon)
        return grid, both[: len(grid)], both[len(grid) :]

    def free_within(
        self, talk_elapsed: np.ndarray, wrap_elapsed: np.ndarray, horizon: np.ndarray
    ) -> np.ndarray:
        """Matrix (agents × horizons) of P(free by now + s); talking agents also do wrap-up."""
        s = np.asarray(horizon, dtype=float)[None, :]
        te = np.asarray(talk_elapsed, dtype=float)[:, None]
        we = np.asarray(wrap_elapsed, dtype=float)[:, None]
        if self._any_direct:  # talks with no wrap-up free their agent at their end
            talk = self.talk
            wrapped_end = np.maximum(te + s - self.wrap_mean(), te)
            ends = talk.cumulative(wrapped_end)
            ends += self.direct.cumulative(te + s) - self.direct.cumulative(wrapped_end)
            f_e = talk.cdf(te)
            gain = ends / talk.total - f_e
            surv = 1.0 - f_e
            with np.errstate(divide="ignore", invalid="ignore"):
                talking = np.clip(np.where(surv > 1e-9, gain / surv, 0.0), 0.0, 1.0)
        else:
            talking = self._conditional(self.talk, te, te + s - self.wrap_mean())
        wrapping = self._conditional(self.wrap, we, we + s)
        return np.concatenate((talking, wrapping), axis=0)
