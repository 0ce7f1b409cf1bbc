"""The law's keys end to end, under each preset: three cases share a household number, one
debtor has four loans, two campaigns on two runners (each its own AMI link) work the same
people at once, and a third campaign's earlier calls are history.

Earlier calls (the ``prior`` campaign, seeded in PostgreSQL) put each preset's key-bound
rules in force at the start; the real runners on the simulated PBX must honour them across
cases and campaigns, never ring one number twice at once, and the audit finds nothing.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from virtual_time import in_virtual_time

from dialer_core.campaign.config import parse_campaign
from dialer_core.campaign.runner import CampaignRunner
from dialer_core.cases_csv import parse_cases_csv
from dialer_core.clock import ScaledClock, next_local_time
from dialer_core.face.audit_cli import audit_campaign
from dialer_core.face.service import AnsweredCallServer, run_campaign
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases
from pbx.asterisk.driver import AsteriskDriver
from pbx.sim import AgentConfig, CalleeConfig, CalleeMix, SimConfig, SimPbx

CONTEXT = "pacedial-answered"
SCALE = 40.0
RUN_SECONDS = 6.0  # real seconds: 4 simulated minutes

PRESETS = {
    # preset: (zone, caller ID, household number, the debtor's other loans, unrelated numbers)
    "cn": (
        "Asia/Shanghai",
        "+862088880000",
        "+8613800138000",
        ["+8613900139001", "+8613900139002", "+8613900139003"],
        ["+8613700137001", "+8613700137002", "+8613700137003", "+8613700137004"],
    ),
    "us": (
        "America/New_York",
        "+12125550100",
        "+12125551000",
        ["+12125551001", "+12125551002", "+12125551003"],
        ["+12125552001", "+12125552002", "+12125552003", "+12125552004"],
    ),
    "uk": (
        "Europe/London",
        "+442071234000",
        "+442071234567",
        ["+442071234568", "+442071234569", "+442071234570"],
        ["+442079460001", "+442079460002", "+442079460003", "+442079460004"],
    ),
}


def cases_csv(house: str, loans: list[str], others: list[str]) -> bytes:
    """L1..L4: debtor D1's four loans (L1 on the household number); H1: debtor D2 on the
    household number; H2: no debtor id on the household number; F1..F4 unrelated."""
    lines = ["external_id,debtor_name,amount,days_past_due,phone,debtor_id"]
    lines.append(f"L1,Wang,100,30,{house},D1")
    lines += [f"L{i + 2},Wang,100,30,{n},D1" for i, n in enumerate(loans)]
    lines += [f"H1,Li,100,30,{house},D2", f"H2,Li,100,30,{house},"]
    lines += [f"F{i + 1},Zhao{i},100,30,{n}," for i, n in enumerate(others)]
    return ("\n".join(lines) + "\n").encode()


def campaign_doc(name: str, preset: str, caller_id: str) -> dict:
    return {
        "campaign": {"name": name},
        "pacing": {"mode": "progressive", "lines_per_agent": 1.0},
        "dialing": {"caller_id": caller_id, "ring_timeout": 20, "max_in_flight": 10},
        "queue": {"name": "collectors", "agent_wait": 2},
        "compliance": {"preset": preset, "redial": {"busy": {"delay": "30s"}}},
        "recording": {"enabled": True},
    }


async def seed_prior(conn, preset: str, start: datetime, prior: dict[str, int], phones) -> None:
    """The earlier calls that put each preset's key-bound rules in force at ``start``."""

    async def call(ext: str, number: str, at: datetime, disposition: str, **flags) -> None:
        answered = at + timedelta(seconds=8) if flags.get("answered") else None
        await conn.execute(
            """INSERT INTO attempts (call_id, campaign_id, case_id, phone_id, attempt_no,
                   caller_id, runner, state, created_at, answered_at, ended_at, disposition,
                   abandoned)
               SELECT $1, c.campaign_id, c.id, p.id, 1, '', 'prior', 'done', $4, $5, $6, $7, $8
               FROM cases c JOIN phones p ON p.case_id = c.id
               WHERE c.id = $2 AND p.e164 = $3""",
            uuid.uuid4(),
            prior[ext],
            number,
            at,
            answered,
            at + timedelta(minutes=2),
            disposition,
            flags.get("abandoned", False),
        )

    house, loans = phones
    if preset == "cn":  # three conversations with D1 this morning: no 4th today, any loan
        for i, n in enumerate(loans):
            await call(
                f"L{i + 2}",
                n,
                start - timedelta(minutes=50 - 10 * i),
                "agent_talked",
                answered=True,
            )
    elif preset == "us":  # a conversation with D1 yesterday: 7 quiet days on every debt
        await call("L2", loans[0], start - timedelta(days=1), "agent_talked", answered=True)
    else:  # uk: an abandoned call to the household 30 h ago; a machine on L2 this morning
        await call(
            "H1", house, start - timedelta(hours=30), "abandoned", answered=True, abandoned=True
        )
        await call("L2", loans[0], start - timedelta(minutes=40), "machine", answered=True)


@pytest.mark.parametrize("preset", sorted(PRESETS))
@in_virtual_time
async def test_keys_hold_across_cases_campaigns_and_two_runners(db, preset):
    zone, caller_id, house, loans, others = PRESETS[preset]
    start = next_local_time(10, zone, time.time())
    clock = ScaledClock(start, SCALE)
    answered = await AnsweredCallServer.start("127.0.0.1", 0)
    sim = SimPbx(
        SimConfig(
            seed=3,
            time_scale=SCALE,
            dialplan={CONTEXT: f"agi://127.0.0.1:{answered.server.port}/router"},
            callees=CalleeConfig(
                mix=CalleeMix(
                    human=0.6,
                    machine=0.0,
                    busy=0.3,
                    no_answer=0.1,
                    unallocated=0.0,
                    powered_off=0.0,
                    congestion=0.0,
                    rejected=0.0,
                ),
                ring_mean=4.0,
                talk_mean=20.0,
            ),
            agents=AgentConfig(count=6, talk_mean=20, wrapuptime=2),
        )
    )
    await sim.start()
    drivers = []
    for _ in range(2):
        d = AsteriskDriver(
            host="127.0.0.1",
            port=sim.ami_port,
            username="pacedial",
            secret="pacedial",
            dial_template="Local/{number}@sim-callee",
            answered_context=CONTEXT,
            clock=clock,
        )
        await d.connect()
        drivers.append(d)
    parsed = parse_cases_csv(cases_csv(house, loans, others), default_country="CN")
    assert parsed.errors == ()
    ids: dict[str, dict[str, int]] = {}
    camps = {}
    async with db.acquire() as conn:
        for name in ("prior", "A", "B"):
            camp = parse_campaign(campaign_doc(name, preset, caller_id), f"{name}.toml")
            cid = await ensure_campaign(conn, name, camp.mode, camp.raw)
            await import_cases(conn, cid, parsed.rows, parsed.errors, "t")
            rows = await conn.fetch("SELECT id, external_id FROM cases WHERE campaign_id = $1", cid)
            ids[name] = {r["external_id"]: r["id"] for r in rows}
            camps[name] = (cid, camp)
        await conn.execute("DELETE FROM schedule WHERE campaign_id = $1", camps["prior"][0])
        t0 = datetime.fromtimestamp(start, UTC)
        await seed_prior(conn, preset, t0, ids["prior"], (house, loans))
        keys = dict(
            await conn.fetch("SELECT external_id || '/' || campaign_id, debtor_key FROM cases")
        )
    # Identity: the household's unidentified case joined a debtor; campaigns share debtors.
    a, b = camps["A"][0], camps["B"][0]
    assert keys[f"L1/{a}"] == keys[f"L4/{b}"] == "id:D1" and keys[f"H1/{a}"] == "id:D2"
    assert keys[f"H2/{a}"] in ("id:D1", "id:D2")

    stop = asyncio.Event()
    holders: list[list[CampaignRunner]] = [[], []]
    try:
        tasks = [
            asyncio.create_task(
                run_campaign(
                    db, drivers[i], camps[n][1], answered.registry, stop, holders[i], clock=clock
                )
            )
            for i, n in enumerate(("A", "B"))
        ]
        await asyncio.sleep(RUN_SECONDS)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 90)
    finally:
        for d in drivers:
            await d.close()
        await sim.close()
        await answered.close()
    runners = [h[0] for h in holders]
    assert runners[0].runner_id != runners[1].runner_id
    held = defaultdict(int)
    for r in runners:
        for code, n in r.stats.held_by_rules.items():
            held[code] += n

    async with db.acquire() as conn:
        rows = await conn.fetch(
            """SELECT a.e164, a.created_at, a.ended_at, a.state, c.external_id, c.debtor_key,
                      a.campaign_id
               FROM attempts a JOIN cases c ON c.id = a.case_id
               WHERE a.campaign_id = ANY($1::bigint[]) AND a.disposition <> 'not_dialed'
               ORDER BY a.created_at""",
            [a, b],
        )
    assert rows and all(r["state"] == "done" for r in rows)
    # One live call per number, whichever runner, campaign or case placed it.
    by_number = defaultdict(list)
    for r in rows:
        by_number[r["e164"]].append(r)
    for calls in by_number.values():
        for before, after in zip(calls, calls[1:], strict=False):
            assert after["created_at"] >= before["ended_at"], (before, after)
    # ... and the other runner did try: held by the open attempt, or refused by the index.
    assert held["in_progress"] + sum(r.stats.skipped_duplicates for r in runners) > 0

    d1 = {r["external_id"] for r in rows if r["debtor_key"] == "id:D1"}
    if preset == "cn":  # D1 had its 3 effective calls today: none of its loans rang
        assert not d1 and held["cap.connected_debtor_day"] > 0
    elif preset == "us":  # D1 is in the quiet period on every debt
        assert not d1 and held["quiet.conversation"] > 0
    else:  # the household number is locked for 72 h; L2's number for the day (machine)
        assert house not in by_number and loans[0] not in by_number
        assert held["lockout.abandoned"] > 0 and held["lockout.machine"] > 0
    audited = 0
    for name in ("A", "B"):
        report = await audit_campaign(db, name)
        assert report.violations == (), [(v.code, v.detail) for v in report.violations]
        audited += report.attempts
    assert audited == len(rows)
