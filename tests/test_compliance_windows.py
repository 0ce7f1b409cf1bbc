"""Calling windows: regions, zones, DST, holidays, overrides, calling-hours arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import phonenumbers
import phonenumbers.timezone
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer_core.compliance import (
    Allowed,
    Denied,
    Holiday,
    HolidayCalendar,
    Region,
    WeeklyHours,
    WindowRules,
    ZoneUnknown,
    add_calling_hours,
    next_open,
    open_until,
    parse_hours,
    province_key,
    region_of,
    window_check,
)
from dialer_core.compliance.windows import zone

NY = "+12125551234"
ALASKA = "+19075551234"  # Adak and Anchorage: two candidate zones
GUANGZHOU = "+862088888888"
BEIJING_MOBILE = "+8613800138000"
LONDON = "+442071234567"
US_8_21 = WindowRules(WeeklyHours.every_day("08:00-21:00"))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_region_of_chinese_mobile_gives_province_city_and_shanghai_zone():
    r = region_of("+8613912345678")
    assert r == Region("CN", "Jiangsu", "Changzhou", ("Asia/Shanghai",))
    assert r.keys() == ("CN/Jiangsu/Changzhou", "CN/Jiangsu", "CN")


def test_region_of_municipality_and_us_state():
    assert region_of(BEIJING_MOBILE).province == "Beijing"
    ny = region_of(NY)
    assert (ny.country, ny.province, ny.tz) == ("US", "NY", "America/New_York")
    assert region_of("+13105551234").province == "CA"


def test_region_of_national_chinese_range_has_zone_but_no_province():
    r = region_of("+8617012345678")
    assert isinstance(r, Region) and r.province is None and r.zones == ("Asia/Shanghai",)


def test_unknown_zone_is_reported_never_guessed():
    for bad in ("+15555555555", "12345", "+99912345"):
        r = region_of(bad)
        assert isinstance(r, ZoneUnknown), bad
        assert "5555555" not in r.number  # masked


def test_extra_zones_from_address_are_added_not_substituted():
    r = region_of(NY, ("America/Los_Angeles",))
    assert r.zones == ("America/Los_Angeles", "America/New_York")


def test_province_key_accepts_chinese_and_english_names():
    assert (
        province_key("广东省") == province_key("广东") == province_key("guangdong") == "Guangdong"
    )
    assert province_key("新疆维吾尔自治区") == "Xinjiang"
    assert province_key("California") == "CA"


def test_parse_hours_rejects_overlaps_and_overnight():
    assert parse_hours("08:00-12:00, 13:00-24:00") == ((480, 720), (780, 1440))
    for bad in ("21:00-08:00", "08:00-12:00,11:00-13:00", "8-9", "25:00-26:00"):
        try:
            parse_hours(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


def test_us_spring_forward_moves_the_utc_opening_by_an_hour():
    ny = region_of(NY)
    # Saturday 2025-03-08 is EST (UTC-5): 08:00 local = 13:00 UTC.
    assert isinstance(window_check(ny, utc(2025, 3, 8, 12, 30), US_8_21), Denied)
    assert next_open(ny, utc(2025, 3, 8, 12, 30), US_8_21) == utc(2025, 3, 8, 13, 0)
    # Monday 2025-03-10 is EDT (UTC-4): 08:00 local = 12:00 UTC.
    assert isinstance(window_check(ny, utc(2025, 3, 10, 12, 30), US_8_21), Allowed)
    # Evening of the change day: 21:00 EDT = 01:00 UTC.
    assert open_until(ny, utc(2025, 3, 9, 20, 0), US_8_21) == utc(2025, 3, 10, 1, 0)


def test_us_fall_back_evening_close():
    ny = region_of(NY)
    # 2025-11-02 EST after 06:00 UTC: 21:00 local = 02:00 UTC on 11-03.
    assert open_until(ny, utc(2025, 11, 2, 20, 0), US_8_21) == utc(2025, 11, 3, 2, 0)
    assert isinstance(window_check(ny, utc(2025, 11, 3, 1, 30), US_8_21), Allowed)
    assert isinstance(window_check(ny, utc(2025, 11, 3, 2, 0), US_8_21), Denied)


def test_several_candidate_zones_require_the_window_open_in_every_zone():
    ak = region_of(ALASKA)
    # Every zone of area code 907 (the numbering plan's data), not only the exchange's.
    assert {"America/Adak", "America/Anchorage"} <= set(ak.zones)
    assert "Pacific/Honolulu" in ak.zones
    # July: Anchorage UTC-8 opens 16:00 UTC, Adak UTC-9 17:00, Honolulu UTC-10 18:00.
    d = window_check(ak, utc(2025, 7, 1, 16, 30), US_8_21)
    assert isinstance(d, Denied) and d.next_open_utc == utc(2025, 7, 1, 18, 0)
    assert isinstance(window_check(ak, utc(2025, 7, 1, 18, 0), US_8_21), Allowed)
    # Anchorage closes first: 21:00 AKDT = 05:00 UTC.
    assert open_until(ak, utc(2025, 7, 1, 20, 0), US_8_21) == utc(2025, 7, 2, 5, 0)


def test_area_codes_spanning_zones_need_every_zone_unless_the_address_is_known():
    for npa in ("423", "850", "270", "812"):
        r = region_of(f"+1{npa}5550123")
        assert isinstance(r, Region), npa
        assert {"America/New_York", "America/Chicago"} <= set(r.zones), npa
    # 07:30 Central = 08:30 Eastern: not yet callable anywhere in 423.
    tn = "+14235550123"
    at = utc(2025, 7, 1, 12, 30)
    assert isinstance(window_check(region_of(tn), at, US_8_21), Denied)
    # With an address zone: the exchange's zone(s) and the address's, not the whole area code.
    exchange = set(phonenumbers.timezone.time_zones_for_number(phonenumbers.parse(tn)))
    known = region_of(tn, ("America/New_York",))
    assert set(known.zones) == exchange | {"America/New_York"}
    for npa, zones in (
        ("208", {"America/Denver", "America/Los_Angeles"}),
        ("541", {"America/Denver", "America/Los_Angeles"}),
    ):
        r = region_of(f"+1{npa}5550123")
        assert zones <= set(r.zones), npa


def test_province_override_and_country_default_in_china():
    rules = WindowRules(
        WeeklyHours.every_day("08:00-21:00"),
        overrides={"CN/Guangdong": WeeklyHours.every_day("09:00-20:00")},
    )
    at = utc(2025, 6, 2, 0, 30)  # 08:30 in China
    assert isinstance(window_check(region_of(GUANGZHOU), at, rules), Denied)
    assert isinstance(window_check(region_of(BEIJING_MOBILE), at, rules), Allowed)
    assert next_open(region_of(GUANGZHOU), at, rules) == utc(2025, 6, 2, 1, 0)


def test_limit_clips_every_override():
    rules = WindowRules(
        WeeklyHours.every_day("07:00-23:00"),
        overrides={"CN": WeeklyHours.every_day("06:00-23:30")},
        limit=parse_hours("08:00-22:00"),
    )
    r = region_of(BEIJING_MOBILE)
    assert isinstance(window_check(r, utc(2025, 6, 1, 23, 30), rules), Denied)  # 07:30
    assert isinstance(window_check(r, utc(2025, 6, 2, 14, 0), rules), Denied)  # 22:00
    assert isinstance(window_check(r, utc(2025, 6, 2, 13, 59), rules), Allowed)


def test_holiday_closes_the_day_and_reduced_hours_apply_per_region():
    cal = HolidayCalendar(
        (
            Holiday(date(2025, 10, 1), date(2025, 10, 3), "National Day", ("CN",)),
            Holiday(
                date(2025, 10, 4),
                date(2025, 10, 4),
                "short",
                ("CN/Guangdong",),
                parse_hours("10:00-12:00"),
            ),
        )
    )
    rules = WindowRules(WeeklyHours.every_day("08:00-21:00"), holidays=cal)
    gz = region_of(GUANGZHOU)
    d = window_check(gz, utc(2025, 10, 2, 4, 0), rules)
    assert isinstance(d, Denied) and d.retry_at == utc(2025, 10, 4, 2, 0)  # 10:00 on the 4th
    assert isinstance(
        window_check(region_of(BEIJING_MOBILE), utc(2025, 10, 4, 1, 0), rules), Allowed
    )
    assert isinstance(window_check(region_of(NY), utc(2025, 10, 2, 14, 0), rules), Allowed)


def test_add_calling_hours_skips_the_night():
    gz = region_of(GUANGZHOU)
    rules = WindowRules(WeeklyHours.every_day("08:00-21:00"))
    start = utc(2025, 6, 2, 12, 0)  # 20:00 local: one hour left
    assert add_calling_hours(start, timedelta(hours=2), gz, rules) == utc(2025, 6, 3, 1, 0)
    # Exactly at the close: moves to the next opening.
    assert add_calling_hours(start, timedelta(hours=1), gz, rules) == utc(2025, 6, 3, 0, 0)
    closed = WindowRules(WeeklyHours.every_day("closed"))
    assert add_calling_hours(start, timedelta(hours=1), gz, closed) is None
    assert next_open(gz, start, closed) is None


def test_naive_now_is_refused():
    try:
        window_check(region_of(NY), datetime(2025, 1, 1, 12), US_8_21)
    except ValueError as exc:
        assert "timezone-aware" in str(exc)
    else:
        raise AssertionError("naive datetime accepted")


NUMBERS = [NY, ALASKA, GUANGZHOU, LONDON, "+61212345678", "+13065551234", "+18085551234"]
hours_text = st.sampled_from(
    ["08:00-21:00", "09:00-12:00,14:00-18:00", "00:00-24:00", "closed", "01:30-03:30"]
)
instants = st.datetimes(datetime(2024, 1, 1), datetime(2027, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)


def _open_by_wall_clock(region: Region, at: datetime, rules: WindowRules) -> bool:
    """Independent oracle: the local wall-clock minute lies inside the day's hours everywhere."""
    for name in region.zones:
        local = at.astimezone(zone(name))
        minute = local.hour * 60 + local.minute + local.second / 60
        if not any(s <= minute < e for s, e in rules.hours_on(region, local.date())):
            return False
    return True


@settings(max_examples=150, deadline=None)
@given(
    number=st.sampled_from(NUMBERS),
    weekday=hours_text,
    weekend=hours_text,
    now=instants,
    extra=st.sampled_from([(), ("Europe/Paris",), ("America/Chicago", "Asia/Tokyo")]),
)
def test_never_open_outside_the_window_in_any_zone(number, weekday, weekend, now, extra):
    rules = WindowRules(
        WeeklyHours.from_table({"default": weekday, "sat": weekend, "sun": weekend})
    )
    region = region_of(number, extra)
    d = window_check(region, now, rules)
    if isinstance(d, Allowed):
        assert _open_by_wall_clock(region, now, rules)
        return
    if d.retry_at is not None:
        assert d.retry_at > now
        assert isinstance(window_check(region, d.retry_at, rules), Allowed)
        assert _open_by_wall_clock(region, d.retry_at, rules)
        # Nothing opened in between (sampled every 13 minutes).
        t = now
        while t < d.retry_at and t < now + timedelta(days=2):
            assert isinstance(window_check(region, t, rules), Denied)
            t += timedelta(minutes=13)


def test_cn_regional_clock_xinjiang_needs_the_window_open_on_urumqi_time_too():
    from dialer_core.compliance import load_compliance

    rules = load_compliance({"preset": "cn"}, "t.toml").window
    urumqi = region_of("+869912345678")
    assert urumqi.zones == ("Asia/Shanghai",)  # the official zone of the number
    # 09:30 Beijing is 07:30 in Urumqi: closed; opens at 08:00 Urumqi = 10:00 Beijing.
    d = window_check(urumqi, utc(2025, 6, 3, 1, 30), rules)
    assert isinstance(d, Denied) and d.next_open_utc == utc(2025, 6, 3, 2, 0)
    assert "Asia/Urumqi" in d.reason
    assert isinstance(
        window_check(region_of(BEIJING_MOBILE), utc(2025, 6, 3, 1, 30), rules), Allowed
    )
    # A campaign can add its own regional clocks; a bad zone names the key.
    from dialer_core.compliance import ConfigError

    with pytest.raises(ConfigError, match='region_clock."CN/Tibet"'):
        load_compliance({"preset": "cn", "region_clock": {"CN/Tibet": "Mars/Base"}}, "t.toml")
