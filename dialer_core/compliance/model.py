"""Shared vocabulary of the compliance rules: dispositions, past attempts and decisions."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class Disposition(enum.StrEnum):
    """How one attempt ended, as the rules care about it.

    The first nine values are exactly ``pbx.model.Result``; the rest are set after answer by the
    robot, the agent or the queue.
    """

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    INVALID_NUMBER = "invalid_number"
    POWERED_OFF = "powered_off"
    REJECTED = "rejected"
    CONGESTION = "congestion"
    MACHINE = "machine"
    FAILED = "failed"
    ABANDONED = "abandoned"
    REFUSED = "refused"
    PROMISE_TO_PAY = "promise_to_pay"
    DONE = "done"
    AGENT_TALKED = "agent_talked"  # a human agent had the conversation
    WRONG_PARTY = "wrong_party"  # the number is not the debtor's
    THIRD_PARTY = "third_party"  # someone who knows the debtor answered
    NO_INPUT = "no_input"  # the robot got no keypress after its retries
    HUNG_UP = "hung_up"  # the callee hung up during the robot dialog
    LOST = "lost"  # the end of the call was never reported (link or process lost)
    IN_PROGRESS = "in_progress"  # leased / dialing, outcome not known yet: always counted


@dataclass(frozen=True)
class PastAttempt:
    """One attempt already made (or in flight) to a phone of a case.

    ``at`` is the UTC instant the call was launched; ``connected`` means a conversation with a
    live person took place; ``abandoned`` means a live answer got no agent in time; ``machine``
    means AMD judged the answer to be a machine. ``phone`` (E.164) is the number key, ``case_id``
    the debt key and ``debtor`` the debtor key (empty: the case is its own debtor). ``ended``
    is the UTC instant the call ended, when known: an abandoned call's lock-out runs from then
    (the person was abandoned at the answer, after the launch).
    """

    at: datetime
    phone: str
    case_id: str
    disposition: str
    connected: bool = False
    abandoned: bool = False
    machine: bool = False
    debtor: str = ""
    ended: datetime | None = None

    @property
    def debtor_key(self) -> str:
        """The debtor this attempt counts for (the case itself when no debtor is known)."""
        return self.debtor or f"case:{self.case_id}"


@dataclass(frozen=True)
class Allowed:
    """The call may be placed now."""

    allowed: bool = True

    def __bool__(self) -> bool:
        return True


@dataclass(frozen=True)
class Denied:
    """The call may not be placed now.

    ``code`` is machine readable (``dnc``, ``zone_unknown``, ``window``, ``cap.phone_day`` ...),
    ``reason`` is for people (phone numbers masked), ``retry_at`` is the earliest UTC instant
    worth checking again, or None when the denial is permanent.
    """

    code: str
    reason: str
    retry_at: datetime | None = None
    allowed: bool = False

    def __bool__(self) -> bool:
        return False

    @property
    def next_open_utc(self) -> datetime | None:
        """Alias of ``retry_at`` for window denials."""
        return self.retry_at


Decision = Allowed | Denied


def mask(number: str) -> str:
    """A phone number with all but its last 4 digits hidden, for logs and reasons."""
    digits = sum(ch.isdigit() for ch in number)
    if digits <= 4:
        return "*" * len(number)
    keep = 4
    out = []
    for ch in reversed(number):
        if ch.isdigit() and keep > 0:
            out.append(ch)
            keep -= 1
        elif ch.isdigit():
            out.append("*")
        else:
            out.append(ch)
    return "".join(reversed(out))


def require_utc(now: datetime, name: str = "now") -> None:
    """Raise ValueError unless ``now`` is timezone aware."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {now!r}")
