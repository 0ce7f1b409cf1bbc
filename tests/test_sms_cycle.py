"""`run_sms_cycle` over real PostgreSQL and a local gateway: triggers, caps, window, retries."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
from sms_gateway import Gateway

from dialer_core.campaign.config import parse_campaign
from dialer_core.sms import run_sms_cycle
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.dnc import add_entry
from dialer_core.store.seed import add_attempts, add_case

SHANGHAI = ZoneInfo("Asia/Shanghai")
STREAK, PROMISE, DUE, DNC, LANDLINE, QUIET = (
    "+8613800130001",
    "+8613912340002",
    "+8618602010003",
    "+8615012340004",
    "+861062345678",
    "+8613705710005",
)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 6, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


NOW = local(3, 10)


def campaign(url: str, name: str = "sms", **retry):
    doc = {
        "campaign": {"name": name},
        "compliance": {"preset": "cn"},
        "sms": {
            "webhook": url,
            "text": "{name}: {amount} due {due_date}, pay at {link}",
            "link": "https://pay.example.cn/c/{external_id}",
            "hours": "09:00-20:00",
            "triggers": {"no_answer_streak": 3, "after_promise": "1h", "days_before_due": 2},
            "retry": {"attempts": 3, "first_delay": 0.01, "factor": 2, **retry},
        },
    }
    return parse_campaign(doc, f"{name}.toml")


async def seed(db, camp, cases: dict[str, tuple[str, date | None, list[tuple[datetime, str]]]]):
    """cases: external id → (phone, due date, [(launch, disposition)])."""
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, camp.name, "progressive", camp.raw)
        for ext, (phone, due, attempts) in cases.items():
            case = await add_case(
                conn,
                cid,
                ext,
                [phone],
                debtor_name="李娜",
                amount_minor=123456,
                days_past_due=20,
                due_date=due,
            )
            await add_attempts(
                conn,
                cid,
                [
                    (case.id, case.phone_id, {"created_at": at, "ended_at": at, "disposition": d})
                    for at, d in attempts
                ],
            )
        await add_entry(conn, DNC, "global")
    return cid


LATER = date(2025, 6, 30)
NO_ANSWERS = [(local(2, 9), "no_answer"), (local(2, 14), "no_answer"), (local(3, 8), "no_answer")]


async def sends(db) -> list:
    async with db.acquire() as conn:
        return await conn.fetch(
            """SELECT s.*, c.external_id FROM sms_sends s JOIN cases c ON c.id = s.case_id
               ORDER BY c.external_id, s.created_at"""
        )


async def cycle(db, camp, now):
    async with aiohttp.ClientSession() as session:
        return await run_sms_cycle(db, camp, now, session)


async def test_each_trigger_sends_once_and_every_send_is_recorded(db):
    async with Gateway() as gw:
        camp = campaign(gw.url)
        await seed(
            db,
            camp,
            {
                "A-streak": (STREAK, LATER, NO_ANSWERS),
                "B-promise": (PROMISE, LATER, [(local(3, 8, 30), "promise_to_pay")]),
                "C-due": (DUE, date(2025, 6, 4), [(local(2, 9), "busy")]),
                "D-dnc": (DNC, LATER, NO_ANSWERS),
                "E-landline": (LANDLINE, LATER, NO_ANSWERS),
                "F-quiet": (QUIET, LATER, NO_ANSWERS[:2]),
                # The template shows {due_date}: a case without one gets no message.
                "G-no-date": ("+8613800130009", None, NO_ANSWERS),
            },
        )
        first = await cycle(db, camp, NOW)
        # Later the same day and the next day: every occurrence was already reminded.
        again = await cycle(db, camp, NOW + timedelta(hours=2))
        next_day = await cycle(db, camp, NOW + timedelta(days=1))
    assert first.outcomes == {"sent": 3}
    assert first.skipped == {"dnc": 1, "not_mobile": 1, "no_due_date": 1}
    assert again.outcomes == {} and next_day.outcomes == {}
    rows = await sends(db)
    assert [(r["external_id"], r["trigger"]) for r in rows] == [
        ("A-streak", "no_answer_streak"),
        ("B-promise", "promise"),
        ("C-due", "before_due"),
    ]
    for r in rows:
        assert (r["status"], r["tries"], r["response_code"], r["error"]) == ("sent", 1, 200, "")
        assert r["to_masked"].endswith(("0001", "0002", "0003")) and "*" in r["to_masked"]
        assert r["created_at"] == NOW
    c_due = rows[2]
    assert c_due["body"] == "李娜: 1234.56 due 2025-06-04, pay at https://pay.example.cn/c/C-due"
    # The gateway got the full number, the text and the send's id as idempotency key.
    by_id = {body["id"]: (headers, body) for headers, body in gw.requests}
    assert set(by_id) == {str(r["id"]) for r in rows}
    headers, body = by_id[str(c_due["id"])]
    assert body["to"] == DUE and body["trigger"] == "before_due" and body["case"] == "C-due"
    assert headers["Idempotency-Key"] == str(c_due["id"])


async def test_nothing_is_sent_outside_the_sms_hours(db):
    async with Gateway() as gw:
        camp = campaign(gw.url)
        await seed(db, camp, {"A": (STREAK, LATER, NO_ANSWERS)})
        late = await cycle(db, camp, local(3, 20, 30))  # calls allowed till 21:00, SMS till 20:00
        early = await cycle(db, camp, local(4, 8, 45))
        opened = await cycle(db, camp, local(4, 9, 0))
    assert late.skipped == {"window": 1} and late.outcomes == {}
    assert early.skipped == {"window": 1}
    assert opened.outcomes == {"sent": 1}
    assert len(gw.requests) == 1


async def test_500_then_success_is_recorded_as_one_send_with_two_tries(db):
    async with Gateway(script=[500]) as gw:
        camp = campaign(gw.url)
        await seed(db, camp, {"A": (STREAK, LATER, NO_ANSWERS)})
        result = await cycle(db, camp, NOW)
    assert result.outcomes == {"sent": 1}
    (row,) = await sends(db)
    assert (row["status"], row["tries"], row["response_code"]) == ("sent", 2, 200)
    assert len(gw.requests) == 2


async def test_permanent_failure_is_recorded_and_not_resent(db):
    async with Gateway(script=[400]) as gw:
        camp = campaign(gw.url)
        await seed(db, camp, {"A": (STREAK, LATER, NO_ANSWERS)})
        first = await cycle(db, camp, NOW)
        later = await cycle(db, camp, NOW + timedelta(days=2))
    assert first.outcomes == {"failed": 1} and later.outcomes == {}
    (row,) = await sends(db)
    assert (row["status"], row["tries"], row["response_code"]) == ("failed", 1, 400)
    assert "number rejected" in row["error"]
    assert len(gw.requests) == 1


async def test_a_message_that_gave_up_is_tried_again_only_after_the_pause(db):
    async with Gateway(script=[503, 503, 503]) as gw:
        camp = campaign(gw.url, retry_failed_after="1h")
        await seed(db, camp, {"A": (STREAK, LATER, NO_ANSWERS)})
        first = await cycle(db, camp, NOW)
        soon = await cycle(db, camp, NOW + timedelta(minutes=30))
        later = await cycle(db, camp, NOW + timedelta(minutes=61))
    assert first.outcomes == {"gave_up": 1}
    assert soon.outcomes == {}
    assert later.outcomes == {"sent": 1}
    rows = await sends(db)
    assert [(r["status"], r["tries"]) for r in rows] == [("gave_up", 3), ("sent", 1)]
    assert rows[0]["response_code"] == 503


async def test_two_processes_running_the_cycle_at_once_send_once(db):
    async with Gateway(delay=0.3) as gw:
        camp = campaign(gw.url)
        await seed(db, camp, {"A": (STREAK, LATER, NO_ANSWERS)})
        a, b = await asyncio.gather(cycle(db, camp, NOW), cycle(db, camp, NOW))
    assert sorted([a.locked, b.locked]) == [False, True]
    assert len(gw.requests) == 1
    assert len(await sends(db)) == 1
