"""Promise-to-pay follow-up rules. Pure functions: today and the payments are passed in.

A promise is kept once the payments made on its case since the promise reach the promised
amount. It is missed when its due date has passed (``today`` is after it, in the campaign's
zone) and it is not kept. A missed promise becomes a follow-up task: an SMS reminder for a
first miss with nothing paid, a call otherwise (a partial payment, or a debtor who has already
broken a promise), with a higher priority for repeat breakers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class PromiseFacts:
    """An open promise and what has been paid on its case since it was made."""

    promise_id: int
    case_id: int
    amount_minor: int
    due_date: date
    paid_minor: int
    missed_before: int  # promises of this case already missed


@dataclass(frozen=True)
class Settlement:
    """What becomes of one promise; ``followup`` is None unless it was missed."""

    promise_id: int
    case_id: int
    status: str  # "kept" | "missed"
    followup: str | None = None  # "sms" | "call"
    priority: int = 0
    note: str = ""


CALL_PRIORITY = 10
REPEAT_PRIORITY = 20


def settle(promise: PromiseFacts, today: date) -> Settlement | None:
    """Kept, missed (with a follow-up) or still open (None) as of ``today``."""
    if promise.paid_minor >= promise.amount_minor:
        return Settlement(promise.promise_id, promise.case_id, "kept")
    if today <= promise.due_date:
        return None
    short = promise.amount_minor - promise.paid_minor
    note = (
        f"promise of {promise.amount_minor} due {promise.due_date.isoformat()} missed: "
        f"paid {promise.paid_minor}, short {short}"
    )
    if promise.paid_minor == 0 and promise.missed_before == 0:
        return Settlement(promise.promise_id, promise.case_id, "missed", "sms", 0, note)
    priority = REPEAT_PRIORITY if promise.missed_before else CALL_PRIORITY
    return Settlement(promise.promise_id, promise.case_id, "missed", "call", priority, note)
