"""The end-to-end campaign in virtual time: does the same seed give the same calls under load?

Runs a seeded campaign (embedded PostgreSQL, the simulated PBX, the real driver over loopback
sockets, tests/e2e_rig.py) ``--runs`` times per PBX, each on a fresh database,
first on a quiet machine and then while ``--load`` busy processes spin on every core. Prints
each run's digest of (launch offset, case, attempt, disposition, duration) per call and its
wall time, and whether the digests are all equal (exit status 1 if not).

    python3 bench/e2e_determinism.py [--runs 5] [--load 2] [--pbx asterisk freeswitch]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import asyncpg  # noqa: E402
from e2e_rig import attempts_of, rig_for  # noqa: E402
from virtual_time import open_pool, run_in_virtual_time  # noqa: E402

from dialer_core.store.embedded import EmbeddedPostgres  # noqa: E402
from dialer_core.store.migrate import migrate  # noqa: E402

TEMPLATE = "determinism_template"


async def campaign_outcome(db, pbx: str, name: str) -> list[tuple]:
    """Each attempt as (seconds after the first launch, case, attempt no, disposition, seconds
    it lasted), sorted (calls launched in the same instant have no order of their own)."""
    async with rig_for(pbx, db, agents=3, time_scale=40, seed=9) as rig:
        cid, campaign = await rig.seed_cases(name, 120)
        await rig.run_for(campaign, 15.0)
        rows = await attempts_of(db, cid)
    first = rows[0]["created_at"]
    base = min(r["case_id"] for r in rows)
    return sorted(
        (
            round((r["created_at"] - first).total_seconds(), 3),
            r["case_id"] - base,
            r["attempt_no"],
            r["disposition"],
            round((r["ended_at"] - r["created_at"]).total_seconds(), 3),
        )
        for r in rows
    )


def _burn(stop: multiprocessing.synchronize.Event) -> None:
    spins = 0
    while not stop.is_set():  # a busy core: the load the determinism check runs under
        spins += 1


async def _database(server: str, template: bool = False) -> str:
    name = TEMPLATE if template else f"d_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        if template:
            await admin.execute(f'CREATE DATABASE "{name}"')
        else:
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    finally:
        await admin.close()
    if template:
        conn = await asyncpg.connect(f"{server}/{name}")
        try:
            await migrate(conn)
        finally:
            await conn.close()
    return f"{server}/{name}"


async def _one_run(dsn: str, pbx: str) -> str:
    pool = await open_pool(dsn)
    try:
        outcome = await campaign_outcome(pool, pbx, "determinism")
    finally:
        await asyncio.get_running_loop().outside(pool.close())
    return hashlib.sha256(repr(outcome).encode()).hexdigest()[:16] + f" ({len(outcome)} calls)"


def _runs(server: str, pbx: str, runs: int, label: str) -> list[str]:
    digests = []
    for i in range(runs):
        dsn = asyncio.run(_database(server))
        started = time.perf_counter()
        digest = run_in_virtual_time(_one_run(dsn, pbx))
        seconds = time.perf_counter() - started
        print(f"{pbx:<10} {label:<8} run {i + 1}: {digest}  {seconds:6.2f} s wall")
        digests.append(digest)
    return digests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--load", type=int, default=os.cpu_count() or 2, help="busy processes")
    parser.add_argument("--pbx", nargs="+", default=["asterisk", "freeswitch"])
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pacedial-determinism-"))
    root.chmod(0o755)
    server = EmbeddedPostgres(root / "pg", database="postgres", durable=False)
    base = server.start().rsplit("/", 1)[0]
    same = True
    try:
        asyncio.run(_database(base, template=True))
        for pbx in args.pbx:
            quiet = _runs(base, pbx, args.runs, "quiet")
            stop = multiprocessing.Event()
            burners = [
                multiprocessing.Process(target=_burn, args=(stop,)) for _ in range(args.load)
            ]
            for p in burners:
                p.start()
            try:
                loaded = _runs(base, pbx, args.runs, f"load {args.load}")
            finally:
                stop.set()
                for p in burners:
                    p.join()
            identical = len(set(quiet + loaded)) == 1
            same &= identical
            print(f"{pbx}: {2 * args.runs} runs, digests identical: {'yes' if identical else 'NO'}")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
