"""The per-(zone, region, day) span cache gives the answers of a cold computation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer_core.compliance import WeeklyHours, WindowRules, region_of, windows
from dialer_core.compliance.windows import add_calling_hours, next_open, window_check

ALASKA = "+19075551234"  # two zones, both with DST
WARM = WindowRules(WeeklyHours.every_day("08:00-21:00"))


def _cold() -> WindowRules:
    return WindowRules(WeeklyHours.every_day("08:00-21:00"))


@settings(max_examples=150, deadline=None)
@given(
    at=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    hours=st.integers(min_value=0, max_value=200),
)
def test_cached_spans_answer_like_a_cold_computation_across_dst(at: datetime, hours: int) -> None:
    region = region_of(ALASKA)
    delay = timedelta(hours=hours)
    assert bool(window_check(region, at, WARM)) == bool(window_check(region, at, _cold()))
    assert next_open(region, at, WARM) == next_open(region, at, _cold())
    assert add_calling_hours(at, delay, region, WARM) == add_calling_hours(
        at, delay, region, _cold()
    )


def test_span_cache_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(windows, "SPAN_CACHE_SIZE", 10)
    rules = _cold()
    start = datetime(2026, 3, 1, tzinfo=UTC)
    assert add_calling_hours(start, timedelta(days=20), region_of(ALASKA), rules) is not None
    assert 0 < len(rules._day_spans) <= 10
