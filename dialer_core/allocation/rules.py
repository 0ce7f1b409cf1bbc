"""Case allocation rules (分案): which account manager gets which case. Pure functions.

A manager may take a case when the case's region, days-past-due bucket and amount are within
what the manager covers (an empty list or a missing bound means "any") and the manager is below
their case cap. Among those, the most specific manager wins (a Guangdong M3 specialist before a
generalist), then the least loaded (by cases, or by amount with ``balance="amount"``), then the
name. Cases are placed largest amount first so big balances spread evenly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dialer_core.compliance.region import province_key
from dialer_core.dpd import dpd_bucket

BALANCES = ("count", "amount")


@dataclass(frozen=True)
class Manager:
    """An account manager as the rules see them, with their current load."""

    id: int
    name: str
    regions: frozenset[str] = frozenset()  # provinces; empty = any
    dpd_buckets: frozenset[str] = frozenset()  # M0..M7; empty = any
    amount_min_minor: int | None = None
    amount_max_minor: int | None = None
    max_cases: int | None = None  # None = no cap
    load_cases: int = 0
    load_minor: int = 0

    @property
    def specificity(self) -> int:
        """How many of region / bucket / amount this manager restricts."""
        return (
            bool(self.regions)
            + bool(self.dpd_buckets)
            + (self.amount_min_minor is not None or self.amount_max_minor is not None)
        )


@dataclass(frozen=True)
class CaseFacts:
    """What the rules know of a case. Money in minor units."""

    case_id: int
    province: str
    days_past_due: int
    amount_minor: int


@dataclass(frozen=True)
class Assignment:
    case_id: int
    manager_id: int
    reason: str


@dataclass(frozen=True)
class Plan:
    """The rules' decision: who gets what, and which cases nobody may take."""

    assignments: tuple[Assignment, ...]
    unassigned: tuple[int, ...] = field(default_factory=tuple)


def _norm(province: str) -> str:
    return province_key(province).casefold()


def _covers(
    manager: Manager, regions: frozenset[str], province: str, bucket: str, amount: int
) -> bool:
    if regions and province not in regions:
        return False
    if manager.dpd_buckets and bucket not in manager.dpd_buckets:
        return False
    if manager.amount_min_minor is not None and amount < manager.amount_min_minor:
        return False
    return manager.amount_max_minor is None or amount <= manager.amount_max_minor


def covers(manager: Manager, case: CaseFacts) -> bool:
    """Whether the case is within what the manager covers (ignoring their cap)."""
    return _covers(
        manager,
        frozenset(_norm(r) for r in manager.regions),
        _norm(case.province),
        dpd_bucket(case.days_past_due),
        case.amount_minor,
    )


def plan_assignments(
    cases: Iterable[CaseFacts], managers: Sequence[Manager], *, balance: str = "count"
) -> Plan:
    """Assign each case to one eligible manager; loads grow as cases are placed."""
    if balance not in BALANCES:
        raise ValueError(f"allocation balance: expected one of {BALANCES}, got {balance!r}")
    regions = {m.id: frozenset(_norm(r) for r in m.regions) for m in managers}
    cases_load = {m.id: m.load_cases for m in managers}
    minor_load = {m.id: m.load_minor for m in managers}
    done: list[Assignment] = []
    left: list[int] = []
    for case in sorted(cases, key=lambda c: (-c.amount_minor, c.case_id)):
        province, bucket = _norm(case.province), dpd_bucket(case.days_past_due)
        candidates = [
            m
            for m in managers
            if (m.max_cases is None or cases_load[m.id] < m.max_cases)
            and _covers(m, regions[m.id], province, bucket, case.amount_minor)
        ]
        if not candidates:
            left.append(case.case_id)
            continue
        load = minor_load if balance == "amount" else cases_load
        best = min(candidates, key=lambda m: (-m.specificity, load[m.id], cases_load[m.id], m.name))
        done.append(
            Assignment(
                case.case_id,
                best.id,
                f"rule: {case.province or 'unknown region'} {bucket} "
                f"→ {best.name} (load {cases_load[best.id]} cases)",
            )
        )
        cases_load[best.id] += 1
        minor_load[best.id] += case.amount_minor
    return Plan(tuple(done), tuple(left))
