"""``pacedial cases ...``: account managers, case assignment, worklists and callbacks.

    pacedial cases add-manager NAME [--regions Guangdong,Fujian] [--buckets M1,M2]
                                    [--amount-min N] [--amount-max N] [--max-cases N]
    pacedial cases assign --campaign C [--balance count|amount]        (by the rules)
    pacedial cases assign --campaign C --case EXT --manager M          (by hand)
    pacedial cases reassign --campaign C --case EXT --to M [--reason TEXT]
    pacedial cases history --campaign C --case EXT
    pacedial cases worklist --manager M
    pacedial cases callback --campaign C --case EXT --at 2025-03-02T10:00+08:00
                            [--priority N] [--note TEXT]
    pacedial cases check-promises [--date D]

Money is in minor units (fen / cents). Phone numbers are shown as their last 4 digits.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime

from dialer_core.allocation.rules import BALANCES
from dialer_core.dpd import DPD_BUCKETS
from dialer_core.store import allocation as store
from dialer_core.store import followup as followup_store
from dialer_core.store.campaigns import campaign_id as find_campaign_id
from dialer_core.store.database import open_database

BY = "cli"


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an ISO time, got {text!r}") from exc
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give the UTC offset, e.g. +08:00")
    return value


def _list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _buckets(text: str) -> tuple[str, ...]:
    found = _list(text)
    bad = [b for b in found if b not in DPD_BUCKETS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown DPD bucket(s) {bad}; expected M0..M7")
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pacedial cases", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)

    add = sub.add_parser("add-manager", help="create or update an account manager")
    add.add_argument("name")
    add.add_argument("--display-name", default="")
    add.add_argument("--regions", type=_list, default=(), help="provinces, comma-separated")
    add.add_argument("--buckets", type=_buckets, default=(), help="DPD buckets, e.g. M1,M2")
    add.add_argument("--amount-min", type=int, default=None, help="minor units")
    add.add_argument("--amount-max", type=int, default=None, help="minor units")
    add.add_argument("--max-cases", type=int, default=None)
    add.add_argument("--inactive", action="store_true")

    assign = sub.add_parser("assign", help="assign cases by the rules, or one case by hand")
    assign.add_argument("--campaign", required=True)
    assign.add_argument("--case", help="external id (with --manager: by hand)")
    assign.add_argument("--manager")
    assign.add_argument("--balance", choices=BALANCES, default="count")
    assign.add_argument("--reason", default="")

    re = sub.add_parser("reassign", help="move a case to another manager (logged)")
    re.add_argument("--campaign", required=True)
    re.add_argument("--case", required=True)
    re.add_argument("--to", required=True)
    re.add_argument("--reason", default="")

    hist = sub.add_parser("history", help="a case's assignment history")
    hist.add_argument("--campaign", required=True)
    hist.add_argument("--case", required=True)

    work = sub.add_parser("worklist", help="a manager's cases and due tasks")
    work.add_argument("--manager", required=True)
    work.add_argument("--limit", type=int, default=100)

    cb = sub.add_parser("callback", help="call a case back at a chosen time")
    cb.add_argument("--campaign", required=True)
    cb.add_argument("--case", required=True)
    cb.add_argument("--at", required=True, type=_when)
    cb.add_argument("--priority", type=int, default=10)
    cb.add_argument("--manager", default=None)
    cb.add_argument("--note", default="")

    chk = sub.add_parser("check-promises", help="settle promises: kept, or missed → follow-up")
    chk.add_argument("--date", type=date.fromisoformat, default=None, help="today (UTC date)")
    return parser


def _print_worklist(items: list[store.WorkItem]) -> None:
    print(f"{'case':<14} {'debtor':<16} {'amount':>12} {'dpd':>4} {'phone':>6} next task")
    for w in items:
        task = f"{w.next_task_kind} {w.next_task_due:%Y-%m-%d %H:%M}" if w.next_task_due else "-"
        print(
            f"{w.external_id:<14} {w.debtor_name[:16]:<16} {w.amount_minor:>12} "
            f"{w.days_past_due:>4} {'*' + w.phone_last4 if w.phone_last4 else '-':>6} {task}"
        )


async def _run(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    async with open_database() as pool, pool.acquire() as conn:
        if args.action == "add-manager":
            mid = await store.upsert_manager(
                conn,
                args.name,
                display_name=args.display_name,
                regions=args.regions,
                dpd_buckets=args.buckets,
                amount_min_minor=args.amount_min,
                amount_max_minor=args.amount_max,
                max_cases=args.max_cases,
                active=not args.inactive,
            )
            print(f"manager {args.name} (id {mid})")
        elif args.action == "assign" and (args.case or args.manager):
            if not (args.case and args.manager):
                raise store.AllocationError("assign by hand needs both --case and --manager")
            case = await store.case_id(conn, args.campaign, args.case)
            moved = await store.assign_cases(
                conn, [case], args.manager, at=now, by=BY, reason=args.reason
            )
            print(f"{args.case} → {args.manager}" if moved else f"{args.case}: no change")
        elif args.action == "assign":
            campaign_id = await find_campaign_id(conn, args.campaign)
            if campaign_id is None:
                raise store.AllocationError(f"no campaign named {args.campaign!r}")
            plan = await store.assign_by_rules(
                conn, campaign_id, at=now, by=BY, balance=args.balance
            )
            print(f"assigned {len(plan.assignments)}, left unassigned {len(plan.unassigned)}")
        elif args.action == "reassign":
            case = await store.case_id(conn, args.campaign, args.case)
            moved = await store.assign_cases(
                conn, [case], args.to, at=now, by=BY, reason=args.reason, kind="reassign"
            )
            print(f"{args.case} → {args.to}" if moved else f"{args.case}: already with {args.to}")
        elif args.action == "history":
            case = await store.case_id(conn, args.campaign, args.case)
            for e in await store.assignment_history(conn, case):
                print(
                    f"{e.at:%Y-%m-%d %H:%M} {e.kind:<8} {e.from_manager or '-'} → "
                    f"{e.to_manager or '-'} by {e.by} {e.reason}"
                )
        elif args.action == "worklist":
            _print_worklist(await store.worklist(conn, args.manager, limit=args.limit))
        elif args.action == "callback":
            case = await store.case_id(conn, args.campaign, args.case)
            task = await followup_store.schedule_callback(
                conn,
                case,
                args.at,
                now=now,
                priority=args.priority,
                manager=args.manager,
                note=args.note,
            )
            print(f"{args.case}: callback at {args.at.isoformat()} (task {task})")
        elif args.action == "check-promises":
            settled = await followup_store.check_promises(
                conn, today=args.date or now.date(), now=now
            )
            kept = sum(1 for s in settled if s.status == "kept")
            print(f"kept {kept}, missed {len(settled) - kept}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; ``argv`` excludes the ``cases`` word. Returns the exit status."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return asyncio.run(_run(args))
    except store.AllocationError as exc:
        print(f"pacedial cases: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
