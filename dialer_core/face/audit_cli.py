"""``pacedial audit --campaign NAME [--from D --to D]``: replay stored attempts against the rules.

Reads the campaign's attempts from PostgreSQL, judges each one against the attempts before it
with ``dialer_core.compliance.audit.audit`` (window, caps, lock-outs, redial delays, stopped
phones, caller ID, abandonment over rolling windows) and against the DNC entries that existed
when it was launched, prints every violation and exits 1 if there is any, else 0.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TextIO

import asyncpg

from dialer_core.callerid.config import load_callerid
from dialer_core.callerid.presence import presence_mismatch
from dialer_core.campaign.config import CampaignConfig, load_campaign, parse_campaign
from dialer_core.compliance.audit import AuditRecord, Violation, audit
from dialer_core.compliance.dnc import DncList
from dialer_core.compliance.model import mask
from dialer_core.compliance.region import ZoneUnknown, region_of
from dialer_core.compliance.windows import zone
from dialer_core.store import audit as store
from dialer_core.store.campaigns import find_campaign

EXIT_CLEAN, EXIT_VIOLATIONS, EXIT_ERROR = 0, 1, 2


class AuditError(Exception):
    """The audit could not run (unknown campaign, unusable config, bad dates)."""


@dataclass(frozen=True)
class AuditReport:
    """The violations found in ``[start, end)`` and what they were judged over."""

    campaign: str
    start: datetime | None
    end: datetime | None
    attempts: int  # attempts launched in the period
    violations: tuple[Violation, ...]
    external_ids: dict[str, str]
    phones: dict[tuple[str, datetime], str]  # (case id, launch) → full number, for local time


def dnc_violations(
    records: Sequence[AuditRecord], entries: Sequence[store.TimedDncEntry]
) -> list[Violation]:
    """Attempts to a number on a DNC list whose entry existed when the call was launched.

    A number put on the list after it was called is not a violation of that earlier call.
    """
    everything = DncList(t.entry for t in entries)
    out = []
    for r in records:
        a = r.attempt
        if everything.match(a.phone) is None:
            continue
        binding = [
            t
            for t in entries
            if t.since <= a.at
            and (
                t.entry.pattern == a.phone
                or (t.entry.is_prefix and a.phone.startswith(t.entry.pattern[:-1]))
            )
        ]
        if binding:
            first = min(binding, key=lambda t: t.since)
            where = f" ({first.entry.source})" if first.entry.source else ""
            since = first.since.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
            detail = f"{mask(a.phone)} is on a do-not-call list{where} since {since}"
            out.append(Violation(a.at, a.case_id, mask(a.phone), "dnc", detail))
    return out


def caller_id_check_for(campaign: CampaignConfig) -> Callable[[AuditRecord], str | None] | None:
    """The caller-ID rule of a campaign: its ``[callerid]`` pool (local presence) if it has
    one, else its single ``dialing.caller_id``; None when neither is configured."""
    pool = load_callerid(campaign.raw.get("callerid"), f"campaign {campaign.name}")
    if pool.numbers:

        def by_pool(r: AuditRecord) -> str | None:
            region = region_of(r.attempt.phone)
            if isinstance(region, ZoneUnknown):
                return None  # already reported as zone_unknown
            return presence_mismatch(region, r.caller_id, pool.numbers)

        return by_pool
    if campaign.caller_id:

        def fixed(r: AuditRecord) -> str | None:
            if r.caller_id == campaign.caller_id:
                return None
            shown = r.caller_id or "(none)"
            return f"caller ID {shown} is not the campaign's {campaign.caller_id}"

        return fixed
    return None


def _campaign_from(stored: store.StoredCampaign, config_path: Path | None) -> CampaignConfig:
    if config_path is not None:
        campaign = load_campaign(config_path)
        if campaign.name != stored.name:
            raise AuditError(
                f"{config_path}: campaign.name is {campaign.name!r}, expected {stored.name!r}"
            )
        return campaign
    if not stored.config:
        raise AuditError(
            f"campaign {stored.name!r} has no stored configuration (it was never started); "
            "pass --config with its TOML file"
        )
    return parse_campaign(stored.config, f"campaign {stored.name!r} (stored config)")


async def audit_campaign(
    pool: asyncpg.Pool,
    name: str,
    start: datetime | None = None,
    end: datetime | None = None,
    config_path: Path | None = None,
) -> AuditReport:
    """Audit the attempts of campaign ``name`` launched in ``[start, end)``.

    Earlier attempts are replayed too (caps and redial delays depend on them) but only
    violations inside the period are reported.
    """
    async with pool.acquire() as conn:
        stored = await find_campaign(conn, name)
        if stored is None:
            raise AuditError(f"no campaign named {name!r} in the database")
        campaign = _campaign_from(stored, config_path)
        data = await store.campaign_attempts(conn, stored.id, end)
        dnc = await store.dnc_history(conn, name)
    records = data.records
    found = audit(records, campaign.compliance, DncList(), caller_id_check_for(campaign))
    found += dnc_violations(records, dnc)

    def inside(at: datetime) -> bool:
        return (start is None or at >= start) and (end is None or at < end)

    violations = sorted((v for v in found if inside(v.at)), key=lambda v: (v.at, v.code))
    return AuditReport(
        campaign=name,
        start=start,
        end=end,
        attempts=sum(1 for r in records if inside(r.attempt.at)),
        violations=tuple(violations),
        external_ids=data.external_ids,
        phones={(r.attempt.case_id, r.attempt.at): r.attempt.phone for r in records},
    )


def format_violation(v: Violation, report: AuditReport) -> str:
    """One line: UTC instant, callee-local time, rule code, case, masked phone, reason."""
    local = ""
    phone = report.phones.get((v.case_id, v.at))
    if phone is not None:
        region = region_of(phone)
        if not isinstance(region, ZoneUnknown) and region.tz is not None:
            local = v.at.astimezone(zone(region.tz)).strftime(" (local %a %Y-%m-%d %H:%M %Z)")
    case = report.external_ids.get(v.case_id, v.case_id) if v.case_id else "-"
    when = v.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{when}{local}  {v.code:<18} case {case:<14} {v.phone or '-':<14} {v.detail}"


def _parse_when(text: str, key: str, is_end: bool) -> datetime:
    """A date (UTC day; ``--to`` includes it) or an ISO date-time (UTC if no offset)."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            at = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            return at + timedelta(days=1) if is_end else at
        at = datetime.fromisoformat(text)
    except ValueError:
        raise AuditError(
            f"{key}: expected YYYY-MM-DD or an ISO date-time like 2025-06-01T08:00+08:00, "
            f"got {text!r}"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    """The ``pacedial audit`` arguments."""
    p = argparse.ArgumentParser(
        prog="pacedial audit",
        description="Replay a campaign's attempt records against its compliance rules.",
    )
    p.add_argument("--campaign", required=True, help="campaign name")
    p.add_argument("--from", dest="start", help="first day (UTC) or ISO date-time, inclusive")
    p.add_argument(
        "--to", dest="end", help="last day (UTC, inclusive) or ISO date-time (exclusive)"
    )
    p.add_argument(
        "--config",
        type=Path,
        help="campaign TOML to take the rules from (default: the config stored in the database)",
    )
    p.add_argument(
        "--database", help="PostgreSQL DSN (default: $PACEDIAL_DATABASE_URL or embedded)"
    )
    return p


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    from dialer_core.store.database import open_database

    start = _parse_when(args.start, "--from", False) if args.start else None
    end = _parse_when(args.end, "--to", True) if args.end else None
    if start is not None and end is not None and end <= start:
        raise AuditError(f"--to ({args.end}) must be after --from ({args.start})")
    async with open_database(args.database) as pool:
        report = await audit_campaign(pool, args.campaign, start, end, args.config)
    for v in report.violations:
        print(format_violation(v, report), file=out)
    span = f"{args.start or 'start'} .. {args.end or 'now'}"
    n = len(report.violations)
    print(
        f"campaign {report.campaign}, {span}: {report.attempts} "
        f"attempt{'' if report.attempts == 1 else 's'}, {n} violation{'' if n == 1 else 's'}",
        file=out,
    )
    return EXIT_VIOLATIONS if n else EXIT_CLEAN


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the audit; 0 when no violation, 1 when any, 2 when the audit could not run."""
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    stream = out if out is not None else sys.stdout
    try:
        return asyncio.run(_run(args, stream))
    except (AuditError, ValueError) as exc:  # config errors are ValueErrors naming file and key
        print(f"pacedial audit: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"pacedial audit: database: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
