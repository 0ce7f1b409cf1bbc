"""The per-cycle collection report: SQL aggregates, written as HTML and one CSV per table.

The period is whole days ``date_from``..``date_to`` (inclusive) in the report's time zone
``tz`` (default UTC); an attempt belongs to the day and hour of its start (``created_at``) in
that zone. For a campaign whose callees share a zone (Asia/Shanghai for mainland China) this is
the callee-local day.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg

from dialer_core.config_errors import InputError
from dialer_core.period import PeriodError, local_period
from dialer_core.reports.html import render_html
from dialer_core.reports.tables import Table, build_tables
from dialer_core.store.campaigns import campaign_id as find_id
from dialer_core.store.reports import (
    DEFAULT_SLICES,
    Group,
    Metrics,
    cycle_groups,
)


class ReportError(InputError):
    """The report cannot be made as asked (unknown campaign, bad period or zone)."""


@dataclass(frozen=True)
class CycleReport:
    """Every table of one campaign's cycle, ready to render."""

    campaign: str
    date_from: date
    date_to: date
    tz: str
    tables: tuple[Table, ...]
    total: Metrics
    agent_days: Group | None

    def table(self, name: str) -> Table:
        """The table whose CSV stem is ``name`` (``by_region``, ``agents``…)."""
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"no table {name!r}; tables: {[t.name for t in self.tables]}")


@dataclass(frozen=True)
class ReportFiles:
    """What ``write_cycle_report`` wrote."""

    html: Path
    csv: tuple[Path, ...]
    total_attempts: int


async def build_cycle_report(
    pool: asyncpg.Pool,
    campaign: str,
    date_from: date,
    date_to: date,
    *,
    tz: str = "UTC",
    slices: int = DEFAULT_SLICES,
) -> CycleReport:
    """Aggregate the campaign's attempts of the period (all in PostgreSQL) into tables.

    Up to ``slices`` statements (runs of whole days) run at once, each on its own connection
    from ``pool``.
    """
    try:
        period = local_period(date_from, date_to, tz)
    except PeriodError as exc:
        raise ReportError(str(exc)) from exc
    async with pool.acquire() as conn:
        campaign_id = await find_id(conn, campaign)
    if campaign_id is None:
        raise ReportError(f"report: no campaign named {campaign!r}")
    groups = await cycle_groups(pool, campaign_id, period, slices=slices)
    totals = [g for g in groups if g.dimension == "total"]
    agent_days = next((g for g in groups if g.dimension == "agent_days"), None)
    return CycleReport(
        campaign,
        date_from,
        date_to,
        tz,
        build_tables(groups),
        totals[0].metrics,
        agent_days,
    )


def period_label(date_from: date, date_to: date) -> str:
    if date_from == date_to:
        return date_from.isoformat()
    return f"{date_from.isoformat()} to {date_to.isoformat()}"


def write_report_files(
    report: CycleReport, out_dir: Path, *, generated: datetime | None = None
) -> ReportFiles:
    """Write ``report.html`` and one CSV per table (UTF-8 with BOM, for spreadsheet apps)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for table in report.tables:
        path = out_dir / f"{table.name}.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(table.header())
            writer.writerows(table.records())
        written.append(path)
    html_path = out_dir / "report.html"
    html_path.write_text(report_html(report, generated), encoding="utf-8")
    return ReportFiles(html_path, tuple(written), report.total.attempts)


def report_html(report: CycleReport, generated: datetime | None = None) -> str:
    """The report as one self-contained HTML page."""
    stamp = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    return render_html(
        campaign=report.campaign,
        period=period_label(report.date_from, report.date_to),
        tz=report.tz,
        generated=stamp,
        tables=report.tables,
        total=report.total,
        agent_days=report.agent_days,
    )


async def write_cycle_report(
    pool: asyncpg.Pool,
    campaign: str,
    date_from: date,
    date_to: date,
    out_dir: Path,
    *,
    tz: str = "UTC",
    slices: int = DEFAULT_SLICES,
) -> ReportFiles:
    """Build the campaign's cycle report for date_from..date_to and write it to ``out_dir``."""
    report = await build_cycle_report(pool, campaign, date_from, date_to, tz=tz, slices=slices)
    return write_report_files(report, Path(out_dir))
