"""Attempt caps on the law's keys: per number, per case (debt) and per debtor, per
callee-local day, rolling days and lifetime.

All counts are conservative: a day is the callee's local calendar day in *each* candidate zone
(the highest count wins), and a rolling N-day period covers both the last N×24 hours and the
last N local calendar days (today included), so a DST change or a zone boundary never lets one
more call through.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from dialer_core.compliance.model import Allowed, Decision, Denied, Disposition, PastAttempt
from dialer_core.compliance.region import Region
from dialer_core.compliance.windows import zone

ALL_DISPOSITIONS = frozenset(d.value for d in Disposition)


@dataclass(frozen=True)
class CapRules:
    """Attempt caps; None disables a cap. The prefix names the key a cap counts on:
    ``phone_*`` the number called (any case, any campaign), ``case_*`` the debt,
    ``debtor_*`` the debtor (all their cases).

    ``counted``: dispositions that count toward the attempt caps (``in_progress`` always
    counts); ``connected_*``: caps on conversations (``PastAttempt.connected``) whatever the
    disposition; ``quiet_after_conversation``: no call for this long after a conversation on
    the ``quiet_key`` ("case" or "debtor"), the conversation's local day being day one (Reg F:
    7 days); ``abandon_lockout``: no call to the number this long after an abandoned call
    (Ofcom: 72 h); ``machine_same_day``: no call to the number on the local day of an AMD
    machine verdict.
    """

    phone_day: int | None = None
    phone_7d: int | None = None
    phone_lifetime: int | None = None
    case_day: int | None = None
    case_7d: int | None = None
    case_lifetime: int | None = None
    debtor_day: int | None = None
    debtor_7d: int | None = None
    connected_case_day: int | None = None
    connected_case_7d: int | None = None
    connected_debtor_day: int | None = None
    connected_debtor_7d: int | None = None
    counted: frozenset[str] = field(default_factory=lambda: ALL_DISPOSITIONS)
    quiet_after_conversation: timedelta | None = None
    quiet_key: str = "case"
    abandon_lockout: timedelta | None = None
    machine_same_day: bool = False


@lru_cache(maxsize=4096)
def _midnight(day: date, zone_name: str, late: bool) -> datetime:
    """The UTC instant local ``day`` starts in the zone (``late``: the later reading where a
    DST change makes midnight ambiguous). Cached: the caps ask for the same days often."""
    naive = datetime.combine(day, time(0, 0))
    zi = zone(zone_name)
    a = naive.replace(tzinfo=zi, fold=0).astimezone(UTC)
    b = naive.replace(tzinfo=zi, fold=1).astimezone(UTC)
    return max(a, b) if late else min(a, b)


def _local_date(at: datetime, zone_name: str) -> date:
    return at.astimezone(zone(zone_name)).date()


def period_end(at: datetime, days: int, zones: Sequence[str]) -> datetime:
    """When an event at ``at`` leaves a ``days``-long rolling period: after ``days``×24 h and
    at the start of local day ``days + 1`` (the event's day being day one) in every zone."""
    ends = [at + timedelta(days=days)]
    ends += [_midnight(_local_date(at, z) + timedelta(days=days), z, True) for z in zones]
    return max(ends)


def _in_period(at: datetime, now: datetime, days: int, zones: Sequence[str]) -> bool:
    return now < period_end(at, days, zones)


def _day_bounds(now: datetime, zone_name: str) -> tuple[datetime, datetime]:
    d = _local_date(now, zone_name)
    return _midnight(d, zone_name, False), _midnight(d + timedelta(days=1), zone_name, True)


def _same_day_count(
    items: Iterable[PastAttempt], now: datetime, zones: Sequence[str]
) -> tuple[int, datetime]:
    """The highest count of ``items`` on the local day of ``now`` over the zones, and when the
    latest of those days ends."""
    items = list(items)
    best, until = 0, now
    for z in zones:
        lo, hi = _day_bounds(now, z)
        best = max(best, sum(1 for a in items if lo <= a.at < hi))
        until = max(until, hi)
    return best, until


def _rolling(
    items: Iterable[PastAttempt], now: datetime, days: int, cap: int, zones: Sequence[str]
) -> tuple[int, datetime | None]:
    """Count in the rolling period and, when at the cap, when enough fall out of it."""
    inside = sorted(a.at for a in items if _in_period(a.at, now, days, zones))
    if len(inside) < cap:
        return len(inside), None
    return len(inside), period_end(inside[len(inside) - cap], days, zones)


def _counts(a: PastAttempt, caps: CapRules) -> bool:
    return a.disposition == Disposition.IN_PROGRESS or a.disposition in caps.counted


def cap_check(
    phone: str,
    case_id: str,
    region: Region,
    history: Sequence[PastAttempt],
    now: datetime,
    caps: CapRules,
    debtor: str = "",
) -> Decision:
    """Allowed when one more call to ``phone`` of ``case_id`` (of ``debtor``; empty: the case
    is its own debtor) at ``now`` keeps every cap; else Denied with the cap's code and the
    instant it lifts (None for lifetime caps). ``history`` holds the attempts on any of the
    three keys; each cap picks the ones on its own key."""
    zones = region.zones
    debtor = debtor or f"case:{case_id}"
    on_phone = [a for a in history if a.phone == phone]
    on_case = [a for a in history if a.case_id == case_id]
    on_debtor = [a for a in history if a.debtor_key == debtor]
    denials: list[Denied] = []

    def deny(code: str, reason: str, retry: datetime | None) -> None:
        denials.append(Denied(code, reason, retry))

    if caps.abandon_lockout is not None:
        dropped = [
            a.ended or a.at for a in on_phone if a.abandoned or a.disposition == "abandoned"
        ]
        if dropped and now < max(dropped) + caps.abandon_lockout:
            hours = caps.abandon_lockout.total_seconds() / 3600
            deny(
                "lockout.abandoned",
                f"abandoned call less than {hours:g} h ago",
                max(dropped) + caps.abandon_lockout,
            )
    if caps.machine_same_day:
        machine = [a for a in on_phone if a.machine or a.disposition == "machine"]
        n, until = _same_day_count(machine, now, zones)
        if n:
            deny("lockout.machine", "answering machine reached earlier today", until)
    if caps.quiet_after_conversation is not None:
        quiet_on = on_debtor if caps.quiet_key == "debtor" else on_case
        talks = [a.at for a in quiet_on if a.connected]
        days = caps.quiet_after_conversation.days
        ends = [period_end(t, days, zones) for t in talks]
        ends = [e for e in ends if now < e]
        if ends:
            deny(
                "quiet.conversation",
                f"conversation with this {caps.quiet_key} within the last {days} days",
                max(ends),
            )

    for scope, items, day, week, life in (
        ("phone", on_phone, caps.phone_day, caps.phone_7d, caps.phone_lifetime),
        ("case", on_case, caps.case_day, caps.case_7d, caps.case_lifetime),
        ("debtor", on_debtor, caps.debtor_day, caps.debtor_7d, None),
    ):
        counted = [a for a in items if _counts(a, caps)]
        if day is not None:
            n, until = _same_day_count(counted, now, zones)
            if n >= day:
                deny(f"cap.{scope}_day", f"{n} of {day} attempts per {scope} today", until)
        if week is not None:
            n, until = _rolling(counted, now, 7, week, zones)
            if n >= week:
                deny(f"cap.{scope}_7d", f"{n} of {week} attempts per {scope} in 7 days", until)
        if life is not None and len(counted) >= life:
            deny(f"cap.{scope}_lifetime", f"{len(counted)} of {life} attempts per {scope}", None)

    for scope, items, day, week in (
        ("case", on_case, caps.connected_case_day, caps.connected_case_7d),
        ("debtor", on_debtor, caps.connected_debtor_day, caps.connected_debtor_7d),
    ):
        talks = [a for a in items if a.connected]
        if day is not None:
            n, until = _same_day_count(talks, now, zones)
            if n >= day:
                deny(f"cap.connected_{scope}_day", f"{n} of {day} conversations today", until)
        if week is not None:
            n, until = _rolling(talks, now, 7, week, zones)
            if n >= week:
                deny(f"cap.connected_{scope}_7d", f"{n} of {week} conversations in 7 days", until)

    if not denials:
        return Allowed()
    permanent = [d for d in denials if d.retry_at is None]
    if permanent:
        return permanent[0]
    return max(denials, key=lambda d: d.retry_at or now)
