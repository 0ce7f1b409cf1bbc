"""Four runners, each with its own simulated PBX, driver and database pool, share one campaign
and one PostgreSQL: no number or case is rung twice at once, no Originate is sent twice, every
attempt is closed once, the caps and rules hold across runners (the audit finds nothing on the
numbers, cases and debtors) and each node's abandonment ledger is the campaign's, every node's
calls, never counted twice.

The four nodes run twice: in one process in virtual time (deterministic for a seed, whatever
the machine's load), and as four processes (``tests/node_child.py``), which share nothing but
PostgreSQL. The processes run in real time (virtual time cannot span processes), so the
abandonment *rate* is not asserted here: on a loaded machine a simulated agent can be late for
reasons no ledger governs. ``tests/test_wrapup_e2e.py`` asserts the rate in virtual time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

from e2e_rig import START_ZONE, attempts_of, rig_for
from node_child import report
from virtual_time import in_virtual_time, open_pool

from dialer_core.campaign.config import parse_campaign
from dialer_core.cases_csv import parse_cases_csv
from dialer_core.clock import next_local_time
from dialer_core.demo_data import demo_cases_csv
from dialer_core.face.audit_cli import audit_campaign
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases

HERE = Path(__file__).parent
NODES = ("asterisk", "freeswitch", "asterisk", "freeswitch")
SCALE = 15.0
SECONDS = 10.0  # seconds of the loop per node: 2.5 simulated minutes
PROCESS_SECONDS = 6.0  # real seconds per node process: 1.5 simulated minutes
RATE_FINDINGS = ("abandon_rate", "abandon_day")  # the campaign-wide rate: see above
HOUSE = "+8613800138000"  # one number shared by three cases of two debtors


def campaign_doc(name: str) -> dict:
    return {
        "campaign": {"name": name},
        "pacing": {"mode": "predictive", "target_abandon_rate": 0.03},
        "dialing": {"caller_id": "+862088880000", "ring_timeout": 20, "max_in_flight": 12},
        "queue": {"name": "collectors", "agent_wait": 2},
        "compliance": {
            "preset": "cn",
            "caps": {"phone_day": 2, "case_day": 2},
            "redial": {"busy": {"delay": "30s"}, "no_answer": {"delay": "30s"}},
        },
        "recording": {"enabled": True},
    }


def shared_keys_csv() -> bytes:
    """Debtor D1's six loans (one on the household number) and two more cases on that number:
    the keys several nodes contend for."""
    lines = ["external_id,debtor_name,amount,days_past_due,phone,debtor_id"]
    lines.append(f"L1,Wang,100,30,{HOUSE},D1")
    lines += [f"L{i},Wang,100,30,+86139001390{i:02d},D1" for i in range(2, 7)]
    lines += [f"H1,Li,100,30,{HOUSE},D2", f"H2,Li,100,30,{HOUSE},"]
    return ("\n".join(lines) + "\n").encode()


async def run_node(spec: dict, steps: tuple[asyncio.Barrier, ...]) -> dict:
    """One node process, held in step with the others (``tests/node_child.py``): all start
    dialing at once, and all read the ledger for the report after every node's calls ended."""
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "node_child.py"), json.dumps(spec),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    err = asyncio.create_task(proc.stderr.read())
    try:
        for word, barrier in zip(("ready", "ran"), steps, strict=True):
            line = await asyncio.wait_for(proc.stdout.readline(), 240)
            if line.decode().strip() != word:  # the node failed: what it said, then why
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), 10)
                why = (await err).decode()[-3000:] if proc.returncode is not None else ""
                raise AssertionError(f"{word!r} expected, got {line!r}\n{why}")
            await barrier.wait()
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        out = await asyncio.wait_for(proc.stdout.read(), 240)
        assert await proc.wait() == 0, (await err).decode()[-3000:]
    finally:
        if proc.returncode is None:  # another node failed: do not leave this one waiting
            proc.kill()
            await proc.wait()
        err.cancel()
    return json.loads(out.decode().strip().splitlines()[-1])


async def seed_campaign(db, name: str) -> tuple[int, dict]:
    """The four-node campaign with the demo cases and the contended ones; its id and document."""
    doc = campaign_doc(name)
    campaign = parse_campaign(doc, "test")
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, name, campaign.mode, campaign.raw)
        for csv in (demo_cases_csv(160, seed=21), shared_keys_csv()):
            parsed = parse_cases_csv(csv)
            assert not parsed.errors
            await import_cases(conn, cid, parsed.rows, parsed.errors, "test")
    return cid, doc


@in_virtual_time
async def test_four_runners_share_one_campaign_safely(db, db_dsn):
    name = "four-runners"
    cid, doc = await seed_campaign(db, name)
    campaign = parse_campaign(doc, "node campaign")
    start = next_local_time(10, START_ZONE, time.time())
    async with contextlib.AsyncExitStack() as stack:
        rigs = []
        for i, pbx in enumerate(NODES):
            pool = await open_pool(db_dsn)
            stack.push_async_callback(pool.close)
            rig = rig_for(pbx, pool, agents=4, time_scale=SCALE, seed=30 + i)
            await stack.enter_async_context(rig)
            rig.clock.start += start - rig.clock()  # one simulated time on every node
            rigs.append(rig)
        runners = await asyncio.gather(*(rig.run_for(campaign, SECONDS) for rig in rigs))
        nodes = [report(rig, runner) for rig, runner in zip(rigs, runners, strict=True)]
    await check_nodes(db, cid, name, nodes)


async def test_four_runner_processes_share_one_campaign_safely(db, db_dsn):
    name = "four-nodes"
    cid, doc = await seed_campaign(db, name)
    start = next_local_time(10, START_ZONE, time.time())
    common = {"dsn": db_dsn, "campaign": doc, "seconds": PROCESS_SECONDS, "scale": SCALE}
    common |= {"agents": 4, "start": start, "origin": time.monotonic()}
    steps = (asyncio.Barrier(len(NODES)), asyncio.Barrier(len(NODES)))
    async with asyncio.TaskGroup() as group:  # a node failing stops the others
        runs = [
            group.create_task(run_node({**common, "pbx": pbx, "seed": 30 + i}, steps))
            for i, pbx in enumerate(NODES)
        ]
    await check_nodes(db, cid, name, [run.result() for run in runs])


async def check_nodes(db, cid: int, name: str, nodes: list[dict]) -> None:
    """The guarantees of the module docstring, from the nodes' reports and the attempts."""
    rows = await attempts_of(db, cid)

    assert len({n["runner"] for n in nodes}) == len(NODES), "one runner id per node"
    sent = [cid_ for n in nodes for cid_ in n["originates"]]
    assert len(sent) == len(set(sent)), "no Originate sent twice"
    by_id = {r["cid"]: r for r in rows}
    assert set(sent) <= set(by_id), "every Originate has its attempt row"
    dialed = {i for i, r in by_id.items() if r["disposition"] != "not_dialed"}
    assert dialed == set(sent), "every dialed attempt went out exactly once"
    assert all(r["state"] == "done" and r["disposition"] for r in rows), "every attempt closed"
    assert sum(n["finished"] for n in nodes) == len(rows), "each closed once, by its node"
    assert all(n["pending"] == 0 for n in nodes)
    assert len({r["runner"] for r in rows}) > 1, "the nodes shared the work"

    # No number and no case rung by two calls at once, whichever node placed them.
    for key in ("e164", "case_id"):
        calls: dict[object, list] = defaultdict(list)
        for r in sorted((r for r in rows if r["cid"] in dialed), key=lambda r: r["created_at"]):
            calls[r[key]].append(r)
        for same in calls.values():
            for before, after in zip(same, same[1:], strict=False):
                assert after["created_at"] >= before["ended_at"], (key, before, after)

    audit = await audit_campaign(db, name)
    found = [(v.code, v.detail) for v in audit.violations if v.code not in RATE_FINDINGS]
    assert found == [] and audit.attempts == len(rows)

    # Each node's ledger is the campaign's (every node's answers), not its own calls alone,
    # and no call is counted twice.
    answered = sum(1 for r in rows if r["answered_at"] is not None)
    abandoned = sum(1 for r in rows if r["abandoned"])
    for n in nodes:
        assert n["ledger_answers"] is not None, "the policy keeps the campaign's ledger"
        assert n["answered"] < n["ledger_answers"] <= answered, n
        assert n["ledger_abandons"] <= abandoned, n
