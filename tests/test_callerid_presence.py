"""Local-presence caller-ID choice and its config."""

from __future__ import annotations

import pytest

from dialer_core.callerid import (
    CallerIdChoice,
    CallerNumber,
    NoCallerId,
    choose_caller_id,
    load_callerid,
    presence_mismatch,
)
from dialer_core.compliance import ConfigError, region_of

GZ_CALLEE = region_of("+862088888888")  # Guangzhou, Guangdong
SZ_CALLEE = region_of("+8675588888888")  # Shenzhen, Guangdong
BJ_CALLEE = region_of("+8613800138000")  # Beijing
POOL = (
    CallerNumber("+862000000001", "CN", "Guangdong", "Guangzhou"),
    CallerNumber("+862000000002", "CN", "Guangdong", "Guangzhou"),
    CallerNumber("+867550000001", "CN", "Guangdong", "Shenzhen"),
    CallerNumber("+861000000001", "CN", None, None, default=True),
)


def test_city_then_province_then_default():
    assert choose_caller_id(GZ_CALLEE, POOL, {}, 10) == CallerIdChoice("+862000000001", "city", 0)
    dg = region_of("+8676988888888")  # Dongguan, Guangdong: no city number
    assert choose_caller_id(dg, POOL, {}, 10).tier == "province"
    assert choose_caller_id(BJ_CALLEE, POOL, {}, 10) == CallerIdChoice(
        "+861000000001", "default", 0
    )


def test_least_used_first_and_daily_cap_falls_through():
    used = {"+862000000001": 5, "+862000000002": 3}
    assert choose_caller_id(GZ_CALLEE, POOL, used, 10).number == "+862000000002"
    capped = {"+862000000001": 10, "+862000000002": 10}
    c = choose_caller_id(GZ_CALLEE, POOL, capped, 10)
    assert (c.number, c.tier) == ("+867550000001", "province")


def test_resting_numbers_are_skipped_and_nothing_left_means_no_call():
    resting = {"+862000000001", "+862000000002", "+867550000001"}
    assert choose_caller_id(GZ_CALLEE, POOL, {}, 10, resting).tier == "default"
    none = choose_caller_id(GZ_CALLEE, POOL, {"+861000000001": 10}, 10, resting)
    assert isinstance(none, NoCallerId) and "daily cap" in none.reason


def test_presence_mismatch_for_audit():
    assert presence_mismatch(SZ_CALLEE, "+867550000001", POOL) is None
    assert presence_mismatch(SZ_CALLEE, "+861000000001", POOL) is None  # default pool
    # Another city of the callee's province: the chooser's province tier, so not a finding.
    assert presence_mismatch(SZ_CALLEE, "+862000000001", POOL) is None
    assert "Guangdong" in presence_mismatch(BJ_CALLEE, "+867550000001", POOL)
    assert "not in the campaign's pool" in presence_mismatch(BJ_CALLEE, "+869999", POOL)
    assert "no caller ID" in presence_mismatch(BJ_CALLEE, "", POOL)


@pytest.mark.parametrize(
    "callee", ["+862088888888", "+8675588888888", "+8676988888888", "+8613800138000"]
)
def test_whatever_the_chooser_picks_the_audit_accepts(callee):
    """One definition of a right caller ID: every number the chooser can present (any caps,
    any resting set) passes the audit's check for the same callee."""
    region = region_of(callee)
    numbers = [n.number for n in POOL]
    for mask in range(1 << len(numbers)):
        resting = {n for i, n in enumerate(numbers) if mask >> i & 1}
        for used in ({}, dict.fromkeys(numbers[:2], 10), dict.fromkeys(numbers[1:3], 10)):
            choice = choose_caller_id(region, POOL, used, 10, resting)
            if isinstance(choice, CallerIdChoice):
                assert presence_mismatch(region, choice.number, POOL) is None


def test_load_callerid_normalizes_province_names():
    cfg = load_callerid(
        {
            "daily_cap": 200,
            "numbers": [{"number": "+862000000001", "province": "广东省", "city": "Guangzhou"}],
        },
        "camp.toml",
    )
    assert cfg.daily_cap == 200 and cfg.numbers[0].province == "Guangdong"
    assert cfg.numbers[0].country == "CN"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"numbers": [{"number": "020-1234"}]}, "callerid.numbers[0].number: expected an E.164"),
        ({"numbers": [{"number": "+862000000001", "pool": "x"}]}, "numbers[0].pool: unknown"),
        ({"daily_cap": 0}, "callerid.daily_cap: expected a positive integer"),
        ({"health": {"min_calls": "x"}}, "callerid.health.min_calls: expected a non-negative"),
        ({"health": {"alpha": 1}}, "callerid.health.alpha: unknown key"),
        ({"numbers": [{"number": "+862000000001"}, {"number": "+862000000001"}]}, "twice"),
    ],
)
def test_bad_callerid_tables_name_the_key(table, message):
    with pytest.raises(ConfigError) as exc:
        load_callerid(table, "camp.toml")
    assert "camp.toml: " in str(exc.value) and message in str(exc.value)
