"""Routing answered calls to the robot or a human queue from the campaign's [routing] rules."""

from __future__ import annotations

import datetime as dt
import tomllib

import pytest

from agi_scripts.router import (
    CallContext,
    RouteDecision,
    RoutingConfigError,
    dpd_bucket,
    load_strategy,
    parse_strategy,
    route,
)

CAMPAIGN = """
[routing]
default = { action = "queue", queue = "collectors" }

[[routing.rules]]
name = "guangdong team"
province = ["广东省"]
action = "queue"
queue = "team_gd"

[[routing.rules]]
name = "evening robot"
time_of_day = ["20:00-08:00"]
action = "robot"
script = "reminder_zh"

[[routing.rules]]
name = "early stage robot"
dpd_max = 30
amount_max = 5000
product = ["消费贷", "cash"]
attempt_max = 3
action = "robot"
script = "reminder_zh"
queue = "robot_escalation"

[[routing.rules]]
name = "big M2 weekend"
dpd_bucket = ["M2"]
amount_min = 20000.5
weekday = ["sat", "sun"]
action = "queue"
queue = "seniors"
"""
# 2025-03-12 is a Wednesday; 02:00 UTC = 10:00 in Shanghai
WED_10 = dt.datetime(2025, 3, 12, 2, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def strategy():
    table = tomllib.loads(CAMPAIGN)["routing"]
    return parse_strategy(table, "spring.toml", known_scripts={"reminder_zh"})


def call(**kw) -> CallContext:
    base = dict(case_id="c1", province="四川", city="成都", days_past_due=10,
                amount_owed_minor=325_000, product="消费贷", attempt=1)  # fmt: skip
    return CallContext(**{**base, **kw})


def test_low_dpd_small_amount_goes_to_the_robot(strategy):
    decision = route(call(), strategy, WED_10)
    assert decision == RouteDecision(
        "robot", "reminder_zh", "robot_escalation", "early stage robot"
    )


def test_province_rule_wins_first_and_names_are_normalised(strategy):
    for province in ("广东", "广东省", "guangdong", "Guangdong", "Guangdong Province"):
        decision = route(call(province=province), strategy, WED_10)
        assert (decision.action, decision.queue, decision.rule) == ("queue", "team_gd",
                                                                    "guangdong team")  # fmt: skip


@pytest.mark.parametrize(
    "change",
    [
        {"days_past_due": 31},
        {"amount_owed_minor": 500_001},
        {"product": "mortgage"},
        {"attempt": 4},
    ],
)
def test_each_condition_can_exclude_the_robot(strategy, change):
    assert route(call(**change), strategy, WED_10).rule == "default"


def test_boundaries_are_inclusive(strategy):
    c = call(days_past_due=30, amount_owed_minor=500_000, attempt=3)
    assert route(c, strategy, WED_10).action == "robot"


def test_time_of_day_is_local_and_wraps_midnight(strategy):
    late = call(days_past_due=90)
    # 13:30 UTC = 21:30 Shanghai → evening rule; 23:30 UTC = 07:30 next day → still evening
    assert route(late, strategy, dt.datetime(2025, 3, 12, 13, 30, tzinfo=dt.UTC)).rule == (
        "evening robot"
    )
    assert route(late, strategy, dt.datetime(2025, 3, 12, 23, 30, tzinfo=dt.UTC)).rule == (
        "evening robot"
    )
    assert route(late, strategy, dt.datetime(2025, 3, 12, 0, 30, tzinfo=dt.UTC)).rule == "default"
    # the same instant in Urumqi (UTC+6) is 19:30: not evening yet
    west = call(days_past_due=90, timezone="Asia/Urumqi")
    assert route(west, strategy, dt.datetime(2025, 3, 12, 13, 30, tzinfo=dt.UTC)).rule == "default"


def test_bucket_amount_and_weekday(strategy):
    big = call(days_past_due=45, amount_owed_minor=2_000_050)
    saturday = dt.datetime(2025, 3, 15, 2, 0, tzinfo=dt.UTC)
    assert route(big, strategy, saturday).queue == "seniors"
    assert route(big, strategy, WED_10).rule == "default"
    assert route(call(days_past_due=45, amount_owed_minor=2_000_049), strategy, saturday).rule == (
        "default"
    )


def test_naive_now_is_refused(strategy):
    with pytest.raises(ValueError, match="timezone-aware"):
        route(call(), strategy, dt.datetime(2025, 3, 12, 10, 0))


@pytest.mark.parametrize(
    ("dpd", "bucket"),
    [
        (-5, "M0"),
        (0, "M0"),
        (1, "M1"),
        (30, "M1"),
        (31, "M2"),
        (180, "M6"),
        (181, "M7"),
        (900, "M7"),
    ],  # fmt: skip
)
def test_dpd_bucket(dpd, bucket):
    assert dpd_bucket(dpd) == bucket


def test_errors_name_file_and_key():
    table = {
        "default": {"action": "robot"},
        "extra": 1,
        "rules": [
            {"dpd_max": "thirty", "action": "queue", "queue": "q"},
            {"province": [], "action": "robot", "script": "nope"},
            {"time_of_day": ["9-12"], "weekday": ["funday"], "action": "queue", "queue": "q"},
            {"dpd_min": 40, "dpd_max": 30, "amount_max": 10.001, "action": "queue", "queue": "q"},
            {"action": "queue", "queue": "q", "colour": "red"},
            {"dpd_bucket": ["M9"], "action": "hangup"},
        ],
    }
    with pytest.raises(RoutingConfigError) as err:
        parse_strategy(table, "spring.toml", known_scripts={"reminder_zh"})
    text = str(err.value)
    for expected in [
        "spring.toml: routing.default.script: a robot route needs a script name",
        "spring.toml: routing.extra: unknown key",
        "spring.toml: routing.rules[0].dpd_max: expected an integer >= -3650, got 'thirty'",
        "spring.toml: routing.rules[1].province: expected a string or a non-empty list",
        "spring.toml: routing.rules[1].script: unknown robot script 'nope'",
        'spring.toml: routing.rules[2].time_of_day: expected windows like "09:00-12:00"',
        "spring.toml: routing.rules[2].weekday: unknown day(s) ['funday']",
        "spring.toml: routing.rules[3].dpd_min: greater than dpd_max",
        "spring.toml: routing.rules[3].amount_max: expected an amount >= 0 in major units",
        "spring.toml: routing.rules[4].colour: unknown key",
        "spring.toml: routing.rules[4]: rule has no condition",
        'spring.toml: routing.rules[5].action: expected "robot" or "queue", got \'hangup\'',
        "spring.toml: routing.rules[5].dpd_bucket: unknown bucket(s) ['M9']",
    ]:
        assert expected in text, expected


def test_load_strategy_from_campaign_file(tmp_path):
    path = tmp_path / "spring.toml"
    path.write_text(CAMPAIGN, encoding="utf-8")
    strategy = load_strategy(path, known_queues={"collectors", "team_gd", "robot_escalation",
                                                 "seniors"})  # fmt: skip
    assert len(strategy.rules) == 4
    with pytest.raises(RoutingConfigError, match="routing.rules\\[0\\].queue: unknown queue"):
        load_strategy(path, known_queues={"collectors"})
    path.write_text("[pacing]\nmode = 'progressive'\n", encoding="utf-8")
    with pytest.raises(RoutingConfigError, match="spring.toml: routing: missing"):
        load_strategy(path)
