"""Redial rules per disposition: delays, calling-hours delays, streaks, stops, lock-outs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialer_core.compliance import Contact, DncList, PastAttempt, check_contact, load_compliance
from dialer_core.compliance import next_attempt as na

SZ = "+8675588888888"
SZ2 = "+8613912345678"
CN = load_compliance({"preset": "cn", "caps": {"phone_day": False}}, "t.toml")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def att(at, disp, phone=SZ, **kw) -> PastAttempt:
    return PastAttempt(at, phone, "c1", disp, **kw)


def test_busy_retries_after_ten_minutes():
    t = utc(2025, 6, 2, 2, 0)  # 10:00 China
    d = na(att(t, "busy"), [], t, CN)
    assert d.next_at == t + timedelta(minutes=10) and not d.stop_phone


def test_no_answer_delay_counts_only_calling_hours():
    t = utc(2025, 6, 2, 12, 30)  # 20:30 China: 30 min left today
    d = na(att(t, "no_answer"), [], t, CN)
    assert d.next_at == utc(2025, 6, 3, 1, 30)  # 08:00 + 1h30 the next day


def test_invalid_number_stops_the_phone_and_moves_on():
    t = utc(2025, 6, 2, 2, 0)
    d = na(att(t, "invalid_number"), [], t, CN)
    assert d.next_at is None and d.stop_phone and d.next_phone
    later = check_contact(
        Contact("c1", SZ), [att(t, "invalid_number")], t + timedelta(days=30), CN, DncList()
    )
    assert not later and later.code == "phone_stopped" and later.retry_at is None
    assert check_contact(Contact("c1", SZ2), [att(t, "invalid_number")], t, CN, DncList())


def test_busy_streak_reaches_its_maximum_then_stops_the_phone():
    t = utc(2025, 6, 2, 2, 0)
    hist = [att(t + timedelta(minutes=10 * i), "busy") for i in range(4)]
    d = na(att(t + timedelta(minutes=40), "busy"), hist, t + timedelta(minutes=40), CN)
    assert d.next_at is None and d.stop_phone
    broken = [*hist[:2], att(t + timedelta(minutes=25), "no_answer"), *hist[2:]]
    assert na(att(t + timedelta(minutes=40), "busy"), broken, t, CN).next_at is not None


def test_abandoned_locks_out_72_hours_by_default():
    t = utc(2025, 6, 2, 2, 0)
    d = na(att(t, "abandoned", abandoned=True), [], t, CN)
    assert d.next_at == t + timedelta(hours=72)


def test_promise_to_pay_and_done_close_the_case():
    t = utc(2025, 6, 2, 2, 0)
    for disp in ("promise_to_pay", "done"):
        d = na(att(t, disp, connected=True), [], t, CN)
        assert d.close_case and d.next_at is None


def test_next_attempt_respects_caps_and_window():
    t = utc(2025, 6, 2, 2, 0)
    talks = [att(t + timedelta(hours=h), "refused", connected=True) for h in (0, 1, 2)]
    busy = att(t + timedelta(hours=3), "busy", phone=SZ2)
    d = na(busy, talks, t + timedelta(hours=3), CN)
    # Three conversations today: the next call waits for the next local day's window.
    assert d.next_at == utc(2025, 6, 3, 0, 0)


def test_redial_gate_blocks_a_call_before_the_delay():
    t = utc(2025, 6, 2, 2, 0)
    hist = [att(t, "powered_off")]
    d = check_contact(Contact("c1", SZ), hist, t + timedelta(minutes=30), CN, DncList())
    assert not d and d.code == "redial" and d.retry_at == t + timedelta(hours=2)


def test_in_progress_call_blocks_a_second_node():
    t = utc(2025, 6, 2, 2, 0)
    d = check_contact(Contact("c1", SZ), [att(t, "in_progress")], t, CN, DncList())
    assert not d and d.code == "in_progress" and d.retry_at == t + timedelta(minutes=10)


def test_dispositions_reuse_the_pbx_result_names():
    from dialer_core.compliance import Disposition
    from pbx.model import Result

    assert {r.value for r in Result} <= {d.value for d in Disposition}
    assert all(CN.redial.rule_for(r.value) is not None for r in Result)
