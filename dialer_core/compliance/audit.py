"""Replay attempt records against the rules and list every violation (the pure half of
``pacedial audit``; the CLI reads the records and prints the result)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer_core.compliance.abandonment import LiveCall, abandon_days, abandon_windows
from dialer_core.compliance.config import parse_duration
from dialer_core.compliance.decision import Contact, check_contact
from dialer_core.compliance.dnc import DncList
from dialer_core.compliance.model import PastAttempt, mask
from dialer_core.compliance.rules import ComplianceRules
from dialer_core.compliance.windows import zone


@dataclass(frozen=True)
class AuditRecord:
    """One attempt as stored: the attempt, the caller ID presented and the address zones."""

    attempt: PastAttempt
    caller_id: str = ""
    live: bool = False  # answered by a person (connected or abandoned)
    extra_zones: tuple[str, ...] = ()
    judged: bool = True  # False: another campaign's call, context for the number/debtor rules
    amd_false_positive: bool = False  # AMD said machine, a person was there: an abandoned call
    ended: datetime | None = None  # when the call ended (None: unknown)
    ringing: datetime | None = None  # when the callee's phone began to ring (None: unknown)
    recorded: bool = False  # a recording of the call exists


@dataclass(frozen=True)
class Violation:
    """One rule broken by one attempt (or by a window of attempts for ``abandon_rate``)."""

    at: datetime
    case_id: str
    phone: str  # masked
    code: str  # dnc, zone_unknown, window, cap.*, lockout.*, quiet.*, redial, phone_stopped,
    # in_progress, caller_id, one_live_call, ring_time, recording, abandon_rate, abandon_day
    detail: str


def call_findings(r: AuditRecord, rules: ComplianceRules, last_end: datetime | None) -> list:
    """(code, reason) of what one call itself broke: ringing a number still in a call, giving
    up ringing before the preset's floor (counted from the first ring when it is known: the
    post-dial delay is not ringing), a live call not recorded where the preset says so."""
    a, floors, out = r.attempt, rules.lawful, []
    if last_end is not None and a.at < last_end:
        out.append(("one_live_call", "the number was still in another call"))
    low = floors.get("min_ring_timeout")
    if low and a.disposition == "no_answer" and r.ended is not None:
        rang = (r.ended - (r.ringing or a.at)).total_seconds()
        if rang < parse_duration(low, "preset").total_seconds():
            out.append(("ring_time", f"gave up ringing after {rang:.1f} s (floor {low})"))
    if floors.get("recording_retention_days") and r.live and not r.recorded:
        out.append(("recording", "a live collection call without a recording"))
    return out


def audit(
    records: Sequence[AuditRecord],
    rules: ComplianceRules,
    dnc: DncList,
    caller_id_check: Callable[[AuditRecord], str | None] | None = None,
) -> list[Violation]:
    """Every violation in ``records``, each attempt judged against the attempts before it on
    the law's keys: the same case, the same number and the same debtor (records with
    ``judged`` False, e.g. other campaigns' calls, are history only).

    ``caller_id_check`` returns a reason when the presented caller ID was wrong for the
    record (see ``dialer_core.callerid.presence_mismatch``).
    """
    ordered = sorted(records, key=lambda r: r.attempt.at)
    keyed: dict[tuple[str, str], list[PastAttempt]] = defaultdict(list)
    ends: dict[str, datetime] = {}
    out: list[Violation] = []
    for r in ordered:
        a = r.attempt
        keys = (("case", a.case_id), ("number", a.phone), ("debtor", a.debtor_key))
        if r.judged:
            seen: dict[int, PastAttempt] = {}
            for k in keys:
                seen.update((id(p), p) for p in keyed[k])
            contact = Contact(a.case_id, a.phone, r.extra_zones, a.debtor)
            d = check_contact(contact, list(seen.values()), a.at, rules, dnc)
            if not d:
                out.append(Violation(a.at, a.case_id, mask(a.phone), d.code, d.reason))  # type: ignore[union-attr]
            if caller_id_check is not None:
                why = caller_id_check(r)
                if why:
                    out.append(Violation(a.at, a.case_id, mask(a.phone), "caller_id", why))
            for code, why in call_findings(r, rules, ends.get(a.phone)):
                out.append(Violation(a.at, a.case_id, mask(a.phone), code, why))
        for k in keys:
            keyed[k].append(a)
        if r.ended is not None:
            ends[a.phone] = max(ends.get(a.phone, r.ended), r.ended)
    out += abandon_findings(ordered, rules)
    return out


def abandon_findings(records: Sequence[AuditRecord], rules: ComplianceRules) -> list[Violation]:
    """Abandonment over every rolling window and, with ``calendar_zone``, every calendar day,
    whatever the number of live calls; AMD false positives count as live and abandoned."""
    live = [
        LiveCall(r.attempt.at, r.attempt.abandoned or r.amd_false_positive)
        for r in records
        if r.judged and (r.live or r.amd_false_positive)
    ]
    out = []
    window = timedelta(hours=rules.abandon.window_hours)
    for w in abandon_windows(live, window, rules.abandon.target):
        detail = f"{w.abandoned}/{w.live} = {w.rate:.2%} abandoned from {w.start} to {w.end}"
        out.append(Violation(w.end, "", "", "abandon_rate", detail))
    if rules.abandon.calendar_zone:
        for w in abandon_days(live, rules.abandon.calendar_zone, rules.abandon.target):
            day = w.start.astimezone(zone(rules.abandon.calendar_zone)).date()
            detail = f"{w.abandoned}/{w.live} = {w.rate:.2%} abandoned on {day} (calendar day)"
            out.append(Violation(w.end, "", "", "abandon_day", detail))
    return out
