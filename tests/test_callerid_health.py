"""Caller-ID health: a labelled number's drop is caught, healthy numbers are left alone."""

from __future__ import annotations

import numpy as np

from dialer_core.callerid import Counts, HealthRules, Status, number_health, pool_health

RULES = HealthRules()
HOURS = range(9, 21)


def simulate(rng, rates: dict[str, float], calls: int) -> dict[str, dict]:
    """Per number, calls spread over the hours; answer probability = rate × hour factor."""
    out = {}
    for number, rate in rates.items():
        cells = {}
        for i, h in enumerate(HOURS):
            n = calls // len(HOURS) + (1 if i < calls % len(HOURS) else 0)
            factor = 0.7 if h in (12, 13) else 1.0  # lunch hours answer less
            cells[h] = Counts(n, int(rng.binomial(n, rate * factor)))
        out[number] = cells
    return out


def test_drop_from_30_to_10_percent_is_caught_on_200_calls():
    caught = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        rates = {"bad": 0.10, **{f"ok{i}": 0.30 for i in range(7)}}
        verdict = pool_health(simulate(rng, rates, 200), RULES)
        caught += verdict["bad"].status in (Status.WARN, Status.REST)
    assert caught >= 98


def test_healthy_pool_raises_almost_no_warnings():
    warns = 0
    for seed in range(150):
        rng = np.random.default_rng(1000 + seed)
        verdict = pool_health(simulate(rng, {f"n{i}": 0.30 for i in range(8)}, 200), RULES)
        warns += sum(v.status != Status.OK for v in verdict.values())
    assert warns / (150 * 8) < 0.01


def test_number_calling_only_at_bad_hours_is_not_blamed():
    own = {12: Counts(100, 21), 13: Counts(100, 20)}  # 20% at lunch
    pool = {12: Counts(1000, 200), 13: Counts(1000, 210), 10: Counts(5000, 1500)}
    assert number_health("x", own, pool, RULES).status == Status.OK


def test_too_few_comparable_calls_is_insufficient():
    own = {10: Counts(30, 0), 22: Counts(500, 0)}  # 22:00 has no pool calls to compare with
    pool = {10: Counts(3000, 900)}
    h = number_health("x", own, pool, RULES)
    assert h.status == Status.INSUFFICIENT and h.calls == 30


def test_a_third_of_the_rate_is_rested_within_a_bounded_number_of_calls():
    """Sequential checks every 10 calls: the labelled number is warned and rested soon; the
    false-warning rate of healthy numbers checked the same way stays small."""
    warn_at, rest_at, false_warn = [], [], 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        pool = {12: Counts(4000, 1200)}
        bad_calls = bad_ans = ok_calls = ok_ans = 0
        w = r = None
        fw = False
        for step in range(1, 41):
            bad_ans += int(rng.binomial(10, 0.10))
            ok_ans += int(rng.binomial(10, 0.30))
            bad_calls += 10
            ok_calls += 10
            hb = number_health("bad", {12: Counts(bad_calls, bad_ans)}, pool, RULES)
            hk = number_health("ok", {12: Counts(ok_calls, ok_ans)}, pool, RULES)
            if w is None and hb.status in (Status.WARN, Status.REST):
                w = step * 10
            if r is None and hb.status == Status.REST:
                r = step * 10
            fw = fw or hk.status != Status.OK and hk.status != Status.INSUFFICIENT
        warn_at.append(w)
        rest_at.append(r)
        false_warn += fw
    assert all(x is not None and x <= 150 for x in warn_at)
    assert all(x is not None and x <= 250 for x in rest_at)
    assert false_warn <= 2


def test_a_local_number_alone_in_its_region_is_judged_against_the_same_hours():
    """Local presence: each number serves one province, so no other number has calls in its
    (hour, region) cells; the pool's rate at the same hours still gives a verdict."""
    pool = {(h, region): Counts(200, 60) for h in HOURS for region in ("Hebei", "Henan", "Hubei")}
    healthy = {(h, "Guangdong"): Counts(20, 6) for h in HOURS}
    labelled = {(h, "Guangdong"): Counts(20, 1) for h in HOURS}
    ok = number_health("gd", healthy, pool, RULES)
    assert ok.status == Status.OK and abs(ok.expected - 0.30) < 0.01
    bad = number_health("gd", labelled, pool, RULES)
    assert bad.status == Status.REST and "same hours and regions" in bad.reason


def test_insufficient_says_how_many_more_calls_it_needs():
    pool = {(10, "Hebei"): Counts(1000, 300)}
    h = number_health("x", {(10, "Guangdong"): Counts(12, 3)}, pool, RULES)
    assert h.status == Status.INSUFFICIENT and h.needs == RULES.min_calls - 12
    assert f"needs {RULES.min_calls - 12} more" in h.reason
    assert abs(h.expected - 0.30) < 0.01  # the comparison is shown even before a verdict
