"""Attempt caps, lock-outs and presets with concrete dates; hypothesis: caps never exceeded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer_core.compliance import (
    Allowed,
    CapRules,
    Contact,
    Denied,
    DncList,
    PastAttempt,
    WeeklyHours,
    WindowRules,
    cap_check,
    check_contact,
    load_compliance,
    region_of,
)
from dialer_core.compliance.rules import ComplianceRules
from dialer_core.compliance.windows import zone

NY = "+12125551234"
NY2 = "+12125559876"
SZ = "+8675588888888"  # Shenzhen
LONDON = "+442071234567"
NO_DNC = DncList()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def att(at, phone=NY, disp="no_answer", case="c1", **kw) -> PastAttempt:
    return PastAttempt(at, phone, case, disp, **kw)


def test_us_seven_in_seven_counts_per_debt_and_excludes_busy():
    rules = load_compliance({"preset": "us"}, "t.toml")
    start = utc(2025, 6, 2, 14, 0)  # 10:00 EDT, Monday
    hist = [
        att(start + timedelta(days=i // 2, hours=3 * (i % 2)), NY if i % 2 else NY2)
        for i in range(7)
    ]
    hist.append(att(start + timedelta(days=3, hours=1), disp="busy"))
    now = start + timedelta(days=4)
    d = cap_check(NY, "c1", region_of(NY), hist, now, rules.caps)
    assert isinstance(d, Denied) and d.code == "cap.case_7d"
    # Frees up when the first call leaves the 7-day period (and its local day 8 starts).
    assert d.retry_at == start + timedelta(days=7)
    # Busy calls alone never count.
    busy = [att(start + timedelta(hours=i), disp="busy") for i in range(10)]
    assert isinstance(cap_check(NY, "c1", region_of(NY), busy, now, rules.caps), Allowed)


def test_us_no_call_within_seven_days_after_a_conversation():
    rules = load_compliance({"preset": "us"}, "t.toml")
    talk = utc(2025, 6, 2, 23, 0)  # 19:00 EDT, Monday
    hist = [att(talk, disp="refused", connected=True)]
    c = Contact("c1", NY2)  # another phone of the same debt
    d = check_contact(c, hist, utc(2025, 6, 9, 14, 0), rules, NO_DNC)
    assert isinstance(d, Denied) and d.code == "quiet.conversation"
    assert d.retry_at == utc(2025, 6, 9, 23, 0)
    assert isinstance(check_contact(c, hist, utc(2025, 6, 9, 23, 0), rules, NO_DNC), Allowed)


def test_cn_three_conversations_per_debtor_per_local_day():
    rules = load_compliance({"preset": "cn", "caps": {"phone_day": False}}, "t.toml")
    day = utc(2025, 6, 2, 1, 0)  # 09:00 in China
    hist = [att(day + timedelta(hours=h), SZ, "refused", connected=True) for h in (0, 2, 4)]
    d = check_contact(
        Contact("c1", "+8613800138000"), hist, day + timedelta(hours=8), rules, NO_DNC
    )
    assert isinstance(d, Denied) and d.code == "cap.connected_debtor_day"
    # Next China midnight is 16:00 UTC; the window opens at 08:00 local = 00:00 UTC.
    assert d.retry_at == utc(2025, 6, 3, 0, 0)


def test_cn_phone_day_cap_uses_the_callee_local_day_not_utc():
    rules = load_compliance({"preset": "cn"}, "t.toml")
    # 23:30 UTC on June 1 is 07:30 June 2 in China: same local day as the later calls.
    hist = [
        att(utc(2025, 6, 1, 23, 30), SZ),
        att(utc(2025, 6, 2, 3, 0), SZ),
        att(utc(2025, 6, 2, 5, 0), SZ),
    ]
    d = cap_check(SZ, "c1", region_of(SZ), hist, utc(2025, 6, 2, 9, 0), rules.caps)
    assert isinstance(d, Denied) and d.code == "cap.phone_day"
    assert d.retry_at == utc(2025, 6, 2, 16, 0)


def test_uk_abandoned_call_locks_the_number_for_72_hours_even_with_a_short_redial():
    table = {"preset": "uk", "redial": {"abandoned": {"delay": "1h"}}}
    rules = load_compliance(table, "t.toml")
    dropped = utc(2025, 6, 2, 10, 0)
    hist = [att(dropped, LONDON, "abandoned", abandoned=True)]
    c = Contact("c1", LONDON)
    d = check_contact(c, hist, dropped + timedelta(hours=71), rules, NO_DNC)
    assert isinstance(d, Denied) and d.code == "lockout.abandoned"
    assert d.retry_at == dropped + timedelta(hours=72)
    assert isinstance(check_contact(c, hist, dropped + timedelta(hours=72), rules, NO_DNC), Allowed)


def test_uk_abandoned_lockout_runs_from_the_end_of_the_call_not_its_launch():
    """The person is abandoned at the answer (after ringing and AMD), not at the launch: an
    outside audit found a re-call 72 h after the launch but 9 s short of 72 h after the drop."""
    rules = load_compliance({"preset": "uk"}, "t.toml")
    launched = utc(2025, 6, 2, 10, 0)
    ended = launched + timedelta(seconds=25)
    hist = [att(launched, LONDON, "machine", abandoned=True, machine=True, ended=ended)]
    c = Contact("c1", LONDON)
    d = check_contact(c, hist, launched + timedelta(hours=72, seconds=10), rules, NO_DNC)
    assert isinstance(d, Denied) and d.code == "lockout.abandoned"
    assert d.retry_at == ended + timedelta(hours=72)
    assert isinstance(check_contact(c, hist, d.retry_at, rules, NO_DNC), Allowed)


def test_uk_machine_verdict_blocks_the_rest_of_the_local_day():
    rules = load_compliance({"preset": "uk"}, "t.toml")
    hist = [att(utc(2025, 6, 2, 9, 0), LONDON, "machine", machine=True)]  # 10:00 BST
    c = Contact("c1", LONDON)
    d = check_contact(c, hist, utc(2025, 6, 2, 15, 0), rules, NO_DNC)
    assert isinstance(d, Denied) and d.code == "lockout.machine"
    assert d.retry_at == utc(2025, 6, 3, 7, 0)  # 08:00 BST next day (window)


def test_lifetime_cap_is_permanent_and_in_progress_always_counts():
    caps = CapRules(phone_lifetime=2, counted=frozenset({"no_answer"}))
    hist = [att(utc(2025, 1, 1, 15, 0)), att(utc(2025, 2, 1, 15, 0), disp="in_progress")]
    d = cap_check(NY, "c1", region_of(NY), hist, utc(2025, 6, 1, 15, 0), caps)
    assert isinstance(d, Denied) and d.code == "cap.phone_lifetime" and d.retry_at is None


DISPOSITIONS = ["no_answer", "busy", "machine", "abandoned", "refused", "powered_off", "answered"]
PHONES = [NY, NY2, "+19075551234"]


@st.composite
def histories(draw):
    start = draw(st.datetimes(datetime(2025, 1, 1), datetime(2026, 12, 1))).replace(tzinfo=UTC)
    n = draw(st.integers(0, 25))
    out = []
    for _ in range(n):
        at = start + timedelta(minutes=draw(st.integers(0, 60 * 24 * 20)))
        disp = draw(st.sampled_from(DISPOSITIONS))
        out.append(
            PastAttempt(
                at,
                draw(st.sampled_from(PHONES)),
                "c1",
                disp,
                connected=disp in ("refused", "answered"),
                abandoned=disp == "abandoned",
                machine=disp == "machine",
            )
        )
    now = start + timedelta(minutes=draw(st.integers(0, 60 * 24 * 25)))
    return out, now


STRICT = ComplianceRules(
    window=WindowRules(WeeklyHours.every_day("08:00-21:00")),
    caps=CapRules(
        phone_day=2,
        case_day=3,
        case_7d=7,
        phone_lifetime=12,
        connected_case_day=1,
        counted=frozenset(DISPOSITIONS) - {"busy"},
        quiet_after_conversation=timedelta(days=7),
        abandon_lockout=timedelta(hours=72),
        machine_same_day=True,
    ),
)


def _violations(history, phone, now, region, caps: CapRules) -> list[str]:
    """Independent oracle with plain definitions (local days per zone, 7×24 h periods)."""
    out = []
    counted = [a for a in history if a.disposition in caps.counted]
    for name in region.zones:
        day = now.astimezone(zone(name)).date()

        def same_day(a, name=name, day=day):
            return a.at.astimezone(zone(name)).date() == day

        if sum(1 for a in counted if a.phone == phone and same_day(a)) >= caps.phone_day:
            out.append("phone_day")
        if sum(1 for a in counted if same_day(a)) >= caps.case_day:
            out.append("case_day")
        if sum(1 for a in history if a.connected and same_day(a)) >= caps.connected_case_day:
            out.append("connected_day")
        if any(a.phone == phone and a.machine and same_day(a) for a in history):
            out.append("machine")
    week = [a for a in counted if now - timedelta(days=7) < a.at <= now + timedelta(days=30)]
    if len(week) >= caps.case_7d:
        out.append("case_7d")
    if sum(1 for a in counted if a.phone == phone) >= caps.phone_lifetime:
        out.append("lifetime")
    if any(a.connected and now - timedelta(days=7) < a.at <= now for a in history):
        out.append("quiet")
    if any(
        a.phone == phone and a.abandoned and now - timedelta(hours=72) < a.at <= now
        for a in history
    ):
        out.append("lockout")
    return out


@settings(max_examples=120, deadline=None)
@given(h=histories(), phone=st.sampled_from(PHONES))
def test_allowed_decisions_never_exceed_a_cap_and_retry_at_is_allowed(h, phone):
    history, now = h
    contact = Contact("c1", phone)
    region = region_of(phone)
    d = check_contact(contact, history, now, STRICT, NO_DNC)
    if isinstance(d, Allowed):
        assert _violations(history, phone, now, region, STRICT.caps) == []
    elif d.retry_at is not None:
        assert d.retry_at > now
        again = check_contact(contact, history, d.retry_at, STRICT, NO_DNC)
        assert isinstance(again, Allowed), (d, again)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    start=st.datetimes(datetime(2025, 1, 1), datetime(2026, 12, 1)),
)
def test_greedy_dialer_following_decisions_never_breaks_a_rule(seed, start):
    """Dial as soon and as often as the rules allow for 20 days; every call must pass the
    independent oracle."""
    import random

    rng = random.Random(seed)
    now = start.replace(tzinfo=UTC)
    end = now + timedelta(days=20)
    history: list[PastAttempt] = []
    for _ in range(400):
        phone = rng.choice(PHONES)
        contact = Contact("c1", phone)
        d = check_contact(contact, history, now, STRICT, NO_DNC)
        if isinstance(d, Denied):
            if d.retry_at is None:
                now += timedelta(hours=1)
            else:
                now = d.retry_at
            if now >= end:
                break
            continue
        assert _violations(history, phone, now, region_of(phone), STRICT.caps) == []
        disp = rng.choice(DISPOSITIONS)
        history.append(
            PastAttempt(
                now,
                phone,
                "c1",
                disp,
                connected=disp in ("refused", "answered"),
                abandoned=disp == "abandoned",
                machine=disp == "machine",
            )
        )
        now += timedelta(minutes=rng.choice([0, 1, 5, 30]))
    assert history, "the greedy dialer never got to call"
