"""A simulated week under the us and uk presets (the cn preset has its own three-day run in
test_multiday_e2e.py) on the simulated PBX, with shared household numbers and multi-loan
debtors in the list, then ``pacedial audit``: zero violations on every key."""

from __future__ import annotations

import time

import pytest
from test_multiday_e2e import CONTEXT, SCALE, run_days
from virtual_time import in_virtual_time

from dialer_core.campaign.config import parse_campaign
from dialer_core.cases_csv import parse_cases_csv
from dialer_core.clock import next_local_time
from dialer_core.clock_jump import JumpClock
from dialer_core.face.audit_cli import audit_campaign
from dialer_core.face.service import AnsweredCallServer
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases
from pbx.asterisk.driver import AsteriskDriver
from pbx.sim import AgentConfig, CalleeConfig, CalleeMix, SimConfig, SimPbx

WEEK = {
    "us": ("America/New_York", "+12125550100", "+1212555{:04d}"),
    "uk": ("Europe/London", "+442071234000", "+44207946{:04d}"),
}


def week_csv(pattern: str, cases: int) -> bytes:
    """Cases in households of three (one number) and debtors with two loans."""
    lines = ["external_id,debtor_name,amount,days_past_due,phone,debtor_id"]
    for i in range(cases):
        number = pattern.format(1000 + i // 3 if i % 3 else 2000 + i)
        debtor = f"D{i // 2}" if i % 4 < 2 else ""
        lines.append(f"W{i},Name{i},250,40,{number},{debtor}")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("preset", sorted(WEEK))
@in_virtual_time
async def test_a_week_under_the_preset_audits_clean(db, preset):
    zone, caller_id, pattern = WEEK[preset]
    clock = JumpClock(next_local_time(10, zone, time.time()), SCALE)
    answered = await AnsweredCallServer.start("127.0.0.1", 0)
    sim = SimPbx(
        SimConfig(
            seed=5,
            time_scale=SCALE,
            dialplan={CONTEXT: f"agi://127.0.0.1:{answered.server.port}/router"},
            callees=CalleeConfig(
                mix=CalleeMix(
                    human=0.08,  # hard to reach: the week's caps and lock-outs come into play
                    machine=0.12,
                    busy=0.15,
                    no_answer=0.5,
                    unallocated=0.02,
                    powered_off=0.1,
                    congestion=0.0,
                    rejected=0.03,
                ),
                ring_mean=6.0,
                talk_mean=25.0,
            ),
            agents=AgentConfig(count=6, talk_mean=25, wrapuptime=5),
        ),
        clock=clock,
    )
    await sim.start()
    driver = AsteriskDriver(
        host="127.0.0.1",
        port=sim.ami_port,
        username="pacedial",
        secret="pacedial",
        dial_template="Local/{number}@sim-callee",
        answered_context=CONTEXT,
        clock=clock,
    )
    await driver.connect()
    name = f"week-{preset}"
    doc = {
        "campaign": {"name": name},
        "pacing": {"mode": "progressive", "lines_per_agent": 1.0},
        "dialing": {"caller_id": caller_id, "ring_timeout": 20, "max_in_flight": 20},
        "queue": {"name": "collectors", "agent_wait": 2},
        "compliance": {"preset": preset},
    }
    try:
        campaign = parse_campaign(doc, f"{name}.toml")
        parsed = parse_cases_csv(week_csv(pattern, 40))
        assert parsed.errors == ()
        async with db.acquire() as conn:
            cid = await ensure_campaign(conn, name, campaign.mode, campaign.raw)
            await import_cases(conn, cid, parsed.rows, parsed.errors, "week")
        run = await run_days(db, clock, campaign, cid, driver, answered.registry, 7, 50.0)
    finally:
        await driver.close()
        await sim.close()
        await answered.close()
    async with db.acquire() as conn:
        days = await conn.fetchval(
            """SELECT count(DISTINCT (created_at AT TIME ZONE $2)::date) FROM attempts
               WHERE campaign_id = $1 AND disposition <> 'not_dialed'""",
            cid,
            zone,
        )
    print(f"\n{name}: {days} local days, held by rules {run['stats'].held_by_rules}")
    # uk works the list all week; under us the 7-day quiet period per debtor (households and
    # loans share it) and the no-answer streaks retire most cases after two days.
    assert days >= (7 if preset == "uk" else 1) or run["emptied"]
    if preset == "us":
        assert run["stats"].held_by_rules.get("quiet.conversation", 0) > 0
    report = await audit_campaign(db, name)
    assert report.attempts >= 40
    assert report.violations == (), [(v.code, v.detail) for v in report.violations]
