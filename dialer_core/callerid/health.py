"""Caller-ID health: has a number's answer rate dropped against its pool (spam labelling)?

Each number is compared with the rest of its pool over the same cells (hour of day × callee
region, or any key the caller chooses), so a number that only calls at bad hours is not blamed.
The expected rate is the pool's cell rates (smoothed toward the pool's overall rate) weighted by
the number's own calls; the p-value is a one-sided beta-binomial tail that carries the
uncertainty of the pool's estimate, and tends to the binomial test for a large pool.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from scipy.stats import betabinom


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    REST = "rest"  # quarantine: take out of rotation until an operator restores it
    INSUFFICIENT = "insufficient"  # too few comparable calls to judge


@dataclass(frozen=True)
class Counts:
    """Calls placed and calls answered by a person."""

    calls: int
    answered: int


@dataclass(frozen=True)
class HealthRules:
    """Thresholds. A number warns when p < ``warn_p`` and its rate ≤ ``warn_ratio`` × expected;
    it rests when p < ``rest_p`` and its rate ≤ ``rest_ratio`` × expected."""

    min_calls: int = 50
    warn_p: float = 1e-3
    rest_p: float = 1e-5
    warn_ratio: float = 0.75
    rest_ratio: float = 0.5
    prior_calls: float = 20.0  # smoothing of sparse pool cells toward the pool rate


@dataclass(frozen=True)
class Health:
    """The verdict on one number."""

    number: str
    status: Status
    calls: int
    answered: int
    rate: float
    expected: float
    p_value: float
    reason: str


Cells = Mapping[Hashable, Counts]


def number_health(number: str, own: Cells, rest_of_pool: Cells, rules: HealthRules) -> Health:
    """Judge one number from its cells and the cells of the rest of its pool (without it)."""
    pool_calls = sum(c.calls for c in rest_of_pool.values())
    pool_answered = sum(c.answered for c in rest_of_pool.values())
    n = k = 0
    expected_answers = 0.0
    for key, c in own.items():
        p = rest_of_pool.get(key)
        if p is None or p.calls == 0 or c.calls == 0:
            continue  # no comparable calls in this cell
        overall = pool_answered / pool_calls
        rate = (p.answered + rules.prior_calls * overall) / (p.calls + rules.prior_calls)
        n += c.calls
        k += c.answered
        expected_answers += c.calls * rate
    if n < rules.min_calls or pool_calls == 0:
        return Health(
            number,
            Status.INSUFFICIENT,
            n,
            k,
            k / n if n else 0.0,
            0.0,
            1.0,
            f"{n} comparable calls, need {rules.min_calls}",
        )
    p0 = min(max(expected_answers / n, 1e-6), 1 - 1e-6)
    # Beta posterior of the pool rate, sized by the comparable pool calls.
    a = p0 * pool_calls + 1.0
    b = (1.0 - p0) * pool_calls + 1.0
    p_value = float(betabinom.cdf(k, n, a, b))
    rate = k / n
    if p_value < rules.rest_p and rate <= rules.rest_ratio * p0:
        status = Status.REST
    elif p_value < rules.warn_p and rate <= rules.warn_ratio * p0:
        status = Status.WARN
    else:
        status = Status.OK
    reason = f"answer rate {rate:.1%} vs pool {p0:.1%} over {n} calls (p={p_value:.2g})"
    return Health(number, status, n, k, rate, p0, p_value, reason)


def pool_health(stats: Mapping[str, Cells], rules: HealthRules) -> dict[str, Health]:
    """Judge every number of a pool, each against the others (leave-one-out)."""
    totals: dict[Hashable, list[int]] = {}
    for cells in stats.values():
        for key, c in cells.items():
            t = totals.setdefault(key, [0, 0])
            t[0] += c.calls
            t[1] += c.answered
    out = {}
    for number, cells in stats.items():
        rest = {}
        for key, (calls, answered) in totals.items():
            own = cells.get(key, Counts(0, 0))
            rest[key] = Counts(calls - own.calls, answered - own.answered)
        out[number] = number_health(number, cells, rest, rules)
    return out
