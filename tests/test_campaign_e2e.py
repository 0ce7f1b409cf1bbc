"""A campaign end to end over real sockets: embedded PostgreSQL, simulated PBX, AMI, FastAGI."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from dialer_core.campaign.config import parse_campaign
from dialer_core.campaign.runner import CampaignRunner
from dialer_core.campaign.service import AnsweredCallServer, run_campaign
from dialer_core.cases_csv import parse_cases_csv
from dialer_core.clock import ScaledClock, next_local_time
from dialer_core.compliance.region import region_of
from dialer_core.compliance.windows import window_check
from dialer_core.demo_data import demo_cases_csv
from dialer_core.store.cases import ensure_campaign, import_cases
from pbx.asterisk.driver import AsteriskDriver
from pbx.sim import AgentConfig, SimConfig, SimPbx

CONTEXT = "pacedial-answered"
START_ZONE = "Asia/Shanghai"  # the demo cases are +86 numbers: run inside their window


def campaign_doc(name: str, **pacing) -> dict:
    return {
        "campaign": {"name": name},
        "pacing": {"mode": "progressive", "lines_per_agent": 1.5, **pacing},
        "dialing": {"caller_id": "+862088880000", "ring_timeout": 20, "max_in_flight": 40},
        "queue": {"name": "collectors", "agent_wait": 2},
        "compliance": {
            "preset": "cn",
            "caps": {"phone_day": 20},
            "redial": {"busy": {"delay": "10m"}, "congestion": {"delay": "2m"}},
        },
    }


class Rig:
    """Everything a campaign needs, wired over loopback."""

    def __init__(
        self, db, agents: int, time_scale: float, seed: int = 5, recordings_dir: str = ""
    ) -> None:
        self.db, self.agents, self.time_scale, self.seed = db, agents, time_scale, seed
        self.recordings_dir = recordings_dir

    async def __aenter__(self) -> Rig:
        # Simulated time, inside the callees' calling window, as fast as the simulated PBX.
        start = next_local_time(10, START_ZONE, time.time())
        self.clock = ScaledClock(start, self.time_scale)
        self.answered = await AnsweredCallServer.start("127.0.0.1", 0)
        self.sim = SimPbx(
            SimConfig(
                seed=self.seed,
                time_scale=self.time_scale,
                dialplan={CONTEXT: f"agi://127.0.0.1:{self.answered.server.port}/router"},
                agents=AgentConfig(count=self.agents, talk_mean=60, wrapup_mean=10),
                recordings_dir=self.recordings_dir,
            )
        )
        await self.sim.start()
        self.driver = AsteriskDriver(
            host="127.0.0.1",
            port=self.sim.ami_port,
            username="pacedial",
            secret="pacedial",
            dial_template="Local/{number}@sim-callee",
            answered_context=CONTEXT,
            clock=self.clock,
        )
        await self.driver.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.driver.close()
        await self.sim.close()
        await self.answered.close()

    async def seed_cases(self, name: str, cases: int) -> tuple[int, object]:
        campaign = parse_campaign(campaign_doc(name), "test campaign")
        parsed = parse_cases_csv(demo_cases_csv(cases, seed=11))
        async with self.db.acquire() as conn:
            cid = await ensure_campaign(conn, name, campaign.mode, campaign.raw)
            await import_cases(conn, cid, parsed.rows, parsed.errors, "demo")
        return cid, campaign

    async def run_for(self, campaign, seconds: float, during=None) -> CampaignRunner:
        stop = asyncio.Event()
        holder: list[CampaignRunner] = []
        task = asyncio.create_task(
            run_campaign(
                self.db,
                self.driver,
                campaign,
                self.answered.registry,
                stop,
                holder,
                clock=self.clock,
            )
        )
        if during is not None:
            await during(holder)
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.wait_for(task, 60)
        return holder[0]


async def attempts_of(db, cid):
    async with db.acquire() as conn:
        return await conn.fetch(
            "SELECT a.*, a.call_id::text AS cid, p.e164 FROM attempts a "
            "JOIN phones p ON p.id = a.phone_id WHERE campaign_id = $1 ORDER BY created_at",
            cid,
        )


async def test_every_dial_ends_as_one_attempt_with_one_disposition(db):
    async with Rig(db, agents=3, time_scale=40) as rig:
        cid, campaign = await rig.seed_cases("e2e", 200)
        runner = await rig.run_for(campaign, 6.0)
        rows = await attempts_of(db, cid)
        originated = rig.sim.originates_received
    assert runner.stats.launched >= 10
    # Every Originate the PBX saw has its attempt row, each exactly once, and vice versa.
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


async def test_redial_times_follow_the_campaign_rules(db):
    async with Rig(db, agents=3, time_scale=40, seed=9) as rig:
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


async def test_ami_link_cut_with_originates_in_flight_resends_nothing(db):
    async with Rig(db, agents=4, time_scale=20, seed=3) as rig:
        cid, campaign = await rig.seed_cases("cut", 120)

        async def cut_when_busy(holder):
            for _ in range(100):
                await asyncio.sleep(0.05)
                if holder and len(holder[0].inflight) >= 3:
                    break
            assert holder and holder[0].inflight, "no call in flight to cut"
            await rig.sim.drop_ami_connections()

        runner = await rig.run_for(campaign, 4.0, during=cut_when_busy)
        rows = await attempts_of(db, cid)
        originated = rig.sim.originates_received
        reconnects = rig.driver.client.reconnects
    assert reconnects >= 1
    assert len(originated) == len(set(originated)), "an Originate was sent twice"
    # Every Originate has its attempt. An attempt whose Originate never reached the PBX (the
    # link went down between the row and the send, or during the send) is closed as failed by
    # the reconciliation after the reconnect, and never sent later.
    assert set(originated) <= {r["cid"] for r in rows}
    for r in rows:
        if r["cid"] not in originated:
            assert r["disposition"] == "failed" and r["answered_at"] is None
    assert all(r["state"] == "done" and r["disposition"] for r in rows)
    assert runner.stats.finished == len(rows)


@pytest.mark.parametrize("agents", [2])
async def test_no_agent_within_two_seconds_is_counted_abandoned(db, agents):
    # Lines per agent well above 1 with few agents: some answered calls find no agent.
    async with Rig(db, agents=agents, time_scale=30, seed=2) as rig:
        cid, _ = await rig.seed_cases("abandon", 150)
        campaign = parse_campaign(campaign_doc("abandon", lines_per_agent=4.0), "t")
        runner = await rig.run_for(campaign, 5.0)
        rows = await attempts_of(db, cid)
    abandoned = [r for r in rows if r["disposition"] == "abandoned"]
    assert abandoned, "expected some abandoned calls at 4 lines per agent"
    assert all(r["abandoned"] and r["answered_at"] is not None for r in abandoned)
    assert runner.stats.abandoned == len(abandoned)
