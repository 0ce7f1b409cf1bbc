"""Caps and lock-outs on the law's keys over generated histories where numbers are shared by
cases and debtors have several loans (hypothesis; an independent oracle per key)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer_core.compliance import (
    CapRules,
    Contact,
    Denied,
    DncList,
    PastAttempt,
    WeeklyHours,
    WindowRules,
    check_contact,
)
from dialer_core.compliance.rules import ComplianceRules
from dialer_core.compliance.windows import zone

HOUSE = "+442071234567"  # one household line, three cases
# (case, number, debtor): debtor D has four loans; the house number is shared by three cases
# of two debtors; a case with no debtor id is its own debtor.
CONTACTS = [
    ("L1", HOUSE, "id:D"),
    ("L2", "+442071234568", "id:D"),
    ("L3", "+442071234569", "id:D"),
    ("L4", "+442071234570", "id:D"),
    ("H1", HOUSE, "id:E"),
    ("H2", HOUSE, ""),
]
DISPOSITIONS = ["no_answer", "busy", "refused", "abandoned", "machine", "agent_talked"]
RULES = ComplianceRules(
    window=WindowRules(WeeklyHours.every_day("08:00-21:00")),
    caps=CapRules(
        phone_day=4,
        case_7d=5,
        debtor_7d=9,
        connected_debtor_day=2,
        counted=frozenset(DISPOSITIONS) - {"busy"},
        quiet_after_conversation=None,
        abandon_lockout=timedelta(hours=72),
        machine_same_day=True,
    ),
)
LONDON = zone("Europe/London")
NO_DNC = DncList()


def debtor_of(case: str, debtor: str) -> str:
    return debtor or f"case:{case}"


def violations(history: list[PastAttempt], case: str, phone: str, debtor: str, now) -> list:
    """Plain definitions, one per key (London local days, 7×24 h periods)."""
    caps, out = RULES.caps, []
    day = now.astimezone(LONDON).date()

    def today(a: PastAttempt) -> bool:
        return a.at.astimezone(LONDON).date() == day

    def week(a: PastAttempt) -> bool:
        return now - timedelta(days=7) < a.at <= now

    counted = [a for a in history if a.disposition in caps.counted]
    me = debtor_of(case, debtor)
    if sum(1 for a in counted if a.phone == phone and today(a)) >= caps.phone_day:
        out.append("number/day")
    if sum(1 for a in counted if a.case_id == case and week(a)) >= caps.case_7d:
        out.append("case/7d")
    if sum(1 for a in counted if a.debtor_key == me and week(a)) >= caps.debtor_7d:
        out.append("debtor/7d")
    talks = [a for a in history if a.connected and a.debtor_key == me and today(a)]
    if len(talks) >= caps.connected_debtor_day:
        out.append("debtor/talks")
    if any(a.phone == phone and a.abandoned and now - a.at < timedelta(hours=72) for a in history):
        out.append("number/abandon-72h")
    if any(a.phone == phone and a.machine and today(a) for a in history):
        out.append("number/machine-day")
    if any(a.phone == phone and a.disposition == "in_progress" for a in history):
        out.append("number/live")
    return out


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 100_000), start=st.datetimes(datetime(2025, 1, 1), datetime(2026, 11, 1))
)
def test_a_greedy_dialer_over_shared_numbers_and_loans_never_breaks_a_key(seed, start):
    """Dial any contact as soon as the rules allow for 12 days; every call the rules allow
    passes the per-key oracle, and a call in flight on a number holds every case on it."""
    rng = random.Random(seed)
    now = start.replace(tzinfo=UTC)
    end = now + timedelta(days=12)
    history: list[PastAttempt] = []
    held: set[str] = set()
    while now < end:
        case, phone, debtor = rng.choice(CONTACTS)
        if rng.random() < 0.1:  # a call still in flight on some number
            c2, p2, d2 = rng.choice(CONTACTS)
            flying = PastAttempt(now, p2, c2, "in_progress", debtor=d2)
            d = check_contact(
                Contact(case, phone, (), debtor), [*history, flying], now, RULES, NO_DNC
            )
            if p2 == phone:
                assert isinstance(d, Denied) and d.code == "in_progress"
        d = check_contact(Contact(case, phone, (), debtor), history, now, RULES, NO_DNC)
        if isinstance(d, Denied):
            held.add(d.code)
            now = d.retry_at if d.retry_at and rng.random() < 0.5 else now + timedelta(minutes=7)
            continue
        assert violations(history, case, phone, debtor, now) == [], (case, phone, now)
        disp = rng.choice(DISPOSITIONS)
        history.append(
            PastAttempt(
                now,
                phone,
                case,
                disp,
                connected=disp in ("refused", "agent_talked"),
                abandoned=disp == "abandoned",
                machine=disp == "machine",
                debtor=debtor,
            )
        )
        now += timedelta(minutes=rng.choice([0, 1, 5, 20]))
    assert history


def test_each_key_binds_across_cases():
    """Concrete: a shared number's lock-outs bind its other cases, a debtor's talks bind all
    their loans, and a different debtor's loans are untouched."""
    t = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)  # 10:00 in London

    def past(case, phone, debtor, minutes, disp, **kw):
        return PastAttempt(t + timedelta(minutes=minutes), phone, case, disp, debtor=debtor, **kw)

    later = t + timedelta(hours=1)
    dropped = [past("H1", HOUSE, "id:E", 0, "abandoned", abandoned=True)]
    d = check_contact(Contact("L1", HOUSE, (), "id:D"), dropped, later, RULES, NO_DNC)
    assert isinstance(d, Denied) and d.code == "lockout.abandoned"
    assert d.retry_at is not None and d.retry_at >= t + timedelta(hours=72)
    machine = [past("H2", HOUSE, "", 0, "machine", machine=True)]
    d = check_contact(Contact("L1", HOUSE, (), "id:D"), machine, later, RULES, NO_DNC)
    assert isinstance(d, Denied) and d.code == "lockout.machine"
    talks = [
        past("L2", "+442071234568", "id:D", 0, "agent_talked", connected=True),
        past("L3", "+442071234569", "id:D", 5, "refused", connected=True),
    ]
    d = check_contact(Contact("L4", "+442071234570", (), "id:D"), talks, later, RULES, NO_DNC)
    assert isinstance(d, Denied) and d.code == "cap.connected_debtor_day"
    assert check_contact(Contact("H1", HOUSE, (), "id:E"), talks, later, RULES, NO_DNC)
