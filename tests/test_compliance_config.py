"""Presets and campaign overrides; errors name the file, the key and what was expected."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from dialer_core.compliance import (
    CalendarError,
    ConfigError,
    load_compliance,
    load_compliance_file,
    load_holidays,
    load_preset,
    parse_duration,
)

CONF = Path(__file__).resolve().parents[1] / "conf" / "compliance"


def test_presets_encode_the_reference_rules():
    cn = load_compliance({"preset": "cn"}, "c.toml")
    assert cn.caps.connected_debtor_day == 3
    assert cn.window.limit == ((480, 1320),)
    assert cn.window.hours.on(0) == ((480, 1260),)
    us = load_compliance({"preset": "us"}, "c.toml")
    assert us.caps.case_7d == 7 and us.caps.quiet_after_conversation == timedelta(days=7)
    assert {"busy", "invalid_number", "congestion"}.isdisjoint(us.caps.counted)
    assert "no_answer" in us.caps.counted and "abandoned" in us.caps.counted
    assert us.abandon.window_hours == 720
    uk = load_compliance({"preset": "uk"}, "c.toml")
    assert uk.caps.abandon_lockout == timedelta(hours=72) and uk.caps.machine_same_day
    assert uk.abandon.window_hours == 24 and uk.window.limit is None


def test_every_preset_value_can_be_overridden():
    r = load_compliance(
        {
            "preset": "cn",
            "hours": {"sun": "closed"},
            "limit": False,
            "caps": {"connected_case_day": 2, "counted": ["no_answer"]},
            "redial": {"busy": {"delay": "5m"}},
            "abandon": {"target": 0.02, "prompt": "cn-safe-harbor"},
            "region": {"cn/广东省": {"hours": "09:00-20:00"}},
        },
        "camp.toml",
    )
    assert r.window.hours.on(6) == () and r.window.hours.on(0) == ((480, 1260),)
    assert r.window.limit is None
    assert r.caps.connected_case_day == 2 and r.caps.counted == frozenset({"no_answer"})
    busy = r.redial.rule_for("busy")
    assert busy.delay == timedelta(minutes=5) and busy.max_streak == 5  # merged key by key
    assert r.abandon.target == 0.02 and r.abandon.prompt == "cn-safe-harbor"
    assert "CN/Guangdong" in r.window.overrides


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"preset": "fr"}, "camp.toml: compliance.preset: expected one of cn, us, uk"),
        ({"hourz": "x"}, "camp.toml: compliance.hourz: unknown key"),
        ({"hours": "8-21"}, 'camp.toml: compliance.hours: expected "HH:MM-HH:MM"'),
        ({"hours": {"mon": "21:00-08:00"}}, "compliance.hours: mon: end must be after start"),
        ({"caps": {"phone_day": -1}}, "compliance.caps.phone_day: expected a non-negative"),
        ({"caps": {"counted": ["nope"]}}, "compliance.caps.counted: unknown disposition 'nope'"),
        ({"caps": {"abandon_lockout": "3 fortnights"}}, "caps.abandon_lockout: expected a dur"),
        ({"caps": {"quiet_after_conversation": "36h"}}, "expected whole days"),
        ({"redial": {"bussy": {}}}, "compliance.redial.bussy: unknown key"),
        ({"redial": {"busy": {"max_streak": 0}}}, "redial.busy.max_streak: expected at least 1"),
        ({"abandon": {"target": 3}}, "abandon.target: expected a fraction between 0 and 0.2"),
        ({"region": {"CN/Guangdong": {}}}, 'region."CN/Guangdong".hours: missing'),
        ({"holidays": "missing.toml"}, "compliance.holidays: "),
    ],
)
def test_bad_settings_name_file_key_and_expectation(table, message, tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_compliance(table, "camp.toml", tmp_path)
    assert message in str(exc.value)


def test_durations():
    assert parse_duration("1h30m", "k") == timedelta(minutes=90)
    assert parse_duration(45, "k") == timedelta(seconds=45)
    assert parse_duration("2w", "k") == timedelta(days=14)
    with pytest.raises(ConfigError):
        parse_duration(True, "k")


def test_shipped_holiday_calendar_and_example_campaign_load():
    cal = load_holidays(CONF / "holidays-cn-2025.toml")
    assert any(h.name.startswith("National Day") for h in cal.holidays)
    rules = load_compliance_file(CONF / "example-campaign.toml")
    assert rules.preset == "cn" and rules.window.holidays.holidays
    for name in ("cn", "us", "uk"):
        assert isinstance(load_preset(name), dict)


def test_bad_holiday_file_names_file_entry_and_key(tmp_path):
    bad = tmp_path / "h.toml"
    bad.write_text('[[holiday]]\ndate = 2025-10-01\n[[holiday]]\ndate = "2025-10-02"\n')
    with pytest.raises(CalendarError, match=r"h.toml: holiday\[1\].date: expected a TOML date"):
        load_holidays(bad)
    bad.write_text('[[holiday]]\ndate = 2025-10-01\nhours = "x"\n')
    with pytest.raises(CalendarError, match=r"holiday\[0\].hours"):
        load_holidays(bad)
    bad.write_text("[[holiday]\n")
    with pytest.raises(CalendarError, match="invalid TOML"):
        load_holidays(bad)


def test_campaign_file_errors_name_the_file(tmp_path):
    f = tmp_path / "camp.toml"
    f.write_text('[compliance]\npreset = "us"\n[compliance.caps]\ncase_7d = "seven"\n')
    with pytest.raises(ConfigError, match=r"camp.toml: compliance.caps.case_7d: expected"):
        load_compliance_file(f)
    assert tomllib.loads(f.read_text())["compliance"]["preset"] == "us"
