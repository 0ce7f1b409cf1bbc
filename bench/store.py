"""Store benchmark: leases, attempt creates and closes per second on the embedded PostgreSQL.

Each worker process leases due cases in batches, writes their attempt rows, then closes them
(busy, redial later), until the campaign has nothing due. Two write paths are measured in the
same run on the same database: the baseline one row per statement (``create_attempt`` /
``finish_attempt``, as the runner did before) and the bulk one (``create_attempts`` in one
INSERT per batch; the closes as the runner's write-behind queue writes a round,
``write_round``: split by case over two connections at once), with 1 and 4 processes.

    python bench/store.py [--cases 20000] [--baseline-cases 2000] [--batch 500] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from dialer_core.cases_csv import parse_cases_csv  # noqa: E402
from dialer_core.demo_data import demo_cases_csv  # noqa: E402
from dialer_core.store import attempts as store  # noqa: E402
from dialer_core.store.attempt_batches import create_attempts, write_round  # noqa: E402
from dialer_core.store.campaigns import ensure_campaign  # noqa: E402
from dialer_core.store.cases import import_cases  # noqa: E402
from dialer_core.store.database import create_pool  # noqa: E402
from dialer_core.store.embedded import EmbeddedPostgres  # noqa: E402
from dialer_core.store.migrate import migrate  # noqa: E402

LEASE = timedelta(minutes=10)
GOAL_CLOSES = 20_000  # records/s closed (issue 13)
GOAL_LEASES_4 = 5_000  # leases/s with 4 processes on one database (issue 13)


def _result(call_id: str, at: datetime) -> store.AttemptResult:
    return store.AttemptResult(
        call_id, at, "busy", "busy", 17, "USER_BUSY", 0.0, at + timedelta(minutes=1)
    )


async def _work(dsn: str, campaign_id: int, runner: str, at: datetime, bulk: bool, batch: int):
    """Lease → create → close until nothing is due; seconds spent in each step and counts."""
    # With the json codecs, as in prod; a second connection for the closes' other half.
    pool = await create_pool(dsn, min_size=3, max_size=3)
    conn = await pool.acquire()
    spent = {"lease": 0.0, "create": 0.0, "close": 0.0}
    count = {"lease": 0, "create": 0, "close": 0}
    try:
        while True:
            t0 = time.perf_counter()
            contacts = await store.lease_contacts(conn, campaign_id, runner, batch, at, LEASE)
            t1 = time.perf_counter()
            if not contacts:
                break
            if bulk:
                ids = await create_attempts(
                    conn, campaign_id, [(c, "") for c in contacts], runner, at
                )
            else:
                ids = [
                    await store.create_attempt(conn, campaign_id, c, runner, "", at)
                    for c in contacts
                ]
            t2 = time.perf_counter()
            results = [_result(i, at) for i in ids if i is not None]
            if bulk:
                closed = sum(await write_round(pool, (), (), results))
            else:
                closed = sum([await store.finish_attempt(conn, r) for r in results])
            t3 = time.perf_counter()
            spent["lease"] += t1 - t0
            spent["create"] += t2 - t1
            spent["close"] += t3 - t2
            count["lease"] += len(contacts)
            count["create"] += len(results)
            count["close"] += closed
    finally:
        await pool.release(conn)
        await pool.close()
    return spent, count


def _worker(args: tuple) -> tuple[dict, dict]:
    return asyncio.run(_work(*args))


async def _seed(dsn: str, name: str, cases: int) -> int:
    parsed = parse_cases_csv(demo_cases_csv(cases, seed=5))
    pool = await create_pool(dsn, min_size=1, max_size=2)
    async with pool.acquire() as conn:
        cid = await ensure_campaign(conn, name)
        await import_cases(conn, cid, parsed.rows, parsed.errors, "bench")
    await pool.close()
    return cid


def run_case(dsn: str, cases: int, procs: int, bulk: bool, batch: int) -> dict:
    """One measurement on a fresh campaign of ``cases`` cases."""
    label = f"{'bulk' if bulk else 'row'}-{procs}"
    cid = asyncio.run(_seed(dsn, label, cases))
    at = datetime.now(UTC) + timedelta(days=1)  # everything is due, nothing comes back
    jobs = [(dsn, cid, f"bench-{label}-{i}", at, bulk, batch) for i in range(procs)]
    start = time.perf_counter()
    with get_context("spawn").Pool(procs) as pool:
        parts = pool.map(_worker, jobs)
    wall = time.perf_counter() - start
    out = {"path": "bulk" if bulk else "one row per statement", "processes": procs}
    for step in ("lease", "create", "close"):
        n = sum(c[step] for _, c in parts)
        # Rate over the time the processes spent in this step (processes overlap: their
        # busy time is divided by their number).
        busy = sum(s[step] for s, _ in parts) / procs
        out[f"{step}s"] = n
        out[f"{step}_per_s"] = round(n / busy) if busy else 0
    out["wall_s"] = round(wall, 2)
    out["double_leases"] = max(0, out["leases"] - cases)  # each case is due once: leased once
    return out


def table(rows: list[dict]) -> str:
    lines = [
        "| write path | processes | records | leases/s | creates/s | closes/s | double leases |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['path']} | {r['processes']} | {r['closes']:,} | {r['lease_per_s']:,} | "
            f"{r['create_per_s']:,} | {r['close_per_s']:,} | {r['double_leases']} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=20_000, help="cases per bulk measurement")
    ap.add_argument("--baseline-cases", type=int, default=2_000, help="per row-by-row run")
    ap.add_argument("--batch", type=int, default=500, help="contacts leased per round")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pacedial-bench-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        server = EmbeddedPostgres(root / "pg", database="bench")
        dsn = server.start()
        try:
            asyncio.run(_migrate(dsn))
            rows = [
                run_case(dsn, args.baseline_cases, procs, False, args.batch) for procs in (1, 4)
            ] + [run_case(dsn, args.cases, procs, True, args.batch) for procs in (1, 4)]
        finally:
            server.stop()
    print(table(rows))
    best = max(r["close_per_s"] for r in rows if r["path"] == "bulk")
    base = max(r["close_per_s"] for r in rows if r["path"] != "bulk")
    verdict = "PASS" if best >= GOAL_CLOSES else "FAIL"
    print(
        f"\nbulk closes: {best:,}/s, {best / base:.1f}× the row-by-row baseline "
        f"(goal ≥ {GOAL_CLOSES:,}/s): {verdict}"
    )
    leases = min(r["lease_per_s"] for r in rows if r["processes"] == 4)
    good = leases >= GOAL_LEASES_4 and not any(r["double_leases"] for r in rows)
    print(
        f"leases with 4 processes: {leases:,}/s (goal ≥ {GOAL_LEASES_4:,}/s), "
        f"double leases: {sum(r['double_leases'] for r in rows)}: {'PASS' if good else 'FAIL'}"
    )
    verdict = verdict if good else "FAIL"
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if verdict == "PASS" else 1


async def _migrate(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()


if __name__ == "__main__":
    sys.exit(main())
