"""SMS reminders (pure half): template checks, rendering, triggers, caps, backoff."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dialer_core.compliance import PastAttempt
from dialer_core.compliance.sms import (
    CaseFields,
    SmsRules,
    SmsSent,
    TemplateError,
    parse_template,
    render,
    retry_at,
    sms_trigger,
)

PHONE = "+8613800138000"
T = datetime(2025, 6, 2, 3, 0, tzinfo=UTC)


def test_render_fills_case_fields_and_money_in_minor_units():
    tpl = parse_template(
        "{name}您好，欠款{amount}元，到期日{due_date}，还款：{link} {{ok}}", "r.txt"
    )
    text = render(tpl, CaseFields("张三", 123456, date(2025, 6, 5), "https://p.example/x"))
    assert text == "张三您好，欠款1234.56元，到期日2025-06-05，还款：https://p.example/x {ok}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hi {name}\nowe {amont}", "r.txt: line 2: unknown placeholder {amont}"),
        ("owe {amount:.2f}", "r.txt: line 1: {amount} takes no format"),
        ("owe {amount", "r.txt: line 1: "),
        ("   ", "r.txt: line 1: empty template"),
    ],
)
def test_bad_templates_name_file_line_and_placeholder(text, message):
    with pytest.raises(TemplateError) as exc:
        parse_template(text, "r.txt")
    assert message in str(exc.value)


def na(minutes: int) -> PastAttempt:
    return PastAttempt(T + timedelta(minutes=minutes), PHONE, "c1", "no_answer")


def test_no_answer_streak_triggers_once_per_streak():
    rules = SmsRules(days_before_due=None)
    hist = [na(0), na(60), na(120)]
    now = T + timedelta(hours=3)
    due = date(2025, 7, 1)
    assert sms_trigger(PHONE, hist[:2], [], due, now.date(), now, rules) is None
    assert sms_trigger(PHONE, hist, [], due, now.date(), now, rules) == "no_answer_streak"
    sent = [SmsSent(now, "no_answer_streak")]
    later = now + timedelta(days=2)
    assert sms_trigger(PHONE, hist, sent, due, later.date(), later, rules) is None


def test_promise_reminder_and_daily_cap():
    p = PastAttempt(T, PHONE, "c1", "promise_to_pay", connected=True)
    rules = SmsRules()
    now = T + timedelta(hours=2)
    assert sms_trigger(PHONE, [p], [], date(2025, 6, 3), now.date(), now, rules) == "promise"
    sent = [SmsSent(now, "promise")]
    # before_due would fire too, but one SMS per case per day is the cap.
    assert sms_trigger(PHONE, [p], sent, date(2025, 6, 3), now.date(), now, rules) is None
    nxt = now + timedelta(days=1)
    assert sms_trigger(PHONE, [p], sent, date(2025, 6, 4), nxt.date(), nxt, rules) == "before_due"


def test_retry_backoff_gives_up_after_the_schedule():
    rules = SmsRules()
    assert retry_at(1, T, rules) == T + timedelta(seconds=30)
    assert retry_at(3, T, rules) == T + timedelta(minutes=10)
    assert retry_at(4, T, rules) is None
