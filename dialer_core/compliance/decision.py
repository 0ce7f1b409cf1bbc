"""The runner's entry points: may this contact be called now, and when is the next attempt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from dialer_core.compliance.caps import cap_check
from dialer_core.compliance.dnc import DncList
from dialer_core.compliance.model import (
    Allowed,
    Decision,
    Denied,
    Disposition,
    PastAttempt,
    mask,
    require_utc,
)
from dialer_core.compliance.redial import RedialDecision, streak
from dialer_core.compliance.region import Region, ZoneUnknown, region_of
from dialer_core.compliance.rules import ComplianceRules
from dialer_core.compliance.windows import add_calling_hours, window_check

MAX_STEPS = 64  # bound on the window / cap / redial fixed-point search
IN_PROGRESS_RETRY = timedelta(minutes=10)


@dataclass(frozen=True)
class Contact:
    """One phone of one case. ``extra_zones``: zones known from the debtor's address;
    ``debtor``: the debtor key (empty: the case is its own debtor)."""

    case_id: str
    phone: str
    extra_zones: tuple[str, ...] = ()
    debtor: str = ""

    @property
    def debtor_key(self) -> str:
        """The debtor the caps count on (as ``PastAttempt.debtor_key``)."""
        return self.debtor or f"case:{self.case_id}"

    def region(self) -> Region | ZoneUnknown:
        """The callee's region (cached per number)."""
        return region_of(self.phone, tuple(sorted(self.extra_zones)))


def redial_gate(
    contact: Contact,
    region: Region,
    history: Sequence[PastAttempt],
    at: datetime,
    rules: ComplianceRules,
) -> Decision:
    """Denied while the redial rule of the phone's latest attempt holds it back at ``at``, or
    for good once the phone is stopped (invalid number, maximum streak reached).

    A call in progress to the number holds it whoever placed it; the redial rules follow this
    case's own attempts on the number (another debt's wrong party is not this one's)."""
    busy = [
        a for a in history if a.phone == contact.phone and a.disposition == Disposition.IN_PROGRESS
    ]
    if busy:
        last = max(busy, key=lambda a: a.at)
        retry = max(at, last.at + IN_PROGRESS_RETRY)
        return Denied("in_progress", "a call to this number is in progress", retry)
    on_phone = [a for a in history if a.phone == contact.phone and a.case_id == contact.case_id]
    if not on_phone:
        return Allowed()
    stopper = next((a for a in on_phone if rules.redial.rule_for(a.disposition).stop_phone), None)
    if stopper is not None:
        return Denied("phone_stopped", f"phone {mask(contact.phone)} ended {stopper.disposition}")
    last = max(on_phone, key=lambda a: a.at)
    rule = rules.redial.rule_for(last.disposition)
    if rule.max_streak is not None:
        n = streak(on_phone, contact.phone, last.disposition)
        if n >= rule.max_streak:
            return Denied("phone_stopped", f"{n} x {last.disposition} in a row on this phone")
    if rule.calling_hours_only:
        due = add_calling_hours(last.at, rule.delay, region, rules.window)
        if due is None:
            return Denied("redial", "no calling hours left within the horizon")
    else:
        due = last.at + rule.delay
    if at >= due:
        return Allowed()
    return Denied("redial", f"redial delay after {last.disposition}", due)


def inflight_gate(
    contact: Contact,
    region: Region,
    history: Sequence[PastAttempt],
    at: datetime,
    rules: ComplianceRules,
) -> Decision:
    """Denied (``in_progress``) while a call in flight on the contact's keys (another case of
    the debtor, say) could still become the conversation that puts a conversation rule in force
    (the quiet period, the caps on conversations): the law judges calls in the order they were
    placed, so the call in flight counts as a conversation until its outcome is known."""
    caps = rules.caps
    if caps.quiet_after_conversation is None and not any(
        (caps.connected_case_day, caps.connected_case_7d)
        + (caps.connected_debtor_day, caps.connected_debtor_7d)
    ):
        return Allowed()
    inflight = [a for a in history if a.disposition == Disposition.IN_PROGRESS]
    if not inflight:
        return Allowed()
    as_talks = [
        replace(a, connected=True) if a.disposition == Disposition.IN_PROGRESS else a
        for a in history
    ]  # (the calls in flight: O(n), not a list lookup per attempt)
    d = cap_check(contact.phone, contact.case_id, region, as_talks, at, caps, contact.debtor)
    if d or not d.code.startswith(("quiet.", "cap.connected_")):  # type: ignore[union-attr]
        return Allowed()
    last = max(a.at for a in inflight)
    reason = f"a call in flight could make it: {d.reason}"  # type: ignore[union-attr]
    return Denied("in_progress", reason, max(at, last + IN_PROGRESS_RETRY))


def _gates(
    contact: Contact,
    region: Region,
    history: Sequence[PastAttempt],
    at: datetime,
    rules: ComplianceRules,
) -> Decision:
    for check in (
        lambda: redial_gate(contact, region, history, at, rules),
        lambda: window_check(region, at, rules.window),
        lambda: cap_check(
            contact.phone, contact.case_id, region, history, at, rules.caps, contact.debtor
        ),
        lambda: inflight_gate(contact, region, history, at, rules),
    ):
        d = check()
        if not d:
            return d
    return Allowed()


def earliest_allowed(
    contact: Contact,
    region: Region,
    history: Sequence[PastAttempt],
    start: datetime,
    rules: ComplianceRules,
) -> datetime | None:
    """The first instant ≥ ``start`` when redial, window and caps all allow a call (assuming
    no new attempts meanwhile), or None when none is found."""
    t = start
    for _ in range(MAX_STEPS):
        d = _gates(contact, region, history, t, rules)
        if d:
            return t
        assert isinstance(d, Denied)
        if d.retry_at is None:
            return None
        t = max(d.retry_at, t + timedelta(microseconds=1))
    return None


def check_contact(
    contact: Contact,
    history: Sequence[PastAttempt],
    now: datetime,
    rules: ComplianceRules,
    dnc: DncList,
) -> Decision:
    """May ``contact`` be called at ``now``? Combines DNC, zone, redial, window and caps.

    ``history``: every attempt on the contact's keys: its case (all phones), its debtor (all
    cases) and its number (any case, any campaign), in-flight ones with disposition
    ``in_progress``. A Denied result's ``retry_at`` is the first instant at which
    the contact would pass every check if nothing else happened (None: never).
    """
    require_utc(now)
    hit = dnc.match(contact.phone)
    if hit is not None:
        where = f" ({hit.source})" if hit.source else ""
        return Denied("dnc", f"{mask(contact.phone)} is on a do-not-call list{where}")
    region = contact.region()
    if isinstance(region, ZoneUnknown):
        return Denied("zone_unknown", f"{region.number}: {region.reason}")
    d = _gates(contact, region, history, now, rules)
    if d:
        return d
    assert isinstance(d, Denied)
    if d.retry_at is None or d.code == "in_progress":
        return d  # an in-flight call's outcome decides the rest: check again then
    retry = earliest_allowed(contact, region, history, d.retry_at, rules)
    return Denied(d.code, d.reason, retry)


def next_attempt(
    finished: PastAttempt,
    history: Sequence[PastAttempt],
    now: datetime,
    rules: ComplianceRules,
    extra_zones: tuple[str, ...] = (),
    debtor: str = "",
) -> RedialDecision:
    """When to call the phone of ``finished`` again, from its disposition and the history.

    ``history`` may or may not contain ``finished`` (matched by phone and launch time). The
    returned ``next_at`` already respects the window, the caps and lock-outs; it is None when
    the phone is stopped, the case is closed, or no opening exists within the horizon.
    """
    require_utc(now)
    rule = rules.redial.rule_for(finished.disposition)
    if rule.close_case:
        return RedialDecision(
            None, False, f"{finished.disposition}: case closed for the dialer", close_case=True
        )
    if rule.stop_phone:
        return RedialDecision(None, True, f"{finished.disposition}: phone stopped", next_phone=True)
    # Other cases' calls in flight when the history was read only schedule here: the
    # lease-time check (and the database's one open attempt per number) decides.
    others = [
        a
        for a in history
        if not (a.phone == finished.phone and a.at == finished.at and a.case_id == finished.case_id)
        and (a.disposition != Disposition.IN_PROGRESS or a.case_id == finished.case_id)
    ]
    full = [*others, finished]
    contact = Contact(finished.case_id, finished.phone, extra_zones, debtor or finished.debtor)
    region = contact.region()
    if isinstance(region, ZoneUnknown):
        return RedialDecision(None, True, f"zone unknown: {region.reason}")
    gate = redial_gate(contact, region, full, now, rules)
    if not gate and gate.code == "phone_stopped":  # type: ignore[union-attr]
        return RedialDecision(None, True, gate.reason, next_phone=True)  # type: ignore[union-attr]
    at = earliest_allowed(contact, region, full, now, rules)
    reason = f"{finished.disposition}: redial after {rule.delay}"
    if at is None:
        return RedialDecision(None, False, f"{reason}; no allowed time found", rule.next_phone)
    return RedialDecision(at, False, reason, next_phone=rule.next_phone)
