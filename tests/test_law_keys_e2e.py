"""The law's keys end to end, under each preset: three cases share a household number, one
debtor has four loans, two campaigns on two runners (each its own database pool, AMI link and
FastAGI server) work the same people at once on one simulated PBX and one PostgreSQL, and a
third campaign's earlier calls are history.

Earlier calls (the ``prior`` campaign, seeded in PostgreSQL) put each preset's key-bound
rules in force at the start; the runners must honour them across cases, campaigns and
runners, never ring one number twice at once, and the audit finds nothing. The runners and
the simulated PBX share one clock set to 10:00 in the preset's zone: virtual time for the
runners of one process (every preset), the wall clock moved by ``PACEDIAL_LAB_CLOCK`` for two
``pacedial run`` processes (one preset: what separate processes add is the command and that
nothing is shared in memory).
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import socket
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from e2e_rig import sim_ami_driver
from law_audit import law_findings
from virtual_time import in_virtual_time, open_pool

from dialer_core.campaign.config import parse_campaign
from dialer_core.campaign.runner import CampaignRunner
from dialer_core.cases_csv import parse_cases_csv
from dialer_core.clock import LAB_CLOCK_ENV, ScaledClock, ShiftedClock, next_local_time
from dialer_core.face.audit_cli import audit_campaign
from dialer_core.face.service import AnsweredCallServer, run_campaign
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases
from pbx.asterisk.driver import AsteriskDriver
from pbx.sim import AgentConfig, CalleeConfig, CalleeMix, SimConfig, SimPbx

ROOT = Path(__file__).resolve().parent.parent
RUN_SECONDS = 12.0  # simulated seconds the runners of one process run
# Real seconds = simulated seconds (the lab clock runs at real speed) each ``pacedial run``
# runs: both campaigns contend for the shared numbers from their first launch round on.
PROCESS_SECONDS = 5.0
PROCESS_PRESET = "cn"

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


def sim_config(dialplan: dict[str, str]) -> SimConfig:
    """One simulated Asterisk for both runners: busy and unanswered numbers, and one queue
    member per number either runner can dial at once."""
    return SimConfig(
        seed=3,
        time_scale=1.0,
        dialplan=dialplan,
        callees=CalleeConfig(
            mix=CalleeMix.only(human=0.6, busy=0.3, no_answer=0.1),
            ring_mean=2.0,
            talk_mean=4.0,
            fail_delay=0.5,
        ),
        # Both campaigns share this queue (their runners split its free members through
        # PostgreSQL, docs/compliance.md): one member per number either runner can dial at
        # once, so the keys are tested here, not the split.
        agents=AgentConfig(count=14, talk_mean=4, wrapuptime=1, answer_delay=0.2),
    )


@dataclass
class Lab:
    """The seeded people and campaigns of one preset: A and B work them, ``prior`` is history."""

    preset: str
    start: float  # epoch seconds: 10:00 in the preset's zone
    caller_id: str
    house: str
    loans: list[str]
    campaigns: dict[str, int]  # name -> campaign id

    def doc(self, name: str) -> dict:
        return campaign_doc(name, self.preset, self.caller_id)


async def seed_lab(db, preset: str, start: float) -> Lab:
    """Campaigns prior, A and B over the same people, and the prior campaign's calls."""
    zone, caller_id, house, loans, others = PRESETS[preset]
    # Each campaign also has unrelated numbers of its own, so both runners have calls to make.
    own = {"prior": others, "A": others, "B": [n[:-1] + str((int(n[-1]) + 5) % 10) for n in others]}
    ids: dict[str, dict[str, int]] = {}
    camps: dict[str, int] = {}
    async with db.acquire() as conn:
        for name in ("prior", "A", "B"):
            camp = parse_campaign(campaign_doc(name, preset, caller_id), f"{name}.toml")
            cid = await ensure_campaign(conn, name, camp.mode, camp.raw)
            parsed = parse_cases_csv(cases_csv(house, loans, own[name]), default_country="CN")
            assert parsed.errors == ()
            await import_cases(conn, cid, parsed.rows, parsed.errors, "t")
            rows = await conn.fetch("SELECT id, external_id FROM cases WHERE campaign_id = $1", cid)
            ids[name] = {r["external_id"]: r["id"] for r in rows}
            camps[name] = cid
        await conn.execute("DELETE FROM schedule WHERE campaign_id = $1", camps["prior"])
        t0 = datetime.fromtimestamp(start, UTC)
        await seed_prior(conn, preset, t0, ids["prior"], (house, loans))
        keys = dict(
            await conn.fetch("SELECT external_id || '/' || campaign_id, debtor_key FROM cases")
        )
    # Identity: the household's unidentified case joined a debtor; campaigns share debtors.
    a, b = camps["A"], camps["B"]
    assert keys[f"L1/{a}"] == keys[f"L4/{b}"] == "id:D1" and keys[f"H1/{a}"] == "id:D2"
    assert keys[f"H2/{a}"] in ("id:D1", "id:D2")
    return Lab(preset, start, caller_id, house, loans, camps)


async def check_keys(db, lab: Lab, held: dict[str, int], refused: int) -> list:
    """The keys held across cases, campaigns and runners, and the audit finds nothing; the
    dialed attempts of A and B, oldest first."""
    async with db.acquire() as conn:
        rows = await conn.fetch(
            """SELECT a.e164, a.created_at, a.ended_at, a.state, c.external_id, c.debtor_key,
                      a.campaign_id, a.runner
               FROM attempts a JOIN cases c ON c.id = a.case_id
               WHERE a.campaign_id = ANY($1::bigint[]) AND a.disposition <> 'not_dialed'
               ORDER BY a.created_at""",
            [lab.campaigns["A"], lab.campaigns["B"]],
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
    assert held["in_progress"] + refused > 0, (held, refused)

    d1 = {r["external_id"] for r in rows if r["debtor_key"] == "id:D1"}
    if lab.preset == "cn":  # D1 had its 3 effective calls today: none of its loans rang
        assert not d1 and held["cap.connected_debtor_day"] > 0
    elif lab.preset == "us":  # D1 is in the quiet period on every debt
        assert not d1 and held["quiet.conversation"] > 0
    else:  # the household number is locked for 72 h; L2's number for the day (machine)
        assert lab.house not in by_number and lab.loans[0] not in by_number
        assert held["lockout.abandoned"] > 0 and held["lockout.machine"] > 0
    audited = 0
    for name in ("A", "B"):
        report = await audit_campaign(db, name)
        assert report.violations == (), [(v.code, v.detail) for v in report.violations]
        audited += report.attempts
    assert audited == len(rows)
    # A second opinion written from the regulations, not from dialer_core.compliance.
    findings = await law_findings(db, ["A", "B"], lab.preset)
    assert findings == [], findings
    return rows


@pytest.mark.parametrize("preset", sorted(PRESETS))
@in_virtual_time
async def test_keys_hold_across_cases_campaigns_and_two_runners(db, db_dsn, preset):
    """Two runners, each with its own database pool, AMI link, FastAGI server and answered-call
    context, on one simulated Asterisk, in virtual time."""
    clock = ScaledClock(next_local_time(10, PRESETS[preset][0], time.time()), 1.0)
    lab = await seed_lab(db, preset, clock())
    pools = {"A": db, "B": await open_pool(db_dsn)}
    servers = {name: await AnsweredCallServer.start("127.0.0.1", 0) for name in pools}
    contexts = {name: f"answered-{name.lower()}" for name in pools}
    sim = SimPbx(
        sim_config(
            {contexts[n]: f"agi://127.0.0.1:{s.server.port}/router" for n, s in servers.items()}
        ),
        clock=clock,
    )
    drivers: list[AsteriskDriver] = []
    stop = asyncio.Event()
    runners: list[CampaignRunner] = []
    try:
        await sim.start()
        runs = []
        for name, pool in pools.items():
            driver = sim_ami_driver(sim, contexts[name], clock)
            drivers.append(driver)
            await driver.connect()
            campaign = parse_campaign(lab.doc(name), f"{name}.toml")
            registry = servers[name].registry
            runs.append(run_campaign(pool, driver, campaign, registry, stop, runners, clock))
        tasks = [asyncio.create_task(run) for run in runs]
        await asyncio.sleep(RUN_SECONDS)
        stop.set()
        stats = await asyncio.gather(*tasks)
    finally:
        for driver in drivers:
            await driver.close()
        await sim.close()
        for server in servers.values():
            await server.close()
        await pools["B"].close()
    held: dict[str, int] = defaultdict(int)
    for s in stats:
        for k, n in s.held_by_rules.items():
            held[k] += n
    rows = await check_keys(db, lab, held, sum(s.skipped_duplicates for s in stats))
    # Both runners dialed.
    assert {r["runner"] for r in rows} == {r.runner_id for r in runners}


async def test_keys_hold_across_two_pacedial_run_processes(db, db_dsn, tmp_path):
    """The same under the cn preset with two ``pacedial run`` processes (each its own AMI link,
    FastAGI server and answered-call context) sharing the simulated PBX's clock through
    ``PACEDIAL_LAB_CLOCK``, in real time."""
    start, anchor = next_local_time(10, PRESETS[PROCESS_PRESET][0], time.time()), time.time()
    lab = await seed_lab(db, PROCESS_PRESET, start)
    ports = free_ports(2)
    contexts = ("answered-a", "answered-b")
    dialplan = {c: f"agi://127.0.0.1:{p}/router" for c, p in zip(contexts, ports, strict=True)}
    sim = SimPbx(sim_config(dialplan), clock=ShiftedClock(start, anchor))
    await sim.start()
    try:
        env = lab_env(tmp_path, db_dsn, f"{start}@{anchor}")
        runs = [
            run_process(tmp_path, env, name, lab.doc(name), sim.ami_port, ctx, port)
            for name, ctx, port in zip(("A", "B"), contexts, ports, strict=True)
        ]
        results = await asyncio.gather(*runs)
    finally:
        await sim.close()
    held: dict[str, int] = defaultdict(int)
    refused = 0
    for code, out, err in results:
        assert code == 0, err[-2000:]
        print(out.strip())
        summary = SUMMARY.search(out)
        assert summary, out
        for k, n in ast.literal_eval(summary["held"]).items():
            held[k] += n
        refused += int(summary["refused"])
    rows = await check_keys(db, lab, held, refused)
    # Two processes dialed: two runner ids (host:pid:...) with different process ids.
    runners = {r["runner"] for r in rows}
    assert len({r.split(":")[1] for r in runners}) == 2, runners


SUMMARY = re.compile(r"held by rules (?P<held>\{[^}]*\}), double dials refused (?P<refused>\d+)")


def free_ports(n: int) -> list[int]:
    """``n`` free TCP ports on loopback (bound, read, closed)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def lab_env(home: Path, dsn: str, lab_clock: str) -> dict[str, str]:
    """The environment of a ``pacedial run`` process: the test database, a drop message and
    the shared lab clock."""
    sounds = home / "sounds"
    sounds.mkdir(exist_ok=True)
    (sounds / "safe-harbor.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PACEDIAL_DATABASE_URL": dsn,
        "PACEDIAL_HOME": str(home),
        "PACEDIAL_SOUNDS": str(sounds),
        LAB_CLOCK_ENV: lab_clock,
    }


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return json.dumps(v)


def toml_text(doc: dict, prefix: str = "") -> str:
    """A campaign document as TOML (tables of scalars, nested tables)."""
    scalars = [f"{k} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    out = ([f"[{prefix}]"] if prefix and scalars else []) + scalars
    for k, v in doc.items():
        if isinstance(v, dict):
            out.append(toml_text(v, f"{prefix}.{k}" if prefix else k))
    return "\n".join(out) + "\n"


async def run_process(
    home: Path, env: dict, name: str, doc: dict, ami_port: int, context: str, agi_port: int
) -> tuple[int, str, str]:
    """``pacedial run`` of campaign ``doc`` for PROCESS_SECONDS: (exit code, stdout, stderr)."""
    site = home / f"site-{name}.toml"
    site.write_text(
        f'[asterisk]\nport = {ami_port}\nusername = "pacedial"\nsecret = "pacedial"\n'
        f'dial_template = "Local/{{number}}@sim-callee"\nanswered_context = "{context}"\n'
        f"[fastagi]\nport = {agi_port}\n",
        encoding="utf-8",
    )
    campaign = home / f"{name}.toml"
    campaign.write_text(toml_text(doc), encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dialer_core.face.cli",
        "run",
        "--site",
        str(site),
        "--campaign",
        str(campaign),
        "--duration",
        str(PROCESS_SECONDS),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), PROCESS_SECONDS + 120)
    return proc.returncode or 0, out.decode(), err.decode()
