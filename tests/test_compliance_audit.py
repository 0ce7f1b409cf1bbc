"""Audit replay: a compliant run has zero violations; each broken record is found."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from dialer_core.callerid import CallerNumber, presence_mismatch
from dialer_core.compliance import (
    AbandonRules,
    ComplianceRules,
    Contact,
    DncList,
    PastAttempt,
    check_contact,
    load_compliance,
    next_attempt,
    region_of,
)
from dialer_core.compliance.abandonment import LiveCall, abandon_days, abandon_windows
from dialer_core.compliance.audit import AuditRecord, abandon_findings, audit

RULES = load_compliance({"preset": "us"}, "camp.toml")
PHONES = ["+12125551234", "+13105551234", "+19075551234", "+18085551234"]
POOL = (CallerNumber("+12125550000", "US", "NY"), CallerNumber("+13125550000", default=True))


def caller_check(r: AuditRecord) -> str | None:
    region = region_of(r.attempt.phone)
    return presence_mismatch(region, r.caller_id, POOL)


def compliant_run(seed: int) -> list[AuditRecord]:
    """Drive check_contact / next_attempt like the runner does over a simulated week."""
    rng = random.Random(seed)
    now = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)  # spans the US DST change
    due = {(f"c{i}", p): now for i, p in enumerate(PHONES)}
    history: dict[str, list[PastAttempt]] = {}
    out = []
    while now < datetime(2025, 3, 14, tzinfo=UTC):
        for (case, phone), at in list(due.items()):
            if at is None or at > now:
                continue
            d = check_contact(Contact(case, phone), history.get(case, []), now, RULES, DncList())
            if not d:
                due[(case, phone)] = d.retry_at
                continue
            disp = rng.choice(["no_answer", "busy", "machine", "refused", "no_answer"])
            a = PastAttempt(now, phone, case, disp, connected=disp == "refused")
            history.setdefault(case, []).append(a)
            out.append(AuditRecord(a, "+13125550000", live=a.connected))
            due[(case, phone)] = next_attempt(a, history[case], now, RULES).next_at
        now += timedelta(minutes=7)
    return out


def test_compliant_run_has_zero_violations():
    records = compliant_run(3)
    assert len(records) > 10
    assert audit(records, RULES, DncList(), caller_check) == []


def test_each_broken_record_is_found():
    records = compliant_run(4)
    case = records[0].attempt.case_id
    phone = records[0].attempt.phone
    late = datetime(2025, 3, 12, 3, 0, tzinfo=UTC)  # 23:00 EDT in New York
    bad = [
        AuditRecord(PastAttempt(late, "+12125551234", "cX", "no_answer"), "+13125550000"),
        AuditRecord(
            PastAttempt(records[0].attempt.at + timedelta(minutes=1), phone, case, "busy"),
            "+12125550000",
        ),
    ]
    found = audit(records + bad, RULES, DncList.of("+1310*"), caller_check)
    codes = {v.code for v in found}
    assert "window" in codes and "redial" in codes and "dnc" in codes
    assert any(v.code == "caller_id" for v in found) == (not phone.startswith("+1212"))
    assert all("5551234" not in v.phone for v in found)


def test_abandon_windows_find_the_bad_stretch_only():
    t0 = datetime(2025, 6, 1, tzinfo=UTC)
    calls = [LiveCall(t0 + timedelta(minutes=i), False) for i in range(200)]
    calls += [LiveCall(t0 + timedelta(hours=30, minutes=i), i % 10 == 0) for i in range(100)]
    found = abandon_windows(calls, timedelta(hours=24), 0.03)
    assert len(found) == 1 and found[0].rate >= 0.1
    assert found[0].start >= t0 + timedelta(hours=6)
    assert abandon_windows(calls[:200], timedelta(hours=24), 0.03) == []
    days = abandon_days(calls, "Europe/London", 0.03)
    # The London day 2025-06-02 starts at 23:00 UTC the day before (BST).
    assert [d.start for d in days] == [datetime(2025, 6, 1, 23, 0, tzinfo=UTC)]


def test_small_windows_and_calendar_days_are_judged_whatever_their_size():
    """A UK day with 7 live calls and 1 abandon (14%) is a finding, as a rolling window and as
    the London calendar day; AMD false positives count as abandoned live calls."""
    rules = ComplianceRules(
        abandon=AbandonRules(target=0.03, window_hours=24, calendar_zone="Europe/London")
    )
    t0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
    recs = [
        AuditRecord(
            PastAttempt(
                t0 + timedelta(minutes=20 * i),
                f"+4420712345{i:02d}",
                f"c{i}",
                "agent_talked",
                connected=True,
            ),
            "+442071234500",
            live=True,
        )
        for i in range(6)
    ]
    fp = AuditRecord(
        PastAttempt(t0 + timedelta(hours=3), "+442071234599", "c99", "machine", machine=True),
        "+442071234500",
        amd_false_positive=True,
    )
    found = abandon_findings([*recs, fp], rules)
    assert {v.code for v in found} == {"abandon_rate", "abandon_day"}
    day = next(v for v in found if v.code == "abandon_day")
    assert day.detail == "1/7 = 14.29% abandoned on 2025-06-02 (calendar day)"
    rolling = next(v for v in found if v.code == "abandon_rate")
    assert rolling.detail.startswith("1/")  # the worst window, its live count shown
    assert abandon_findings(recs, rules) == []
