"""Caller-ID health: has a number's answer rate dropped against its pool (spam labelling)?

Each number is compared with the rest of its pool like with like: for each of its cells (hour of
day × callee region) the expected rate is the rest of the pool's rate in that cell, smoothed
toward the pool's rate at the same hour in every region. A local-presence number is often the
only one calling its region, so its region cells have little pool data and the same-hour rate
carries the comparison; an hour with no pool calls at all is not comparable (a number that only
calls at bad hours is not blamed). The p-value is a one-sided beta-binomial tail that carries the
uncertainty of the pool's estimate, and tends to the binomial test for a large pool.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Mapping
from dataclasses import dataclass


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
    needs: int = 0  # comparable calls still missing before a verdict (INSUFFICIENT only)


Cells = Mapping[Hashable, Counts]


def _hour(key: Hashable) -> Hashable:
    """The coarse cell of a key: the hour of an (hour, region) key, else the key itself."""
    return key[0] if isinstance(key, tuple) and key else key


def number_health(number: str, own: Cells, rest_of_pool: Cells, rules: HealthRules) -> Health:
    """Judge one number from its cells and the cells of the rest of its pool (without it)."""
    pool_calls = sum(c.calls for c in rest_of_pool.values())
    pool_answered = sum(c.answered for c in rest_of_pool.values())
    by_hour: dict[Hashable, list[int]] = {}
    for key, c in rest_of_pool.items():
        t = by_hour.setdefault(_hour(key), [0, 0])
        t[0] += c.calls
        t[1] += c.answered
    overall = pool_answered / pool_calls if pool_calls else 0.0
    n = k = 0
    expected_answers = 0.0
    for key, c in own.items():
        hour = by_hour.get(_hour(key))
        if c.calls == 0 or hour is None or hour[0] == 0:
            continue  # nobody else called at this hour: nothing to compare with
        hour_rate = (hour[1] + rules.prior_calls * overall) / (hour[0] + rules.prior_calls)
        p = rest_of_pool.get(key, Counts(0, 0))
        rate = (p.answered + rules.prior_calls * hour_rate) / (p.calls + rules.prior_calls)
        n += c.calls
        k += c.answered
        expected_answers += c.calls * rate
    if n < rules.min_calls or pool_calls == 0:
        needs = rules.min_calls - n if pool_calls else rules.min_calls
        why = (
            f"{n} comparable calls, needs {needs} more"
            if pool_calls
            else "no other number of the pool has calls to compare with"
        )
        return Health(
            number,
            Status.INSUFFICIENT,
            n,
            k,
            k / n if n else 0.0,
            expected_answers / n if n else 0.0,
            1.0,
            why,
            needs=max(needs, 1),
        )
    p0 = min(max(expected_answers / n, 1e-6), 1 - 1e-6)
    # Beta posterior of the pool rate, sized by the comparable pool calls.
    a = p0 * pool_calls + 1.0
    b = (1.0 - p0) * pool_calls + 1.0
    # Imported here: scipy.stats costs ~1 s to import, and every command that reads a campaign
    # file imports this module while only the health check computes a p-value.
    from scipy.stats import betabinom

    p_value = float(betabinom.cdf(k, n, a, b))
    rate = k / n
    if p_value < rules.rest_p and rate <= rules.rest_ratio * p0:
        status = Status.REST
    elif p_value < rules.warn_p and rate <= rules.warn_ratio * p0:
        status = Status.WARN
    else:
        status = Status.OK
    reason = (
        f"answer rate {rate:.1%} vs {p0:.1%} expected from the pool at the same hours "
        f"and regions, over {n} calls (p={p_value:.2g})"
    )
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
