"""``pacedial report --campaign NAME --date D [--to D2] [--tz ZONE] [--out DIR]``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from pathlib import Path

from dialer_core.reports.cycle import ReportError, write_cycle_report
from dialer_core.store.database import open_database


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pacedial report",
        description="Write a campaign's cycle report: report.html and one CSV per table.",
    )
    parser.add_argument("--campaign", required=True, help="campaign name")
    parser.add_argument("--date", required=True, type=_day, help="first day, YYYY-MM-DD")
    parser.add_argument("--to", type=_day, default=None, help="last day (default: --date)")
    parser.add_argument(
        "--tz", default="UTC", help="time zone of days and hours, e.g. Asia/Shanghai (UTC)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output directory (report-CAMPAIGN-DATE)"
    )
    return parser


async def _run(args: argparse.Namespace) -> int:
    date_to = args.to or args.date
    out = args.out or Path(f"report-{args.campaign}-{args.date.isoformat()}")
    async with open_database() as pool:
        files = await write_cycle_report(pool, args.campaign, args.date, date_to, out, tz=args.tz)
    print(f"{files.html} ({files.total_attempts} attempts)")
    for path in files.csv:
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; ``argv`` excludes the ``report`` word. Returns the exit status."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return asyncio.run(_run(args))
    except ReportError as exc:
        print(f"pacedial report: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
