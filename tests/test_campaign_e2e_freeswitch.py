"""The campaign end to end over FreeSWITCH's protocols: inbound ESL + outbound-socket sessions.

The same assertions as tests/test_campaign_e2e.py (Asterisk), with FreeSwitchDriver, the
project's OutboundServer running the answered-call handler, and the simulated PBX's ESL side.
The 2-second agent rule is timed by the dialer here (EslSession.enqueue waits ``agent_wait``
real seconds, then ``uuid_break``), not by the PBX as with app_queue's timeout.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from test_campaign_e2e import START_ZONE, Rig, attempts_of, campaign_doc
from test_robot_campaign_e2e import ROBOT_OUTCOMES, mixed_doc

from dialer_core.campaign.config import parse_campaign
from dialer_core.clock import ScaledClock, next_local_time
from dialer_core.compliance.region import region_of
from dialer_core.compliance.windows import window_check
from dialer_core.pbx_link import OutboundAnsweredServer
from pbx.freeswitch.client import EslClient
from pbx.freeswitch.driver import FreeSwitchDriver
from pbx.sim import AgentConfig, SimConfig, SimPbx
from pbx.sim.esl_pbx import SimEsl

EXTENSION = "dialer-answered"


class FsRig(Rig):
    """Rig over ESL: SimPbx + SimEsl, FreeSwitchDriver, OutboundServer."""

    async def __aenter__(self) -> FsRig:
        # Simulated time, inside the callees' calling window, as fast as the simulated PBX.
        self.clock = ScaledClock(next_local_time(10, START_ZONE, time.time()), self.time_scale)
        self.answered = await OutboundAnsweredServer.start("127.0.0.1", 0)
        self.sim = SimPbx(
            SimConfig(
                seed=self.seed,
                time_scale=self.time_scale,
                agents=AgentConfig(count=self.agents, talk_mean=60, wrapup_mean=10),
            )
        )
        await self.sim.start()
        self.esl = SimEsl(
            self.sim,
            dialplan={EXTENSION: f"socket 127.0.0.1:{self.answered.server.port} async full"},
        )
        await self.esl.start()
        client = EslClient("127.0.0.1", self.esl.port, "ClueCon", backoff_initial=0.2, seed=1)
        self.driver = FreeSwitchDriver(
            client,
            dial_template="loopback/{number}/sim-callee",
            target=f"{EXTENSION} XML dialer",
            queues=("collectors",),
        )
        await self.driver.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.driver.close()
        await self.esl.close()
        await self.sim.close()
        await self.answered.close()


async def test_every_dial_ends_as_one_attempt_with_one_disposition(db):
    async with FsRig(db, agents=3, time_scale=40) as rig:
        cid, campaign = await rig.seed_cases("e2e-fs", 200)
        runner = await rig.run_for(campaign, 3.5)
        rows = await attempts_of(db, cid)
        originated = rig.esl.originates_received
    assert runner.stats.launched >= 10
    # mod_callcenter's bridge-agent-start reached the runner for the calls agents took.
    talked = sum(r["disposition"] == "agent_talked" for r in rows)
    assert 0 < runner.stats.connected >= talked - 1
    assert len(originated) == len(set(originated)) == len(rows)
    assert set(originated) == {r["cid"] for r in rows}
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
    by_case: dict[int, list] = {}
    for r in rows:
        by_case.setdefault(r["case_id"], []).append((r["created_at"], r["ended_at"]))
    for spans in by_case.values():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end


async def test_redial_times_follow_the_campaign_rules(db):
    async with FsRig(db, agents=3, time_scale=40, seed=9) as rig:
        cid, campaign = await rig.seed_cases("rules-fs", 150)
        await rig.run_for(campaign, 3.0)
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
            assert r["case_id"] not in schedule
        elif disp == "invalid_number":
            assert r["phone_id"] in stopped
        elif nxt is not None:
            assert nxt >= r["created_at"] + rule.delay
            if not rule.calling_hours_only and rule.delay:
                assert nxt - (r["created_at"] + rule.delay) < timedelta(seconds=5)
            assert window_check(region_of(r["e164"]), nxt, rules.window)
            checked += 1
    assert checked >= 3


async def test_esl_link_cut_with_originates_in_flight_resends_nothing(db):
    async with FsRig(db, agents=4, time_scale=20, seed=3) as rig:
        cid, campaign = await rig.seed_cases("cut-fs", 120)

        async def cut_when_busy(holder):
            for _ in range(100):
                await asyncio.sleep(0.05)
                if holder and len(holder[0].inflight) >= 3:
                    break
            assert holder and holder[0].inflight, "no call in flight to cut"
            await rig.esl.drop_connections()

        runner = await rig.run_for(campaign, 3.0, during=cut_when_busy)
        rows = await attempts_of(db, cid)
        originated = rig.esl.originates_received
        connects = rig.driver.client.connects
    assert connects >= 2
    assert len(originated) == len(set(originated)), "an originate was sent twice"
    # An originate tried while the link was down is refused before sending (OriginateFailed,
    # never dialed); every other attempt is one originate the PBX received, and vice versa.
    assert set(originated) <= {r["cid"] for r in rows}
    assert all(r["disposition"] == "failed" for r in rows if r["cid"] not in set(originated))
    assert all(r["state"] == "done" and r["disposition"] for r in rows)
    assert runner.stats.finished == len(rows)


async def test_no_agent_within_two_seconds_is_counted_abandoned(db):
    async with FsRig(db, agents=2, time_scale=30, seed=2) as rig:
        cid, _ = await rig.seed_cases("abandon-fs", 150)
        campaign = parse_campaign(campaign_doc("abandon-fs", lines_per_agent=4.0), "t")
        runner = await rig.run_for(campaign, 3.5)
        rows = await attempts_of(db, cid)
    abandoned = [r for r in rows if r["disposition"] == "abandoned"]
    assert abandoned, "expected some abandoned calls at 4 lines per agent"
    assert all(r["abandoned"] and r["answered_at"] is not None for r in abandoned)
    assert runner.stats.abandoned == len(abandoned)


async def test_mixed_campaign_over_esl_records_detects_machines_and_routes(
    db, tmp_path, monkeypatch
):
    """Recording (record_session) and AMD (mod_amd) through the PBX-neutral session calls."""
    monkeypatch.setenv("PACEDIAL_SOUNDS", str(tmp_path / "sounds"))
    async with FsRig(db, agents=3, time_scale=20, seed=4) as rig:
        cid, _ = await rig.seed_cases("mixed-fs", 200)
        campaign = parse_campaign(mixed_doc("mixed-fs"), "mixed.toml")
        runner = await rig.run_for(campaign, 8.0)
        rows = await attempts_of(db, cid)
        async with db.acquire() as conn:
            amd = await conn.fetch("SELECT * FROM amd_decisions")
            recordings = await conn.fetch("SELECT call_id::text, path FROM recordings")
        recorded = [path for leg in rig.esl.legs for path in leg.recordings]
    answered = [r for r in rows if r["answered_at"] is not None]
    robot = [r for r in answered if r["detail"].get("handled_by") == "robot"]
    human = [r for r in answered if r["detail"].get("handled_by") == "human"]
    assert robot and human
    assert {r["disposition"] for r in robot} <= ROBOT_OUTCOMES
    assert {str(a["call_id"]) for a in amd} == {r["cid"] for r in answered}
    assert {a["status"] for a in amd} <= {"HUMAN", "MACHINE", "NOTSURE", "HANGUP"}
    machines = {str(a["call_id"]) for a in amd if a["status"] == "MACHINE"}
    assert machines, "the callee mix has answering machines"
    assert all(r["disposition"] == "machine" for r in answered if r["cid"] in machines)
    assert {rec["call_id"] for rec in recordings} == {r["cid"] for r in answered}
    assert sorted(recorded) == sorted(rec["path"] for rec in recordings)
    assert all(rec["path"] == f"{rec['call_id']}.wav" for rec in recordings)
    assert runner.stats.connected >= 1
    assert {status.value for status, _ in runner.agents.values()} <= {
        "idle",
        "talking",
        "wrapup",
        "paused",
        "logged_out",
    }
