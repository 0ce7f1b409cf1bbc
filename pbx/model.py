"""The PBX-neutral call model: what everything above ``pbx/`` speaks.

A driver (Asterisk AMI, FreeSWITCH ESL, or the simulated PBX through either) turns the PBX's own
events into these, keyed by our call id (one UUID per attempt, created before the originate).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

# Where the shipped dialplans' fallback (pacedial unreachable: drop message played) records the
# call id for pacedial's next start: AstDB family on Asterisk, mod_db realm on FreeSWITCH.
DROPPED_REALM = "pacedial_dropped"


@dataclass(frozen=True)
class CallRequest:
    """One outbound call to place. ``call_id`` is also the PBX-side channel id / ActionID."""

    call_id: str
    destination: str  # E.164, e.g. "+8613800138000"
    caller_id: str  # E.164 or local presentation number
    ring_timeout: float = 30.0  # seconds
    campaign: str = ""
    variables: dict[str, str] = field(default_factory=dict)


class Result(enum.StrEnum):
    """What became of a call, as the dialer cares about it (the disposition input)."""

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    INVALID_NUMBER = "invalid_number"
    POWERED_OFF = "powered_off"
    REJECTED = "rejected"
    CONGESTION = "congestion"
    MACHINE = "machine"
    FAILED = "failed"  # the PBX could not place the call at all (bad context, link lost)


@dataclass(frozen=True)
class Q850:
    code: int
    name: str
    result: Result


# Q.850 cause → FreeSWITCH-style name and the dialer result it implies for an unanswered call.
# Source: ITU-T Q.850 and ../shared/REFERENCE.md ("Call results").
Q850_CAUSES: dict[int, Q850] = {
    c.code: c
    for c in (
        Q850(1, "UNALLOCATED_NUMBER", Result.INVALID_NUMBER),
        Q850(2, "NO_ROUTE_TRANSIT_NET", Result.INVALID_NUMBER),
        Q850(3, "NO_ROUTE_DESTINATION", Result.INVALID_NUMBER),
        Q850(16, "NORMAL_CLEARING", Result.NO_ANSWER),
        Q850(17, "USER_BUSY", Result.BUSY),
        Q850(18, "NO_USER_RESPONSE", Result.POWERED_OFF),
        Q850(19, "NO_ANSWER", Result.NO_ANSWER),
        Q850(20, "SUBSCRIBER_ABSENT", Result.POWERED_OFF),
        Q850(21, "CALL_REJECTED", Result.REJECTED),
        Q850(22, "NUMBER_CHANGED", Result.INVALID_NUMBER),
        Q850(27, "DESTINATION_OUT_OF_ORDER", Result.POWERED_OFF),
        Q850(28, "INVALID_NUMBER_FORMAT", Result.INVALID_NUMBER),
        Q850(31, "NORMAL_UNSPECIFIED", Result.NO_ANSWER),
        Q850(34, "NORMAL_CIRCUIT_CONGESTION", Result.CONGESTION),
        Q850(38, "NETWORK_OUT_OF_ORDER", Result.CONGESTION),
        Q850(41, "NORMAL_TEMPORARY_FAILURE", Result.CONGESTION),
        Q850(42, "SWITCH_CONGESTION", Result.CONGESTION),
        Q850(47, "RESOURCE_UNAVAILABLE", Result.CONGESTION),
        Q850(102, "RECOVERY_ON_TIMER_EXPIRE", Result.NO_ANSWER),
        Q850(127, "INTERWORKING", Result.NO_ANSWER),
    )
}
Q850_BY_NAME: dict[str, int] = {c.name: c.code for c in Q850_CAUSES.values()}


def result_for_unanswered(cause: int) -> Result:
    """The result of a call that ended before answer with this Q.850 cause."""
    known = Q850_CAUSES.get(cause)
    return known.result if known else Result.FAILED


def cause_name(cause: int) -> str:
    known = Q850_CAUSES.get(cause)
    return known.name if known else f"CAUSE_{cause}"


# --- call events: all carry our call id and the PBX time they were observed at -------------


@dataclass(frozen=True)
class CallEvent:
    call_id: str


@dataclass(frozen=True)
class Ringing(CallEvent):
    """The callee's phone is ringing (180 / AMI Newstate Ringing / CHANNEL_PROGRESS)."""


@dataclass(frozen=True)
class Answered(CallEvent):
    """The callee answered; the answered leg now runs our answered-call handler."""

    channel: str = ""


@dataclass(frozen=True)
class Hangup(CallEvent):
    """The call is over. ``answered`` says whether it was ever answered."""

    cause: int
    cause_text: str
    answered: bool
    result: Result
    talk_seconds: float = 0.0


@dataclass(frozen=True)
class OriginateFailed(CallEvent):
    """The PBX refused the originate synchronously (bad context, link down). No channel exists."""

    reason: str


@dataclass(frozen=True)
class AgentState:
    """A queue member's state as the PBX reports it."""

    agent: str  # interface, e.g. "Local/8001@agents" or "PJSIP/8001"
    queue: str
    state: str  # "logged_out" | "idle" | "talking" | "wrapup" | "paused" | "ringing"


@dataclass(frozen=True)
class AgentEvent:
    """An agent's state changed."""

    state: AgentState


@dataclass(frozen=True)
class AgentConnected(CallEvent):
    """An agent picked up this answered call (AMI AgentConnect / mod_callcenter bridge)."""

    agent: str
    wait: float  # seconds the caller waited in the queue


class PbxActionRefused(Exception):
    """The PBX refused (or could not take) an agent or supervisor action; says which and why."""
