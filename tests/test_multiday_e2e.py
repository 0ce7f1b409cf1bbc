"""A cn-preset campaign over three simulated days against the simulated PBX, then the audit.

Real sockets (AMI, FastAGI), real PostgreSQL, the real runner; simulated time runs 40 times
faster than real time and jumps over idle stretches (nights, redial delays) whenever no call is
in flight and nothing is due, so three days take seconds.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from e2e_rig import asterisk_on_sim, import_campaign
from law_audit import law_findings
from virtual_time import in_virtual_time

from dialer_core.campaign.runner import CampaignRunner
from dialer_core.clock import next_local_time
from dialer_core.clock_jump import JumpClock
from dialer_core.demo_data import demo_cases_csv
from dialer_core.face.audit_cli import audit_campaign, main
from dialer_core.face.service import run_campaign
from dialer_core.store.seed import add_attempt
from pbx.sim import AgentConfig, CalleeConfig, CalleeMix

SHANGHAI = ZoneInfo("Asia/Shanghai")  # the demo cases are +86 numbers
SCALE = 40.0
DAYS = 3
REAL_BUDGET = 35.0  # seconds of real time for the simulated days
CASES = 28


def campaign_doc(name: str) -> dict:
    return {
        "campaign": {"name": name},
        "pacing": {"mode": "progressive", "lines_per_agent": 1.0},
        "dialing": {"caller_id": "+862088880000", "ring_timeout": 20, "max_in_flight": 20},
        "queue": {"name": "collectors", "agent_wait": 2},
        "compliance": {"preset": "cn"},
        "recording": {"enabled": True},
    }


def dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


async def next_due(db, campaign_id: int, now: float) -> tuple[int, int, datetime | None]:
    """(cases in the schedule, cases leased right now, earliest next attempt not leased)."""
    async with db.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT count(*) AS n,
                      count(*) FILTER (WHERE lease_until >= $2) AS leased,
                      min(next_attempt_at) FILTER (WHERE lease_until IS NULL
                                                   OR lease_until < $2) AS nxt
               FROM schedule WHERE campaign_id = $1""",
            campaign_id,
            dt(now),
        )
    return row["n"], row["leased"], row["nxt"]


async def run_days(
    db,
    clock: JumpClock,
    campaign,
    campaign_id: int,
    driver,
    registry,
    days: int = DAYS,
    budget: float = REAL_BUDGET,
) -> dict:
    """Run the campaign until ``days`` simulated days pass or the schedule empties; jump idle
    time; ``budget`` real seconds at most."""
    stop = asyncio.Event()
    holder: list[CampaignRunner] = []
    task = asyncio.create_task(
        run_campaign(db, driver, campaign, registry, stop, holder, clock=clock)
    )
    end = clock() + days * 86400
    real_deadline = time.monotonic() + budget
    skipped = 0.0
    emptied = False
    while time.monotonic() < real_deadline and clock() < end:
        await asyncio.sleep(0.05)
        if not holder or holder[0].inflight:
            continue
        cases, leased, nxt = await next_due(db, campaign_id, clock())
        if cases == 0:
            emptied = True
            break
        if leased or holder[0].inflight or nxt is None:
            continue
        if nxt.timestamp() > clock() + 10:  # nothing due for a while: skip to it
            skipped += clock.jump_to(min(nxt.timestamp() + 1, end))
    stop.set()
    stats = await asyncio.wait_for(task, 60)
    return {"stats": stats, "skipped": skipped, "emptied": emptied, "end": end}


@in_virtual_time
async def test_three_cn_days_audit_clean_then_a_2330_call_is_the_only_violation(db, db_dsn):
    name = "multiday"
    start = next_local_time(10, "Asia/Shanghai", time.time())
    clock = JumpClock(start, SCALE)
    # Hard-to-reach debtors, so cases stay open for days and the daily caps matter.
    callees = CalleeConfig(
        mix=CalleeMix(
            human=0.15,
            machine=0.04,
            busy=0.15,
            no_answer=0.42,
            unallocated=0.02,
            powered_off=0.15,
            congestion=0.02,
            rejected=0.05,
        ),
        ring_mean=6.0,
        talk_mean=25.0,
    )
    agents = AgentConfig(count=8, talk_mean=25, wrapuptime=5)
    real_start = time.monotonic()
    async with asterisk_on_sim(clock, seed=21, callees=callees, agents=agents) as pbx:
        cid, campaign = await import_campaign(
            db, campaign_doc(name), demo_cases_csv(CASES, seed=17)
        )
        run = await run_days(db, clock, campaign, cid, pbx.driver, pbx.answered.registry)
    real_seconds = time.monotonic() - real_start

    async with db.acquire() as conn:
        rows = await conn.fetch(
            """SELECT a.case_id, a.phone_id, a.created_at, a.disposition, a.state
               FROM attempts a WHERE a.campaign_id = $1 ORDER BY a.created_at""",
            cid,
        )
    dialed = [r for r in rows if r["disposition"] != "not_dialed"]
    local_days = sorted({r["created_at"].astimezone(SHANGHAI).date() for r in dialed})
    dispositions = Counter(r["disposition"] for r in dialed)
    print(
        f"\nmultiday: {len(dialed)} attempts on {len(local_days)} local days "
        f"({', '.join(d.isoformat() for d in local_days)}), simulated "
        f"{(clock() - start) / 3600:.1f} h in {real_seconds:.1f} s real, "
        f"{clock.jumps} jumps skipping {run['skipped'] / 3600:.1f} h, "
        f"schedule emptied: {run['emptied']}, dispositions {dict(dispositions)}, "
        f"held by rules {run['stats'].held_by_rules}"
    )
    assert real_seconds < 55
    assert run["emptied"] or clock() >= run["end"], "the run stopped before its simulated days"
    assert len(dialed) >= 60 and len(local_days) >= 3
    assert all(r["state"] == "done" for r in rows)
    # Independent of the audit: every call inside 08:00-21:00 callee-local, <= 3 per phone a day.
    assert all(8 <= r["created_at"].astimezone(SHANGHAI).hour < 21 for r in dialed)
    per_phone_day = Counter(
        (r["phone_id"], r["created_at"].astimezone(SHANGHAI).date())
        for r in dialed
        if r["disposition"] not in ("invalid_number", "congestion", "failed")
    )
    print(f"most attempts on one phone in one local day: {max(per_phone_day.values())}")
    assert max(per_phone_day.values()) <= 3

    report = await audit_campaign(db, name)
    assert report.attempts == len(dialed)
    assert report.violations == (), [v.detail for v in report.violations]
    assert await law_findings(db, [name], "cn") == []  # from the regulations, not our code
    out = io.StringIO()
    assert await asyncio.to_thread(main, ["--database", db_dsn, "--campaign", name], out) == 0
    assert out.getvalue().strip().endswith(f"{len(dialed)} attempts, 0 violations")

    # A deliberately broken record: a call to a finished case at 23:30 callee-local time,
    # after everything else (so no later attempt is judged against it).
    talked = [r for r in dialed if r["disposition"] == "agent_talked"]
    assert talked, "expected at least one conversation"
    victim = talked[-1]
    last = max(r["created_at"] for r in rows).astimezone(SHANGHAI)
    late = last.replace(hour=23, minute=30, second=0, microsecond=0)
    if late <= last:
        late += timedelta(days=1)
    async with db.acquire() as conn:
        await add_attempt(
            conn,
            cid,
            victim["case_id"],
            victim["phone_id"],
            attempt_no=99,
            caller_id="+862088880000",
            runner="forged",
            created_at=late,
            ended_at=late + timedelta(seconds=30),
            disposition="no_answer",
        )
    report = await audit_campaign(db, name)
    assert [(v.code, v.at) for v in report.violations] == [("window", late.astimezone(UTC))]
    found = await law_findings(db, [name], "cn")
    assert len(found) == 1 and found[0].startswith("hours:") and "23:30:00" in found[0], found
    out = io.StringIO()
    assert await asyncio.to_thread(main, ["--database", db_dsn, "--campaign", name], out) == 1
    text = out.getvalue()
    assert "23:30 CST" in text and text.strip().endswith("1 violation")
