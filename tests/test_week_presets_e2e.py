"""A simulated week under the us and uk presets (the cn preset has its own three-day run in
test_multiday_e2e.py) on the simulated PBX, with shared household numbers and multi-loan
debtors in the list, then ``pacedial audit``: zero violations on every key. A second week runs
with AMD on and a simulated detector that errs (false positives and negatives); the truth is
written back as a review would, and the audit counts every false positive as an abandoned call."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from e2e_rig import asterisk_on_sim, campaign_doc, import_campaign
from law_audit import law_findings
from test_multiday_e2e import SCALE, run_days
from virtual_time import in_virtual_time

from dialer_core.clock import next_local_time
from dialer_core.clock_jump import JumpClock
from dialer_core.demo_data import demo_cases_csv
from dialer_core.face.audit_cli import audit_campaign
from dialer_core.store.amd import record_amd_truth
from pbx.sim import AgentConfig, CalleeConfig, CalleeMix
from pbx.sim.timeline import Timeline

WEEK = {
    "us": ("America/New_York", "+12125550100", "+1212555{:04d}"),
    "uk": ("Europe/London", "+442071234000", "+44207946{:04d}"),
}
HARD_TO_REACH = CalleeMix(
    human=0.08,  # the week's caps and lock-outs come into play
    machine=0.12,
    busy=0.15,
    no_answer=0.5,
    unallocated=0.02,
    powered_off=0.1,
    congestion=0.0,
    rejected=0.03,
)


def week_csv(pattern: str, cases: int) -> bytes:
    """Cases in households of three (one number) and debtors with two loans."""
    lines = ["external_id,debtor_name,amount,days_past_due,phone,debtor_id"]
    for i in range(cases):
        number = pattern.format(1000 + i // 3 if i % 3 else 2000 + i)
        debtor = f"D{i // 2}" if i % 4 < 2 else ""
        lines.append(f"W{i},Name{i},250,40,{number},{debtor}")
    return ("\n".join(lines) + "\n").encode()


def week_doc(name: str, preset: str, **extra) -> dict:
    _, caller_id, _ = WEEK[preset]
    return {
        "campaign": {"name": name},
        "pacing": {"mode": "progressive", "lines_per_agent": 1.0},
        "dialing": {"caller_id": caller_id, "ring_timeout": 20, "max_in_flight": 20},
        "queue": {"name": "collectors", "agent_wait": 2},
        "compliance": {"preset": preset},
        **extra,
    }


async def local_days(db, cid: int, zone: str) -> int:
    async with db.acquire() as conn:
        return await conn.fetchval(
            """SELECT count(DISTINCT (created_at AT TIME ZONE $2)::date) FROM attempts
               WHERE campaign_id = $1 AND disposition <> 'not_dialed'""",
            cid,
            zone,
        )


@pytest.mark.parametrize("preset", sorted(WEEK))
@in_virtual_time
async def test_a_week_under_the_preset_audits_clean(db, preset):
    zone, _, pattern = WEEK[preset]
    clock = JumpClock(next_local_time(10, zone, time.time()), SCALE)
    name = f"week-{preset}"
    callees = CalleeConfig(mix=HARD_TO_REACH, ring_mean=6.0, talk_mean=25.0)
    agents = AgentConfig(count=6, talk_mean=25, wrapuptime=5)
    async with asterisk_on_sim(clock, seed=5, callees=callees, agents=agents) as pbx:
        cid, campaign = await import_campaign(db, week_doc(name, preset), week_csv(pattern, 40))
        run = await run_days(db, clock, campaign, cid, pbx.driver, pbx.answered.registry, 7, 50.0)
    days = await local_days(db, cid, zone)
    print(f"\n{name}: {days} local days, held by rules {run['stats'].held_by_rules}")
    # uk works the list all week; under us the 7-day quiet period per debtor (households and
    # loans share it) and the no-answer streaks retire most cases after two days.
    assert days >= (7 if preset == "uk" else 1) or run["emptied"]
    if preset == "us":
        assert run["stats"].held_by_rules.get("quiet.conversation", 0) > 0
    report = await audit_campaign(db, name)
    assert report.attempts >= 40
    assert report.violations == (), [(v.code, v.detail) for v in report.violations]
    findings = await law_findings(db, [name], preset)  # from the regulations, not our code
    assert findings == [], findings


async def write_truths(db, timeline: Timeline, every: float) -> None:
    """Write each AMD verdict's truth as the simulated PBX knows it, every ``every`` loop
    seconds (a review of the recordings running beside the campaign)."""
    done = 0
    while True:
        await asyncio.sleep(every)
        new = timeline.amd[done:]
        done += len(new)
        async with db.acquire() as conn:
            await record_amd_truth(conn, [(v.call_id, v.truth) for v in new])


@pytest.mark.parametrize("preset", ["cn", "uk"])
@in_virtual_time
async def test_a_week_with_amd_false_positives_audits_clean(db, preset):
    """AMD on; the detector takes 1 person in 100 for a machine and 1 machine in 20 for a
    person. A false positive is an abandoned live call (Ofcom: also a 72 h lock-out of the
    number), so the campaign needs the live volume to carry it: 240 mostly reachable cases
    (uk: households and multi-loan debtors; cn: the demo list)."""
    zone = "Asia/Shanghai" if preset == "cn" else WEEK[preset][0]
    clock = JumpClock(next_local_time(9, zone, time.time()), SCALE)
    name = f"amd-week-{preset}"
    callees = CalleeConfig(
        mix=CalleeMix.only(
            human=0.45,
            machine=0.25,
            busy=0.08,
            no_answer=0.15,
            unallocated=0.01,
            powered_off=0.04,
            rejected=0.02,
        ),
        ring_mean=6.0,
        talk_mean=20.0,
        amd_false_positive=0.01,
        amd_false_negative=0.05,
    )
    agents = AgentConfig(count=8, talk_mean=20, wrapuptime=3)
    # uk: a MACHINE verdict plays the drop message (a person taken for a machine is an
    # abandoned call and must hear it; the preset refuses "hangup"); cn has no such rule.
    amd = {"enabled": True, "action": "hangup"}
    if preset == "uk":
        amd = {"enabled": True, "action": "message", "message_prompt": "safe-harbor"}
    if preset == "cn":
        doc = {**campaign_doc(name, lines_per_agent=1.0), "amd": amd}
        cases = demo_cases_csv(240, seed=17)
    else:
        doc, cases = week_doc(name, preset, amd=amd), week_csv(WEEK[preset][2], 240)
    async with asterisk_on_sim(clock, seed=9, callees=callees, agents=agents) as pbx:
        cid, campaign = await import_campaign(db, doc, cases)
        review = asyncio.create_task(write_truths(db, pbx.sim.queue.timeline, 1.0))
        try:
            run = await run_days(
                db, clock, campaign, cid, pbx.driver, pbx.answered.registry, 7, 120.0
            )
        finally:
            review.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await review
        verdicts = pbx.sim.queue.timeline.amd
    async with db.acquire() as conn:
        await record_amd_truth(conn, [(v.call_id, v.truth) for v in verdicts])
        fps = await conn.fetchval(
            """SELECT count(*) FROM amd_decisions d JOIN attempts a USING (call_id)
               WHERE a.campaign_id = $1 AND d.status = 'MACHINE' AND d.truth = 'human'""",
            cid,
        )
    fns = sum(v.status == "HUMAN" and v.truth == "machine" for v in verdicts)
    days = await local_days(db, cid, zone)
    report = await audit_campaign(db, name)
    print(
        f"\n{name}: {report.attempts} attempts on {days} local days, {len(verdicts)} AMD "
        f"verdicts, {fps} false positives, {fns} false negatives, "
        f"held by rules {run['stats'].held_by_rules}"
    )
    assert fps >= 1 and fns >= 1, "the simulated detector erred both ways"
    assert run["emptied"] or clock() >= run["end"], "the run stopped before its week"
    assert days >= 2
    assert report.violations == (), [(v.code, v.detail) for v in report.violations]
    findings = await law_findings(db, [name], preset)  # from the regulations, not our code
    assert findings == [], findings


@pytest.mark.parametrize(
    ("preset", "start", "change"),
    [
        ("uk", datetime(2027, 3, 27, 10), datetime(2027, 3, 28, 1)),  # spring forward
        ("us", datetime(2027, 11, 6, 19), datetime(2027, 11, 7, 6)),  # fall back (06:00 UTC)
    ],
)
@in_virtual_time
async def test_days_across_the_dst_change_audit_clean(db, preset, start, change):
    """Three days across a DST change: the window's edges move by an hour in UTC; the outside
    checker judges every call in the callee's local time as the law reads it."""
    zone, _, pattern = WEEK[preset]
    clock = JumpClock(start.replace(tzinfo=ZoneInfo(zone)).timestamp(), SCALE)
    name = f"dst-{preset}"
    callees = CalleeConfig(mix=HARD_TO_REACH, ring_mean=6.0, talk_mean=25.0)
    agents = AgentConfig(count=6, talk_mean=25, wrapuptime=5)
    async with asterisk_on_sim(clock, seed=7, callees=callees, agents=agents) as pbx:
        cid, campaign = await import_campaign(db, week_doc(name, preset), week_csv(pattern, 40))
        await run_days(db, clock, campaign, cid, pbx.driver, pbx.answered.registry, 3, 40.0)
    async with db.acquire() as conn:
        after = await conn.fetchval(
            """SELECT count(*) FROM attempts WHERE campaign_id = $1 AND created_at > $2
               AND disposition <> 'not_dialed'""",
            cid,
            change.replace(tzinfo=UTC),
        )
    print(f"\n{name}: {after} calls after the DST change")
    assert after > 0, "no call after the change: nothing was judged across it"
    report = await audit_campaign(db, name)
    assert report.violations == (), [(v.code, v.detail) for v in report.violations]
    assert await law_findings(db, [name], preset) == []
