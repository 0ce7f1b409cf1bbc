"""Benchmark: the cycle report over millions of generated attempt rows in PostgreSQL.

Generates a 30-day campaign in SQL (``generate_series`` and hash-derived pseudo-random values,
no Python loops): 1 phone per case, 10 attempts per case, a realistic mix of no answer / busy /
robot / agent / abandoned outcomes with promises to pay. It first times the report over 1M
attempts, then grows the same campaign to the full size (10M by default) and times it again.
The report runs as ``--slices`` concurrent statements (runs of whole days, default: the number
of CPUs). The baselines, measured in the same run, are the same report in one statement
(``slices=1``) and the obvious alternative: one aggregate query per dimension (nine scans).

The database is an embedded PostgreSQL in a temporary directory (removed afterwards), or a new
database on the server of $PACEDIAL_DATABASE_URL (dropped afterwards). The attempts table is
made UNLOGGED and its indexes are rebuilt after each load, to make generation fast; this does not
change how the report reads it.

Run: ``python bench/report.py [--rows 10000000] [--quick 1000000] [--slices N] [--no-baseline]``.
Prints a Markdown table and one JSON line. Target: ≤ 10 s for 10M rows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dialer_core.reports.cycle import write_cycle_report  # noqa: E402
from dialer_core.store.database import ENV_DSN, create_pool  # noqa: E402
from dialer_core.store.embedded import EmbeddedPostgres  # noqa: E402
from dialer_core.store.migrate import migrate  # noqa: E402
from dialer_core.store.reports import DEFAULT_SLICES, NOT_RIGHT_PARTY  # noqa: E402

CAMPAIGN = "bench"
TZ = "Asia/Shanghai"
DAYS = 30
FIRST_DAY = date(2025, 3, 1)
ATTEMPTS_PER_CASE = 10
PROVINCES = [
    *("Guangdong", "Shandong", "Henan", "Sichuan", "Jiangsu", "Hebei", "Hunan", "Anhui"),
    *("Hubei", "Zhejiang", "Guangxi", "Yunnan", "Jiangxi", "Liaoning", "Fujian", "Shaanxi"),
    *("Heilongjiang", "Shanxi", "Guizhou", "Chongqing", "Jilin", "Gansu", "Inner Mongolia"),
    *("Xinjiang", "Shanghai", "Beijing", "Tianjin", "Hainan", "Ningxia", "Qinghai", "Tibet"),
]
CALLER_IDS = [f"+86755{n:08d}" for n in range(12)]
CHUNK = 1_000_000  # attempts per INSERT statement
LONG = 1800.0  # seconds: bulk statements outlast the pool's 30 s command timeout

# u(n): a uniform [0, 1) value from the hash of (attempt key, n): deterministic, no volatility.
_U = "((hashint8extended(x.key, {n}) & 1048575)::float8 / 1048576)"

INSERT_CASES = """
INSERT INTO cases (id, campaign_id, external_id, debtor_name, amount_minor, days_past_due)
SELECT i, $1, 'B' || i, 'debtor ' || i,
       10000 + (hashint8extended(i, 7) & 4194303) * 2, (hashint8extended(i, 8) & 1048575) % 240
FROM generate_series($2::bigint, $3::bigint) i
"""
INSERT_PHONES = """
INSERT INTO phones (id, case_id, position, e164, country, province)
SELECT i, i, 0, '+86138' || lpad(i::text, 8, '0'), 'CN',
       ($3::text[])[1 + (hashint8extended(i, 9) & 1048575) % array_length($3::text[], 1)]
FROM generate_series($1::bigint, $2::bigint) i
"""
INSERT_ATTEMPTS = f"""
INSERT INTO attempts (call_id, campaign_id, case_id, phone_id, attempt_no, caller_id, runner,
                      state, created_at, answered_at, ended_at, pbx_result, disposition,
                      talk_seconds, agent, abandoned, detail, region, days_past_due)
SELECT gen_random_uuid(), $1, y.case_id, y.case_id, y.k, y.caller_id, 'bench', 'done',
       y.t, CASE WHEN y.answered THEN y.t + interval '9 seconds' END,
       y.t + make_interval(secs => 9 + y.talk), y.result,
       CASE WHEN NOT y.answered THEN y.result
            WHEN y.kind = 'robot' THEN y.robot_outcome
            WHEN y.kind = 'human' THEN 'agent_talked' ELSE 'abandoned' END,
       y.talk, CASE WHEN y.kind = 'human' THEN 'agent' || (y.case_id % 150) ELSE '' END,
       y.kind = 'abandoned',
       CASE WHEN y.kind = 'robot' THEN
                jsonb_build_object('handled_by', 'robot', 'robot_outcome', y.robot_outcome)
                || CASE WHEN y.robot_outcome = 'promise_to_pay' THEN
                        jsonb_build_object('ptp_amount_minor', y.ptp,
                                           'ptp_date', (y.t::date + 3)::text)
                   ELSE '{{}}'::jsonb END
            WHEN y.kind = 'human' THEN
                jsonb_build_object('handled_by', 'human', 'agent', 'agent' || (y.case_id % 150))
            ELSE '{{}}'::jsonb END,
       p.province, c.days_past_due
FROM (
    SELECT x.case_id, x.k,
           ($3::text[])[1 + (x.case_id + x.k) % array_length($3::text[], 1)] AS caller_id,
           $2::timestamptz + make_interval(days => ((x.case_id + x.k * 3) % {DAYS})::int,
                                           hours => 8, secs => {_U.format(n=1)} * 43200) AS t,
           CASE WHEN {_U.format(n=2)} < 0.50 THEN 'no_answer'
                WHEN {_U.format(n=2)} < 0.62 THEN 'busy'
                WHEN {_U.format(n=2)} < 0.68 THEN 'powered_off'
                WHEN {_U.format(n=2)} < 0.70 THEN 'invalid_number'
                ELSE 'answered' END AS result,
           {_U.format(n=2)} >= 0.70 AS answered,
           CASE WHEN {_U.format(n=3)} < 0.5 THEN 'robot'
                WHEN {_U.format(n=3)} < 0.96 THEN 'human' ELSE 'abandoned' END AS kind,
           CASE WHEN {_U.format(n=4)} < 0.30 THEN 'promise_to_pay'
                WHEN {_U.format(n=4)} < 0.60 THEN 'refused'
                WHEN {_U.format(n=4)} < 0.75 THEN 'wrong_party' ELSE 'hung_up' END
               AS robot_outcome,
           CASE WHEN {_U.format(n=2)} >= 0.70 THEN round(({_U.format(n=5)} * 300)::numeric, 1)
                ELSE 0 END::float8 AS talk,
           (1 + floor({_U.format(n=6)} * 5000))::bigint * 100 AS ptp
    FROM (SELECT c AS case_id, kk AS k, c * 16 + kk AS key
          FROM generate_series($4::bigint, $5::bigint) c,
               generate_series(1, {ATTEMPTS_PER_CASE}) kk) x
) y
JOIN phones p ON p.id = y.case_id
JOIN cases c ON c.id = y.case_id
"""

BASELINE_KEYS = {
    "region": "coalesce(nullif(a.region, ''), '(unknown)')",
    "dpd_bucket": "CASE WHEN a.days_past_due <= 0 THEN 0 "
    "ELSE least((a.days_past_due - 1) / 30 + 1, 7) END",
    "caller_id": "a.caller_id",
    "hour": "date_part('hour', a.created_at AT TIME ZONE $4)::int",
    "attempt_no": "a.attempt_no",
    "day": "(a.created_at AT TIME ZONE $4)::date",
    "handled_by": "coalesce(a.detail->>'handled_by', '')",
    "agent_day": "a.agent, (a.created_at AT TIME ZONE $4)::date",
    "total": "",
}


async def unlog_attempts(conn: asyncpg.Connection) -> None:
    """Make attempts UNLOGGED (fast loads); drops the throwaway database's FKs into it."""
    refs = await conn.fetch(
        """SELECT conrelid::regclass::text AS tab, conname FROM pg_constraint
           WHERE confrelid = 'attempts'::regclass AND contype = 'f'"""
    )
    for r in refs:
        await conn.execute(f'ALTER TABLE {r["tab"]} DROP CONSTRAINT "{r["conname"]}"')
    await conn.execute("ALTER TABLE attempts SET UNLOGGED")


async def _attempts_indexes(conn: asyncpg.Connection) -> list[str]:
    """CREATE statements for the attempts table's indexes and constraints, then drop them."""
    cons = await conn.fetch(
        """SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
           WHERE conrelid = 'attempts'::regclass AND contype IN ('p', 'u')"""
    )
    idx = await conn.fetch(
        """SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'attempts'
           AND indexname NOT IN (SELECT conname FROM pg_constraint
                                 WHERE conrelid = 'attempts'::regclass)"""
    )
    restore = [f"ALTER TABLE attempts ADD CONSTRAINT {r['conname']} {r['def']}" for r in cons]
    restore += [r["indexdef"] for r in idx]
    for r in idx:
        await conn.execute(f"DROP INDEX {r['indexname']}")
    for r in cons:
        await conn.execute(f"ALTER TABLE attempts DROP CONSTRAINT {r['conname']}")
    return restore


async def generate(pool: asyncpg.Pool, campaign_id: int, first_case: int, last_case: int) -> float:
    """Add cases first_case..last_case with their attempts; return seconds spent."""
    t0 = time.perf_counter()
    async with pool.acquire() as conn:
        await conn.execute("SET session_replication_role = replica")  # skip FK triggers
        restore = await _attempts_indexes(conn)
        await conn.execute(INSERT_CASES, campaign_id, first_case, last_case, timeout=LONG)
        await conn.execute(INSERT_PHONES, first_case, last_case, PROVINCES, timeout=LONG)
        start = datetime.combine(FIRST_DAY, datetime.min.time(), ZoneInfo(TZ))
        per_chunk = CHUNK // ATTEMPTS_PER_CASE
        for lo in range(first_case, last_case + 1, per_chunk):
            hi = min(lo + per_chunk - 1, last_case)
            await conn.execute(
                INSERT_ATTEMPTS,
                campaign_id,
                start,
                CALLER_IDS,
                lo,
                hi,
                timeout=LONG,
            )
            print(f"  attempts for cases {lo}..{hi} loaded", file=sys.stderr, flush=True)
        for statement in restore:
            await conn.execute(statement, timeout=LONG)
        await conn.execute("SELECT setval('cases_id_seq', $1)", last_case)
        await conn.execute("SELECT setval('phones_id_seq', $1)", last_case)
        await conn.execute("RESET session_replication_role")
        await conn.execute("VACUUM (ANALYZE) attempts, cases, phones", timeout=LONG)
    return time.perf_counter() - t0


async def time_report(pool: asyncpg.Pool, out_dir: Path, slices: int) -> tuple[float, int]:
    """Seconds for write_cycle_report over the whole cycle, and the attempts it counted."""
    to = date.fromordinal(FIRST_DAY.toordinal() + DAYS - 1)
    t0 = time.perf_counter()
    files = await write_cycle_report(pool, CAMPAIGN, FIRST_DAY, to, out_dir, tz=TZ, slices=slices)
    seconds = time.perf_counter() - t0
    return seconds, files.total_attempts


async def time_baseline(pool: asyncpg.Pool, campaign_id: int) -> float:
    """Seconds for one aggregate query per dimension (the naive alternative), serially."""
    t0 = time.perf_counter()
    async with pool.acquire() as conn:
        for key in BASELINE_KEYS.values():
            group = f"GROUP BY {key}" if key else ""
            select = f"{key}," if key else ""
            await conn.fetch(
                f"""SELECT {select} count(*),
                       count(*) FILTER (WHERE a.answered_at IS NOT NULL),
                       count(*) FILTER (WHERE a.answered_at IS NOT NULL AND NOT a.abandoned
                           AND coalesce(a.detail->>'robot_outcome', '') <> ALL($5::text[])),
                       count(*) FILTER (WHERE a.detail->>'robot_outcome' = 'promise_to_pay'),
                       sum((a.detail->>'ptp_amount_minor')::bigint),
                       count(*) FILTER (WHERE a.abandoned), sum(a.talk_seconds),
                       min(a.created_at), max(a.ended_at)
                    FROM attempts a
                    WHERE a.campaign_id = $1 AND a.created_at >= $2 AND a.created_at < $3
                      AND $4::text <> ''
                    {group}""",
                campaign_id,
                datetime.combine(FIRST_DAY, datetime.min.time(), ZoneInfo(TZ)),
                datetime(2100, 1, 1, tzinfo=ZoneInfo(TZ)),
                TZ,
                list(NOT_RIGHT_PARTY),
                timeout=LONG,
            )
    return time.perf_counter() - t0


@contextlib.asynccontextmanager
async def bench_database():
    """A fresh database: on $PACEDIAL_DATABASE_URL's server, or an embedded one in a temp dir."""
    external = os.environ.get(ENV_DSN)
    if external:
        server = external.rsplit("/", 1)[0]
        name = f"pacedial_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(f"{server}/postgres")
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        try:
            yield f"{server}/{name}"
        finally:
            admin = await asyncpg.connect(f"{server}/postgres")
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
        return
    root = Path(tempfile.mkdtemp(prefix="pacedial-bench-"))
    root.chmod(0o755)
    server = EmbeddedPostgres(root / "pg", database="bench")
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


async def run(rows: int, quick: int, slices: int, baseline: bool) -> list[dict]:
    results: list[dict] = []
    async with bench_database() as dsn:
        pool = await create_pool(dsn, min_size=1, max_size=max(2, slices))
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
                await unlog_attempts(conn)
                campaign_id = await conn.fetchval(
                    "INSERT INTO campaigns (name) VALUES ($1) RETURNING id", CAMPAIGN
                )
            loaded = 0
            out_root = Path(tempfile.mkdtemp(prefix="pacedial-bench-report-"))
            for size in sorted({min(quick, rows), rows}):
                first, last = loaded // ATTEMPTS_PER_CASE + 1, size // ATTEMPTS_PER_CASE
                gen = await generate(pool, campaign_id, first, last)
                loaded = size
                cold, counted = await time_report(pool, out_root / f"{size}-1", slices)
                warm, _ = await time_report(pool, out_root / f"{size}-2", slices)
                row = {
                    "attempt_rows": counted,
                    "generate_s": round(gen, 1),
                    "slices": slices,
                    "report_s_first": round(cold, 2),
                    "report_s": round(warm, 2),
                }
                if baseline:
                    single, _ = await time_report(pool, out_root / f"{size}-3", 1)
                    row["one_statement_s"] = round(single, 2)
                    row["baseline_s"] = round(await time_baseline(pool, campaign_id), 2)
                    row["speedup"] = round(row["baseline_s"] / row["report_s"], 2)
                results.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
            shutil.rmtree(out_root, ignore_errors=True)
        finally:
            await pool.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="attempt rows (10M)")
    parser.add_argument("--quick", type=int, default=1_000_000, help="first, smaller run (1M)")
    parser.add_argument(
        "--slices",
        type=int,
        default=DEFAULT_SLICES,
        help=f"concurrent statements ({DEFAULT_SLICES})",
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the one-statement and per-dimension runs"
    )
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.rows, args.quick, args.slices, not args.no_baseline))
    print(
        f"\ncycle report, {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs\n"
    )
    print(
        "| attempt rows | generate (s) | slices | report first run (s) | report (s) | "
        "one statement (s) | one query per dimension (s) | speedup |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['attempt_rows']:,} | {r['generate_s']} | {r['slices']} | "
            f"{r['report_s_first']} | {r['report_s']} | {r.get('one_statement_s', '-')} | "
            f"{r.get('baseline_s', '-')} | {r.get('speedup', '-')} |"
        )
    for r in results:
        verdict = ""
        if r["attempt_rows"] >= 10_000_000:
            verdict = " (target ≤ 10 s: " + ("met)" if r["report_s"] <= 10 else "NOT met)")
        print(
            f"{r['attempt_rows']:,} attempt rows: report {r['report_s']} s{verdict}; "
            f"generation {r['generate_s']} s"
        )
    print()
    print(json.dumps({"bench": "cycle_report", "target_s": 10, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
