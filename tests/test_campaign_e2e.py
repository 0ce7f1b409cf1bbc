"""A campaign end to end over real sockets, for each PBX driver with the same assertions.

Embedded PostgreSQL, the simulated PBX, and either AsteriskDriver (AMI + FastAGI) or
FreeSwitchDriver (inbound ESL + outbound-socket sessions); see tests/e2e_rig.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from e2e_rig import PBX_KINDS, attempts_of, campaign_doc, rig_for
from virtual_time import in_virtual_time

from dialer_core.campaign.config import parse_campaign
from dialer_core.compliance.region import region_of
from dialer_core.compliance.windows import window_check


@pytest.fixture(params=PBX_KINDS)
def pbx(request) -> str:
    """The PBX a test runs against: each test runs once per driver."""
    return request.param


@in_virtual_time
async def test_every_dial_ends_as_one_attempt_with_one_disposition(db, pbx):
    async with rig_for(pbx, db, agents=3, time_scale=40) as rig:
        cid, campaign = await rig.seed_cases("e2e", 200)
        runner = await rig.run_for(campaign, 6.0)
        rows = await attempts_of(db, cid)
        originated = rig.originates_received
    assert runner.stats.launched >= 10
    # The queue's agent-connect (app_queue AgentConnect, mod_callcenter bridge-agent-start)
    # reached the runner for the calls agents took. Once checked for FreeSWITCH only; it holds
    # for both, so both check it.
    talked = sum(r["disposition"] == "agent_talked" for r in rows)
    assert 0 < runner.stats.connected >= talked - 1
    # Every originate the PBX saw has its attempt row, each exactly once, and vice versa.
    assert len(originated) == len(set(originated)) == len(rows)
    assert set(originated) == {r["cid"] for r in rows}
    # Every attempt is closed with one disposition.
    assert all(r["state"] == "done" and r["disposition"] for r in rows)
    dispositions = {r["disposition"] for r in rows}
    assert "agent_talked" in dispositions
    assert dispositions & {
        "busy",
        "no_answer",
        "invalid_number",
        "powered_off",
        "congestion",
        "rejected",
    }
    # No case was dialed twice at once (attempt intervals of a case never overlap).
    by_case: dict[int, list] = {}
    for r in rows:
        by_case.setdefault(r["case_id"], []).append((r["created_at"], r["ended_at"]))
    for spans in by_case.values():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end


@in_virtual_time
async def test_redial_times_follow_the_campaign_rules(db, pbx):
    async with rig_for(pbx, db, agents=3, time_scale=40, seed=9) as rig:
        cid, campaign = await rig.seed_cases("rules", 150)
        await rig.run_for(campaign, 5.0)
        rows = await attempts_of(db, cid)
        async with db.acquire() as conn:
            schedule = {r["case_id"]: r for r in await conn.fetch("SELECT * FROM schedule")}
            stopped = {
                r["id"] for r in await conn.fetch("SELECT id FROM phones WHERE status = 'stopped'")
            }
    rules = campaign.compliance
    checked = 0
    for r in rows:
        disp, nxt = r["disposition"], r["next_attempt_at"]
        rule = rules.redial.rule_for(disp)
        if disp in ("agent_talked", "answered") and rule.close_case:
            assert nxt is None
            assert r["case_id"] not in schedule  # the case is finished
        elif disp == "invalid_number":
            assert r["phone_id"] in stopped
        elif nxt is not None:
            # Never before the rule's delay (counted from the launch), always inside the window.
            assert nxt >= r["created_at"] + rule.delay
            if not rule.calling_hours_only and rule.delay:
                assert nxt - (r["created_at"] + rule.delay) < timedelta(seconds=5)
            assert window_check(region_of(r["e164"]), nxt, rules.window)
            checked += 1
    assert checked >= 3


@in_virtual_time
async def test_link_cut_with_originates_in_flight_resends_nothing(db, pbx):
    async with rig_for(pbx, db, agents=4, time_scale=20, seed=3) as rig:
        cid, campaign = await rig.seed_cases("cut", 120)

        async def cut_when_busy(holder):
            for _ in range(100):
                await asyncio.sleep(0.05)
                if holder and len(holder[0].inflight) >= 3:
                    break
            assert holder and holder[0].inflight, "no call in flight to cut"
            await rig.cut_link()

        runner = await rig.run_for(campaign, 4.0, during=cut_when_busy)
        rows = await attempts_of(db, cid)
        originated = rig.originates_received
        reconnects = rig.reconnects
    assert reconnects >= 1
    assert len(originated) == len(set(originated)), "an originate was sent twice"
    # Every originate has its attempt. An attempt whose originate never reached the PBX (the
    # link went down between the row and the send, during the send, or the driver refused it
    # while the link was down) is closed as failed, unanswered, and never sent later. The
    # FreeSWITCH file checked only the disposition; the Asterisk one's unanswered check is the
    # stricter and holds for both.
    assert set(originated) <= {r["cid"] for r in rows}
    for r in rows:
        if r["cid"] not in originated:
            assert r["disposition"] == "failed" and r["answered_at"] is None
    assert all(r["state"] == "done" and r["disposition"] for r in rows)
    assert runner.stats.finished == len(rows)


@in_virtual_time
async def test_no_agent_within_two_seconds_is_counted_abandoned(db, pbx):
    # Lines per agent well above 1 with few agents: some answered calls find no agent. The
    # 2 seconds are app_queue's timeout on Asterisk and EslSession.enqueue's wait on FreeSWITCH.
    async with rig_for(pbx, db, agents=2, time_scale=30, seed=2) as rig:
        cid, _ = await rig.seed_cases("abandon", 150)
        campaign = parse_campaign(campaign_doc("abandon", lines_per_agent=4.0), "t")
        runner = await rig.run_for(campaign, 5.0)
        rows = await attempts_of(db, cid)
    abandoned = [r for r in rows if r["disposition"] == "abandoned"]
    assert abandoned, "expected some abandoned calls at 4 lines per agent"
    assert all(r["abandoned"] and r["answered_at"] is not None for r in abandoned)
    assert runner.stats.abandoned == len(abandoned)
