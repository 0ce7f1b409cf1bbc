"""Benchmark: ``pacedial import`` of 100k and 1M generated cases (goal: 1M < 60 s, < 500 MB).

Each import runs the real command in a child process against one database (the embedded
PostgreSQL in a temporary $PACEDIAL_HOME, started and migrated before any timing, or
$PACEDIAL_DATABASE_URL): wall time, rows/s and peak memory: the largest sum of the resident
sets of the command and its validation workers, sampled ten times a second (PostgreSQL's own
memory is not counted); and the CPU seconds used by those processes and by the embedded
PostgreSQL during the run (on a loaded machine the wall time says little: CPU / 2 is what the
same work needs of two idle cores at best). Then the largest file again: every row is
unchanged and is skipped before parsing. Baselines, measured in the same run: the in-memory
path (whole file parsed, then written at once: what ``pacedial import`` did before streaming)
on the 100k file; and the validation of the first 20,000 rows of that file in this process
with phonenumbers' general parser alone against the fast path for bare digits.

Data: Chinese names, 1-3 mobile numbers per case from 30 number blocks, 0.1 % bad rows; each
size has its own seed (files of different sizes share almost no numbers).

Run: ``python bench/import.py [--sizes 100000,1000000]``. Prints a Markdown table and one JSON
line.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import phonenumbers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLI = "from dialer_core.face.cli import main; import sys; sys.exit(main())"
BASELINE = """
import asyncio, sys
from dialer_core.cases_csv import parse_cases_csv
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases
from dialer_core.store.database import open_database

async def main(path, campaign):
    parsed = parse_cases_csv(open(path, "rb").read())
    async with open_database() as pool, pool.acquire() as conn:
        cid = await ensure_campaign(conn, campaign)
        await conn.execute("SET statement_timeout = 0")
        await import_cases(conn, cid, parsed.rows, parsed.errors, path)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""
BLOCKS = [
    f"1{d}"
    for d in (
        "30",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "38",
        "39",
        "50",
        "51",
        "52",
        "53",
        "55",
        "56",
        "57",
        "58",
        "59",
        "80",
        "81",
        "82",
        "83",
        "84",
        "85",
        "86",
        "87",
        "88",
        "89",
        "98",
    )
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚华建国志红梅"


def write_cases(path: Path, count: int, seed: int = 1) -> None:
    """A UTF-8 cases CSV of ``count`` rows."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(
            [
                "external_id",
                "debtor_name",
                "amount",
                "days_past_due",
                "phone1",
                "phone2",
                "phone3",
                "product",
            ]
        )
        for i in range(count):
            phones = [
                rng.choice(BLOCKS) + f"{rng.randrange(10**8):08d}"
                for _ in range(rng.choice((1, 1, 2, 3)))
            ]
            if rng.random() < 0.001:
                phones[0] = "12345"  # a bad row, as real files have
            phones += [""] * (3 - len(phones))
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
            out.writerow(
                [
                    f"C{i:08d}",
                    name,
                    f"{rng.randrange(50_000, 5_000_000) / 100:.2f}",
                    rng.randint(1, 120),
                    *phones,
                    rng.choice(("card", "cash", "loan")),
                ]
            )


TICK = os.sysconf("SC_CLK_TCK")


def _tree(root: int) -> list[int]:
    """``root`` and all its live descendants."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return found


def _stat(pid: int) -> tuple[int, float, float]:
    """(resident KiB, own CPU seconds, CPU seconds of its reaped children) of one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        rss = next(
            int(line.split()[1])
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
    except (FileNotFoundError, ProcessLookupError, StopIteration, IndexError):
        return 0, 0.0, 0.0
    own = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    reaped = (int(fields[13]) + int(fields[14])) / TICK  # cutime, cstime
    return rss, own, reaped


def postgres_cpu(home: Path) -> float:
    """CPU seconds the embedded PostgreSQL has used so far (its live and exited processes);
    0 with $PACEDIAL_DATABASE_URL (another server: not measured)."""
    pid_file = home / "pg" / "postmaster.pid"
    if "PACEDIAL_DATABASE_URL" in os.environ or not pid_file.exists():
        return 0.0
    master = int(pid_file.read_text().split()[0])
    total = _stat(master)[2]
    for pid in _tree(master):
        total += _stat(pid)[1]
    return total


def run_child(args: list[str], env: dict[str, str], home: Path) -> dict[str, float]:
    """One command: wall seconds, peak memory of its process tree (MB), CPU seconds of the
    tree and of PostgreSQL over the run, exit code."""
    pg_before = postgres_cpu(home)
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    peak, cpu = [0], {}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            rss = 0
            for pid in _tree(proc.pid):
                kib, own, _ = _stat(pid)
                rss += kib
                cpu[pid] = max(cpu.get(pid, 0.0), own)
            peak[0] = max(peak[0], rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    tail = proc.stderr.read()[-2000:]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode not in (0, 3):  # 3: some rows were rejected (the file has bad rows)
        raise SystemExit(f"child failed ({proc.returncode}): {tail.decode(errors='replace')}")
    # wait4 counts the command and every process it started and waited for (its validation
    # workers); the samples count processes it left behind. Never both: the larger.
    reaped = usage.ru_utime + usage.ru_stime
    sampled = sum(seconds for pid, seconds in cpu.items() if pid != proc.pid)
    return {
        "seconds": wall,
        "peak_rss_mb": peak[0] / 1024,
        "cpu_import_s": max(reaped, cpu.get(proc.pid, 0.0) + sampled),
        "cpu_postgres_s": postgres_cpu(home) - pg_before,
    }


def validation_baseline(path: Path, rows: int = 20_000) -> list[dict]:
    """Rows/s validating ``rows`` rows here: general parser alone, then with the fast path."""
    from dialer_core import cases_csv

    with path.open("rb") as f:
        reader = cases_csv.CaseCsvReader(f, chunk_rows=rows)
        records, _ = next(reader.chunks())
    cases_csv.validate_records(reader.layout, records[:2000], "CN")  # load metadata first
    out = []
    for label, general in (("general parser (phonenumbers) only", True), ("fast path", False)):
        saved = cases_csv.fast_digits, cases_csv.number_type
        if general:
            cases_csv.fast_digits = lambda text, region: None
            cases_csv.number_type = phonenumbers.number_type
        try:
            started = time.perf_counter()
            cases_csv.validate_records(reader.layout, records, "CN")
            seconds = time.perf_counter() - started
        finally:
            cases_csv.fast_digits, cases_csv.number_type = saved
        case = f"validate {rows:,} rows, one process: {label}"
        out.append({"case": case, "rows": rows, "seconds": seconds, "rows_per_s": rows / seconds})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,1000000")
    opts = ap.parse_args()
    sizes = [int(s) for s in opts.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="pacedial-bench-import-") as tmp:
        home = Path(tmp)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PACEDIAL_HOME": str(home)}
        results = []
        try:
            subprocess.run([sys.executable, "-c", CLI, "db", "migrate"], env=env, check=True)
            for n in sizes:
                path = home / f"cases-{n}.csv"
                write_cases(path, n, seed=n)
                cmd = [sys.executable, "-c", CLI, "import", str(path), "--campaign", f"b{n}"]
                runs = [("import", cmd)]
                if n == max(sizes):
                    runs.append(("re-import unchanged", cmd))
                for label, args in runs:
                    run = run_child(args, env, home)
                    results.append(
                        {"case": f"{label} {n:,} rows", "rows": n, **run}
                        | {"rows_per_s": n / run["seconds"]}
                    )
            small = home / f"cases-{min(sizes)}.csv"
            run = run_child([sys.executable, "-c", BASELINE, str(small), "baseline"], env, home)
            base = {
                "case": f"baseline: in-memory path, {min(sizes):,} rows",
                "rows": min(sizes),
                **run,
                "rows_per_s": min(sizes) / run["seconds"],
            }
            validation = validation_baseline(small)
        finally:
            if "PACEDIAL_DATABASE_URL" not in os.environ:
                subprocess.run(
                    [sys.executable, "-c", CLI, "db", "stop"], env=env, capture_output=True
                )
    print(
        "| case | rows/s | seconds | peak memory (MB) | CPU s: import | CPU s: PostgreSQL "
        "| vs baseline rows/s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in [*results, base]:
        print(
            f"| {r['case']} | {r['rows_per_s']:,.0f} | {r['seconds']:.1f} | "
            f"{r['peak_rss_mb']:.0f} | {r['cpu_import_s']:.1f} | {r['cpu_postgres_s']:.1f} | "
            f"{r['rows_per_s'] / base['rows_per_s']:.2f}× |"
        )
    general = validation[0]["rows_per_s"]
    for r in validation:
        print(
            f"| {r['case']} | {r['rows_per_s']:,.0f} | {r['seconds']:.1f} | | | | "
            f"{r['rows_per_s'] / general:.2f}× |"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        json.dumps(
            {
                "bench": "import",
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg(),
                "results": results,
                "baseline": base,
                "validation": validation,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
