"""SMS reminders, pure half: templates, when a reminder is due, and the retry backoff.

The HTTP webhook that sends, and the record of each send, live with the runner.
Template placeholders: ``{name}``, ``{amount}`` (minor units rendered as 123.45), ``{due_date}``,
``{link}``; ``{{`` and ``}}`` are literal braces.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from dialer_core.compliance.model import PastAttempt
from dialer_core.compliance.redial import streak
from dialer_core.config_errors import InputError

FIELDS = ("name", "amount", "due_date", "link")
_FORMATTER = string.Formatter()


class TemplateError(InputError):
    """A template is invalid; the message names the source, the line and the placeholder."""


@dataclass(frozen=True)
class SmsTemplate:
    """A checked template."""

    text: str
    source: str


def parse_template(text: str, source: str) -> SmsTemplate:
    """Check every placeholder is a known field without format spec; errors name source:line."""
    for lineno, line in enumerate(text.splitlines() or [""], start=1):
        try:
            parts = list(_FORMATTER.parse(line))
        except ValueError as exc:
            raise TemplateError(f"{source}: line {lineno}: {exc}") from None
        for _, field_name, spec, conv in parts:
            if field_name is None:
                continue
            if field_name not in FIELDS:
                raise TemplateError(
                    f"{source}: line {lineno}: unknown placeholder "
                    f"{{{field_name}}}; expected one of {', '.join(FIELDS)}"
                )
            if spec or conv:
                raise TemplateError(f"{source}: line {lineno}: {{{field_name}}} takes no format")
    if not text.strip():
        raise TemplateError(f"{source}: line 1: empty template")
    return SmsTemplate(text, source)


@dataclass(frozen=True)
class CaseFields:
    """Case data a reminder may show. ``amount`` in minor units (fen / cents)."""

    name: str
    amount: int
    due_date: date
    link: str


def render(template: SmsTemplate, case: CaseFields) -> str:
    """The message text for one case."""
    units, cents = divmod(abs(case.amount), 100)
    sign = "-" if case.amount < 0 else ""
    values = {
        "name": case.name,
        "amount": f"{sign}{units}.{cents:02d}",
        "due_date": case.due_date.isoformat(),
        "link": case.link,
    }
    return template.text.format_map(values)


@dataclass(frozen=True)
class SmsRules:
    """When reminders are due and how often they may go out."""

    after_no_answer_streak: int | None = 3
    after_promise: timedelta | None = timedelta(hours=1)
    days_before_due: int | None = 2
    per_case_day: int = 1
    per_case_7d: int = 3
    retry_delays: tuple[timedelta, ...] = (
        timedelta(seconds=30),
        timedelta(minutes=2),
        timedelta(minutes=10),
    )


@dataclass(frozen=True)
class SmsSent:
    """A reminder already sent (or accepted by the gateway) for a case."""

    at: datetime
    trigger: str


def sms_trigger(
    phone: str,
    history: Sequence[PastAttempt],
    sent: Sequence[SmsSent],
    due_date: date,
    today: date,
    now: datetime,
    rules: SmsRules,
) -> str | None:
    """The trigger that makes a reminder due now ("no_answer_streak", "promise",
    "before_due"), or None; each trigger fires once per occurrence and the caps hold. The
    calling window is checked separately with ``window_check``."""
    if sum(1 for s in sent if now - s.at < timedelta(days=1)) >= rules.per_case_day:
        return None
    if sum(1 for s in sent if now - s.at < timedelta(days=7)) >= rules.per_case_7d:
        return None
    last_sent = {s.trigger: s.at for s in sorted(sent, key=lambda s: s.at)}
    ordered = sorted(history, key=lambda a: a.at)
    promises = [a for a in ordered if a.disposition == "promise_to_pay"]
    if rules.after_promise is not None and promises:
        p = promises[-1]
        if now >= p.at + rules.after_promise and last_sent.get("promise", p.at) <= p.at:
            return "promise"
    n = rules.after_no_answer_streak
    if n is not None and streak(ordered, phone, "no_answer") >= n:
        start = [a for a in ordered if a.phone == phone][-n].at
        if last_sent.get("no_answer_streak", start) <= start:
            return "no_answer_streak"
    k = rules.days_before_due
    if k is not None and 0 <= (due_date - today).days <= k:
        before = last_sent.get("before_due")
        if before is None or before.date() < due_date - timedelta(days=k):
            return "before_due"  # once per due date
    return None


def retry_at(failures: int, last_try: datetime, rules: SmsRules) -> datetime | None:
    """When to retry a send that failed ``failures`` times (None: give up)."""
    if failures < 1 or failures > len(rules.retry_delays):
        return None
    return last_try + rules.retry_delays[failures - 1]
