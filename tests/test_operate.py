"""Operating details: db status/stop say what is true, reports go under $PACEDIAL_HOME,
`cases assign` explains an empty result, worklists show money and line up Chinese names."""

from __future__ import annotations

import asyncio
import io

from dialer_core.cases_csv import parse_cases_csv
from dialer_core.face.cases_cli import main as cases_main
from dialer_core.face.db_cli import run_db
from dialer_core.face.report_cli import build_parser
from dialer_core.paths import reports_dir
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases
from dialer_core.store.database import create_pool
from dialer_core.textwidth import width


def test_db_stop_and_status_say_when_nothing_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("PACEDIAL_HOME", str(tmp_path))
    monkeypatch.delenv("PACEDIAL_DATABASE_URL", raising=False)
    out = io.StringIO()
    assert asyncio.run(run_db("stop", out)) == 0
    assert asyncio.run(run_db("status", out)) == 0
    text = out.getvalue()
    assert f"embedded PostgreSQL was not running (data in {tmp_path / 'pg'})" in text
    assert "not running; the next command starts it" in text


def test_db_status_counts_applied_and_pending_migrations(db_dsn, monkeypatch):
    monkeypatch.setenv("PACEDIAL_DATABASE_URL", db_dsn)
    out = io.StringIO()
    assert asyncio.run(run_db("status", out)) == 0
    assert "(running)" in out.getvalue() and ", 0 pending" in out.getvalue()


def test_reports_default_to_pacedial_home(tmp_path, monkeypatch):
    monkeypatch.setenv("PACEDIAL_HOME", str(tmp_path))
    assert reports_dir() == tmp_path / "reports"
    args = build_parser().parse_args(["--campaign", "c", "--date", "2025-03-01"])
    assert args.out is None  # resolved to reports_dir()/report-c-2025-03-01, absolute


def test_assign_without_managers_explains_and_worklist_lines_up(db_dsn, monkeypatch, capsys):
    async def seed():
        pool = await create_pool(db_dsn, min_size=1, max_size=2)
        try:
            async with pool.acquire() as conn:
                cid = await ensure_campaign(conn, "spring")
                parsed = parse_cases_csv(
                    "external_id,debtor_name,amount,days_past_due,phone\n"
                    "A1,欧阳娜娜,3250.50,10,13800138000\nA2,Li Wei,12,10,13800138001\n".encode()
                )
                await import_cases(conn, cid, parsed.rows, parsed.errors, "t")
        finally:
            await pool.close()

    asyncio.run(seed())
    monkeypatch.setenv("PACEDIAL_DATABASE_URL", db_dsn)
    assert cases_main(["assign", "--campaign", "spring"]) == 0
    captured = capsys.readouterr()
    assert "assigned 0, left unassigned 2" in captured.out
    assert "no active account managers: add one with `pacedial cases add-manager" in captured.err
    assert cases_main(["add-manager", "qian"]) == 0
    assert cases_main(["assign", "--campaign", "spring"]) == 0
    capsys.readouterr()
    assert cases_main(["worklist", "--manager", "qian"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "¥3,250.50" in lines[1] + lines[2] and "¥12.00" in lines[1] + lines[2]
    amount_end = {
        width(line[: line.index("¥") + len(line[line.index("¥") :].split()[0])])
        for line in lines[1:]
    }
    assert len(amount_end) == 1  # the amount column ends at the same cell on every line
