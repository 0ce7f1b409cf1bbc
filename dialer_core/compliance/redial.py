"""Redial rules per disposition: delay, maximum streak, stop or move to the case's next phone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dialer_core.compliance.model import Disposition, PastAttempt


@dataclass(frozen=True)
class RedialRule:
    """What to do after an attempt ended with one disposition.

    ``delay``: wait before the next call to the same phone; ``calling_hours_only``: the delay
    counts only time inside the calling window; ``max_streak``: after this many consecutive
    attempts on the phone ending this way, stop the phone (None: no limit); ``next_phone``: the
    case's next phone may be tried without waiting; ``stop_phone``: never call this phone again
    (invalid number); ``close_case``: no further call on the case from the dialer (done, promise
    to pay: the case workflow decides the follow-up).
    """

    delay: timedelta = timedelta(hours=1)
    calling_hours_only: bool = False
    max_streak: int | None = None
    next_phone: bool = False
    stop_phone: bool = False
    close_case: bool = False


@dataclass(frozen=True)
class RedialRules:
    """Rules keyed by disposition; ``default`` applies to any disposition not listed."""

    rules: Mapping[str, RedialRule] = field(default_factory=dict)
    default: RedialRule = field(default_factory=RedialRule)

    def rule_for(self, disposition: str) -> RedialRule:
        """The rule for a disposition."""
        return self.rules.get(disposition, self.default)


@dataclass(frozen=True)
class RedialDecision:
    """When to call this phone again (None: not by the dialer) and what else to do."""

    next_at: datetime | None
    stop_phone: bool
    reason: str
    next_phone: bool = False
    close_case: bool = False


def streak(history: Sequence[PastAttempt], phone: str, disposition: str) -> int:
    """How many of the latest attempts on ``phone`` in a row ended with ``disposition``."""
    n = 0
    for a in sorted((a for a in history if a.phone == phone), key=lambda a: a.at, reverse=True):
        if a.disposition != disposition:
            break
        n += 1
    return n


# Defaults from REFERENCE.md "Call results" (Q.850 cause → action), made configurable.
DEFAULT_REDIAL: dict[str, RedialRule] = {
    Disposition.BUSY: RedialRule(timedelta(minutes=10), max_streak=5),
    Disposition.NO_ANSWER: RedialRule(timedelta(hours=2), True, max_streak=6),
    Disposition.CONGESTION: RedialRule(timedelta(minutes=2), max_streak=5),
    Disposition.FAILED: RedialRule(timedelta(minutes=5), max_streak=3),
    Disposition.POWERED_OFF: RedialRule(timedelta(hours=2), True, max_streak=6, next_phone=True),
    Disposition.INVALID_NUMBER: RedialRule(timedelta(0), stop_phone=True, next_phone=True),
    Disposition.REJECTED: RedialRule(timedelta(hours=4), True, max_streak=3, next_phone=True),
    Disposition.MACHINE: RedialRule(timedelta(hours=4), True, max_streak=4, next_phone=True),
    Disposition.ABANDONED: RedialRule(timedelta(hours=72)),
    Disposition.REFUSED: RedialRule(timedelta(days=1), max_streak=3),
    Disposition.ANSWERED: RedialRule(timedelta(days=1)),
    Disposition.PROMISE_TO_PAY: RedialRule(timedelta(0), close_case=True),
    Disposition.DONE: RedialRule(timedelta(0), close_case=True),
    # The agent records any follow-up (callback, visit) through the case workflow.
    Disposition.AGENT_TALKED: RedialRule(timedelta(0), close_case=True),
    Disposition.WRONG_PARTY: RedialRule(timedelta(0), stop_phone=True, next_phone=True),
    Disposition.THIRD_PARTY: RedialRule(timedelta(days=1), True, max_streak=2, next_phone=True),
    Disposition.NO_INPUT: RedialRule(timedelta(hours=4), True, max_streak=3),
    Disposition.HUNG_UP: RedialRule(timedelta(days=1), True, max_streak=3),
    Disposition.LOST: RedialRule(timedelta(minutes=5), max_streak=3),
}
