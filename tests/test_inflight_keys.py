"""A call in flight counts on the law's keys: within one launch round (the round's earlier calls)
and as a possible conversation for the quiet period and the caps on conversations."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from e2e_rig import attempts_of, import_campaign, launcher_for

from dialer_core.campaign import calls as c
from dialer_core.clock import next_local_time
from dialer_core.compliance import Contact, DncList, PastAttempt, check_contact
from dialer_core.compliance.config import load_compliance

US = load_compliance({"preset": "us"}, "us.toml")
CN = load_compliance({"preset": "cn"}, "cn.toml")
NOW = datetime.fromtimestamp(next_local_time(11, "America/New_York", 1_800_000_000), UTC)
CN_NOW = datetime.fromtimestamp(next_local_time(11, "Asia/Shanghai", 1_800_000_000), UTC)


def call(at: datetime, phone: str, case: str, disposition: str, **kw) -> PastAttempt:
    return PastAttempt(at, phone, case, disposition, debtor="id:D", **kw)


def test_us_a_call_in_flight_to_another_debt_of_the_debtor_holds_the_next_until_it_ends():
    contact = Contact("L2", "+12125551002", debtor="id:D")
    ringing = call(NOW - timedelta(seconds=5), "+12125551001", "L1", "in_progress")
    d = check_contact(contact, [ringing], NOW, US, DncList())
    assert not d and d.code == "in_progress"
    assert d.retry_at == ringing.at + timedelta(minutes=10)  # its outcome decides, not 7 days
    # Once it ended without a conversation, the other debt may be called.
    ended = call(ringing.at, "+12125551001", "L1", "no_answer")
    assert check_contact(contact, [ended], NOW, US, DncList())
    talked = call(ringing.at, "+12125551001", "L1", "agent_talked", connected=True)
    assert check_contact(contact, [talked], NOW, US, DncList()).code == "quiet.conversation"


def test_cn_calls_in_flight_count_toward_the_debtors_three_conversations_a_day():
    cn = "+86138001380{:02d}"
    contact = Contact("L4", cn.format(4), debtor="id:D")
    talks = [
        call(CN_NOW - timedelta(hours=h), cn.format(h), f"L{h}", "agent_talked", connected=True)
        for h in (1, 2)
    ]
    ringing = call(CN_NOW - timedelta(seconds=5), cn.format(3), "L3", "in_progress")
    assert check_contact(contact, talks[:1] + [ringing], CN_NOW, CN, DncList())
    d = check_contact(contact, [*talks, ringing], CN_NOW, CN, DncList())
    assert not d and d.code == "in_progress"
    assert check_contact(contact, talks, CN_NOW, CN, DncList())


def us_doc(name: str) -> dict:
    return {
        "campaign": {"name": name},
        "pacing": {"mode": "progressive", "lines_per_agent": 1.0},
        "dialing": {"caller_id": "+12125550100", "ring_timeout": 20, "max_in_flight": 20},
        "queue": {"name": "collectors", "agent_wait": 2},
        "compliance": {"preset": "us"},
    }


async def test_one_round_launches_one_call_per_debtor_and_per_number(db):
    """Two debts of one debtor, a household number of two other cases, one free case: one
    round may start only one call on each debtor and on each number."""
    csv = (
        b"external_id,debtor_name,amount,days_past_due,phone,debtor_id\n"
        b"L1,A,100,30,+12125551001,D1\nL2,A,100,30,+12125551002,D1\n"
        b"H1,B,100,30,+12125551010,\nH2,C,100,30,+12125551010,\n"
        b"F1,D,100,30,+12125551020,\n"
    )
    cid, campaign = await import_campaign(db, us_doc("one-round-keys"), csv)
    launcher = launcher_for(db, campaign, cid, "runner-k")
    stats = launcher.stats
    now = next_local_time(11, "America/New_York", time.time())
    launched = await launcher.round(5, lambda: now)
    assert all(isinstance(event, c.Launch) for _, event in launched)
    rows = await attempts_of(db, cid)
    numbers = [r["e164"] for r in rows]
    assert len(numbers) == len(set(numbers)) == 3, numbers  # D1 once, the household once, F1
    assert stats.held_by_rules.get("in_progress", 0) == 2
