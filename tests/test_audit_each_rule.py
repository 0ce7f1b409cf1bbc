"""Each rule deliberately broken in the database is caught by ``pacedial audit`` (one case per
rule), on the key the law names: the number, the debt or the debtor, across cases."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dialer_core.face.audit_cli import audit_campaign
from dialer_core.store.campaigns import ensure_campaign

ZONES = {"cn": "Asia/Shanghai", "us": "America/New_York", "uk": "Europe/London"}
CALLER = {"cn": "+862088880000", "us": "+12125550100", "uk": "+442071234000"}
# A household number shared by cases of two debtors; the debtor D1's other loans.
HOUSE = {"cn": "+8613800138000", "us": "+12125551000", "uk": "+442071234567"}
LOANS = {
    "cn": ["+8613900139001", "+8613900139002", "+8613900139003"],
    "us": ["+12125551001", "+12125551002", "+12125551003"],
    "uk": ["+442071234568", "+442071234569", "+442071234570"],
}


@dataclass
class Call:
    case: str  # L1..L4 (debtor D1, L1 on the household number), H1 (debtor D2, household)
    day: int
    hour: float
    disposition: str = "no_answer"
    talked: bool = False
    abandoned: bool = False
    seconds: float = 60.0
    caller_id: str | None = None
    recorded: bool = True
    amd_truth: str | None = None  # 'human': an AMD false positive
    number: str | None = None  # default: the case's number
    ringing: float | None = None  # seconds from the launch to the first ring (None: unknown)


def phone_of(preset: str, case: str) -> str:
    return HOUSE[preset] if case in ("L1", "H1") else LOANS[preset][int(case[1]) - 2]


def when(preset: str, day: int, hour: float) -> datetime:
    h, m = int(hour), round((hour % 1) * 60)
    return datetime(2025, 6, day, h, m, tzinfo=ZoneInfo(ZONES[preset])).astimezone(UTC)


async def seed(db, preset: str, calls: list[Call], name: str = "broken") -> None:
    doc = {
        "campaign": {"name": name},
        "pacing": {"mode": "progressive"},
        "dialing": {"caller_id": CALLER[preset]},
        "compliance": {"preset": preset},
        "recording": {"enabled": True},
    }
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, name, "progressive", doc)
        phones: dict[str, tuple[int, int]] = {}
        for case, debtor in (("L1", "D1"), ("L2", "D1"), ("L3", "D1"), ("L4", "D1"), ("H1", "D2")):
            case_id = await conn.fetchval(
                """INSERT INTO cases (campaign_id, external_id, debtor_name, amount_minor,
                                      days_past_due, debtor_id)
                   VALUES ($1, $2, 'x', 100, 30, $3) RETURNING id""",
                cid,
                case,
                debtor,
            )
            pid = await conn.fetchval(
                "INSERT INTO phones (case_id, position, e164) VALUES ($1, 0, $2) RETURNING id",
                case_id,
                phone_of(preset, case),
            )
            phones[case] = (case_id, pid)
        for c in calls:
            at = when(preset, c.day, c.hour)
            live = c.talked or c.abandoned or c.amd_truth is not None
            answered = at + timedelta(seconds=8) if live else None
            call_id = uuid.uuid4()
            await conn.execute(
                """INSERT INTO attempts (call_id, campaign_id, case_id, phone_id, attempt_no,
                       caller_id, runner, state, created_at, answered_at, ended_at,
                       disposition, abandoned, ringing_at)
                   VALUES ($1, $2, $3, $4, 1, $5, 't', 'done', $6, $7, $8, $9, $10, $11)""",
                call_id,
                cid,
                *phones[c.case],
                CALLER[preset] if c.caller_id is None else c.caller_id,
                at,
                answered,
                at + timedelta(seconds=c.seconds),
                c.disposition,
                c.abandoned,
                None if c.ringing is None else at + timedelta(seconds=c.ringing),
            )
            if c.talked and c.recorded:
                await conn.execute(
                    "INSERT INTO recordings (call_id, path, started_at) VALUES ($1, 'r.wav', $2)",
                    call_id,
                    answered,
                )
            if c.amd_truth:
                await conn.execute(
                    """INSERT INTO amd_decisions (call_id, status, action, at, truth)
                       VALUES ($1, 'MACHINE', 'hangup', $2, $3)""",
                    call_id,
                    answered,
                    c.amd_truth,
                )


def talk(case: str, day: int, hour: float, **kw) -> Call:
    return Call(case, day, hour, "agent_talked", talked=True, **kw)


BROKEN = {
    # rule: (preset, calls, the code the audit must report)
    "window": ("cn", [Call("L2", 3, 21.5)], "window"),
    "number day cap, two debtors on one number": (
        "cn",
        [Call("L1", 3, 9), Call("H1", 3, 10), Call("L1", 3, 11), Call("H1", 3, 12)],
        "cap.phone_day",
    ),
    "3 effective calls per debtor, four loans": (
        "cn",
        [talk("L2", 3, 9), talk("L3", 3, 10), talk("L4", 3, 11), talk("L1", 3, 12)],
        "cap.connected_debtor_day",
    ),
    "recorded collection calls": ("cn", [talk("L2", 3, 9, recorded=False)], "recording"),
    "72 h after an abandoned call, another case on the number": (
        "uk",
        [
            Call("H1", 3, 9, "abandoned", abandoned=True),
            *[talk(f"L{i}", 3, 9 + i) for i in (2, 3, 4)],  # live calls: the rate is not at issue
            *[talk(f"L{i}", 4, 9 + i) for i in (2, 3, 4)],
            *[talk(f"L{i}", 5, 9 + i) for i in (2, 3, 4)],
            Call("L1", 5, 12),
        ],
        # one abandon in a few live calls is over 3% in its window and its day as well
        ("abandon_day", "abandon_rate", "lockout.abandoned"),
    ),
    "no same-day recall after a machine verdict": (
        "uk",
        [Call("H1", 3, 9, "machine"), Call("L1", 3, 15)],
        "lockout.machine",
    ),
    "ring at least 15 s": ("uk", [Call("L2", 3, 9, seconds=10)], "ring_time"),
    # 16 s from the launch, but the first 4 s were post-dial delay: it rang 12 s
    "ring at least 15 s from the first ring": (
        "us",
        [Call("L2", 3, 10, seconds=16, ringing=4)],
        "ring_time",
    ),
    "a caller ID is presented": ("uk", [Call("L2", 3, 9, caller_id="")], "caller_id"),
    "one live call per number": (
        "uk",
        [Call("H1", 3, 9, seconds=90), Call("L1", 3, 9 + 1 / 60)],
        "one_live_call",
    ),
    "AMD false positives are abandoned calls (calendar day)": (
        "uk",
        [
            *[talk(f"L{i}", 3, 9 + i) for i in (2, 3, 4)],
            Call("H1", 3, 15, "machine", amd_truth="human"),
        ],
        ("abandon_day", "abandon_rate"),  # 1 of 4 live calls: the day and the 24 h window
    ),
    "quiet period per debtor": ("us", [talk("L2", 2, 10), Call("L3", 5, 10)], "quiet.conversation"),
    "7 in 7 per debt": (
        "us",
        [
            Call("L2", d, h, "no_answer" if h == 10 else "powered_off")
            for d in (2, 3, 4, 5)
            for h in (10, 14)
        ],
        "cap.case_7d",
    ),
    "7 in 7 per debtor": (
        "us",
        [Call(f"L{2 + i % 2}", 2 + i // 2, 10 + (i % 2) * 4) for i in range(8)],
        "cap.debtor_7d",
    ),
}


@pytest.mark.parametrize("rule", sorted(BROKEN))
async def test_each_broken_rule_is_found(db, rule):
    preset, calls, codes = BROKEN[rule]
    await seed(db, preset, calls)
    report = await audit_campaign(db, "broken")
    found = [(v.code, v.detail) for v in report.violations]
    expected = [codes] if isinstance(codes, str) else list(codes)
    assert sorted(c for c, _ in found) == expected, found


async def test_a_dnc_entry_is_found_and_a_clean_week_is_not(db):
    calls = [talk("L2", 3, 9), Call("H1", 4, 10), Call("L3", 5, 11)]
    await seed(db, "uk", calls)
    assert (await audit_campaign(db, "broken")).violations == ()
    async with db.acquire() as conn:
        await conn.execute(
            "INSERT INTO dnc_entries (pattern, created_at) VALUES ($1, $2)",
            LOANS["uk"][1],
            when("uk", 5, 8),
        )
    report = await audit_campaign(db, "broken")
    assert [v.code for v in report.violations] == ["dnc"]
