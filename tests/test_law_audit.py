"""The outside auditor's checker (tests/law_audit.py) finds each rule broken on its key: calls
written straight into PostgreSQL, one breach per rule, and a clean control."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from e2e_rig import campaign_doc, import_campaign
from law_audit import law_findings

ZONES = {"cn": "Asia/Shanghai", "us": "America/New_York", "uk": "Europe/London"}
NUMBERS = {
    "cn": ["+8613800138000", "+8613900139001", "+8613900139002"],
    "us": ["+12125551000", "+12125551001", "+12125551002"],
    "uk": ["+442071234567", "+442071234568", "+442071234569"],
}


async def seeded(db, preset: str) -> dict[str, int]:
    """Campaign ``law-<preset>``: cases X1 (number 0, debtor D1), X2 (number 1, D1), X3
    (number 2, no debtor); their ids."""
    house, other, third = NUMBERS[preset]
    csv = (
        "external_id,debtor_name,amount,days_past_due,phone,debtor_id\n"
        f"X1,A,100,30,{house},D1\nX2,A,100,30,{other},D1\nX3,B,100,30,{third},\n"
    ).encode()
    doc = campaign_doc(f"law-{preset}")
    cid, _ = await import_campaign(db, doc, csv)
    async with db.acquire() as conn:
        rows = await conn.fetch("SELECT id, external_id FROM cases WHERE campaign_id = $1", cid)
    return {r["external_id"]: r["id"] for r in rows}


async def call(db, case: int, at: datetime, disposition: str, **kw) -> uuid.UUID:
    """One finished call of ``case`` at ``at`` (2 minutes long; answered after 8 s if
    ``answered``), and its AMD verdict ``amd`` = (status, truth, action) if given."""
    cid = uuid.uuid4()
    answered = at + timedelta(seconds=8) if kw.get("answered") else None
    async with db.acquire() as conn:
        await conn.execute(
            """INSERT INTO attempts (call_id, campaign_id, case_id, phone_id, attempt_no,
                   runner, state, created_at, answered_at, ended_at, disposition, abandoned)
               SELECT $1, c.campaign_id, c.id, p.id, 1, 't', 'done', $3, $4, $5, $6, $7
               FROM cases c JOIN phones p ON p.case_id = c.id WHERE c.id = $2""",
            cid,
            case,
            at,
            answered,
            at + timedelta(seconds=kw.get("seconds", 120)),
            disposition,
            kw.get("abandoned", False),
        )
        if "amd" in kw:
            status, truth, action = kw["amd"]
            await conn.execute(
                "INSERT INTO amd_decisions (call_id, status, action, truth) VALUES ($1,$2,$3,$4)",
                cid,
                status,
                action,
                truth,
            )
    return cid


def day(preset: str, hour: int, minute: int = 0, days: int = 0) -> datetime:
    base = datetime(2026, 3, 2, hour, minute, tzinfo=ZoneInfo(ZONES[preset]))
    return base + timedelta(days=days)


def rules_of(findings: list[str]) -> list[str]:
    return sorted(f.split(":")[0] for f in findings)


@pytest.mark.parametrize("preset", sorted(ZONES))
async def test_clean_calls_pass(db, preset):
    ids = await seeded(db, preset)
    await call(db, ids["X1"], day(preset, 10), "agent_talked", answered=True)
    await call(db, ids["X3"], day(preset, 11), "no_answer", seconds=20)
    assert await law_findings(db, [f"law-{preset}"], preset) == []


async def test_cn_hours_overlap_and_four_effective_calls_a_debtor_day(db):
    ids = await seeded(db, "cn")
    await call(db, ids["X3"], day("cn", 22, 5), "no_answer", seconds=20)  # after 22:00
    await call(db, ids["X3"], day("cn", 9), "busy", seconds=300)
    await call(db, ids["X3"], day("cn", 9, 2), "busy")  # while the 09:00 call was open
    for i in range(4):  # four conversations with D1 over two of its loans
        await call(
            db, ids["X1" if i % 2 else "X2"], day("cn", 12 + i), "agent_talked", answered=True
        )
    found = rules_of(await law_findings(db, ["law-cn"], "cn"))
    assert found == ["3 a day debtor", "hours", "overlap"], found


async def test_us_seven_in_seven_per_debtor_and_the_quiet_period(db):
    ids = await seeded(db, "us")
    for i in range(8):  # eight counted calls to D1 in 7 days, over two debts; busy excluded
        await call(
            db, ids["X1" if i % 2 else "X2"], day("us", 10, days=i % 7, minute=i), "no_answer"
        )
    await call(db, ids["X2"], day("us", 12, days=1), "busy")
    found = rules_of(await law_findings(db, ["law-us"], "us"))
    assert found == ["7-in-7 debtor"], found
    # A conversation on one debt quiets the debtor for 7 days (the conversation day is day 1).
    await call(db, ids["X3"], day("us", 9, days=10), "agent_talked", answered=True)
    await call(db, ids["X3"], day("us", 9, days=16), "no_answer")
    await call(db, ids["X3"], day("us", 9, days=17), "no_answer")  # day 8: allowed
    found = rules_of(await law_findings(db, ["law-us"], "us"))
    assert found == ["7-in-7 debtor", "quiet"], found


async def test_uk_lockouts_per_number_and_amd_false_positives(db):
    ids = await seeded(db, "uk")
    await call(db, ids["X1"], day("uk", 10), "abandoned", answered=True, abandoned=True)
    await call(db, ids["X1"], day("uk", 9, days=3), "no_answer")  # 71 h later
    # A person taken for a machine and hung up on: abandoned, no message, and the number is
    # locked for the day (machine verdict) and 72 h (abandoned).
    fp = ("MACHINE", "human", "hangup")
    await call(db, ids["X3"], day("uk", 10), "machine", answered=True, amd=fp)
    await call(db, ids["X3"], day("uk", 15), "no_answer")
    for i in range(20):  # live calls on other days keep the daily rates apart
        await call(db, ids["X2"], day("uk", 9, days=5, minute=3 * i), "agent_talked", answered=True)
    found = rules_of(await law_findings(db, ["law-uk"], "uk"))
    assert found == [
        "abandon rate",
        "lockout 72h",
        "lockout 72h",
        "lockout machine",
        "no message",
    ], found


async def test_dnc_from_the_entry_on(db):
    ids = await seeded(db, "cn")
    await call(db, ids["X3"], day("cn", 10), "no_answer")
    async with db.acquire() as conn:
        await conn.execute(
            "INSERT INTO dnc_entries (pattern, source, created_at) VALUES ($1, 'law-cn', $2)",
            NUMBERS["cn"][2][:8] + "*",
            day("cn", 11),
        )
    await call(db, ids["X3"], day("cn", 12), "no_answer")
    found = rules_of(await law_findings(db, ["law-cn"], "cn"))
    assert found == ["dnc"], found
