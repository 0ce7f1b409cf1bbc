"""Sans-IO mapping of FreeSWITCH channel events to the pbx.model call events.

One :class:`CallTracker` follows the calls we originated. It only looks at the leg whose
``Unique-ID`` equals our call id (= ``origination_uuid``): mod_loopback copies our ``{...}``
variables onto the ``-b`` leg too, so matching on ``variable_pacedial_call_id`` would count every
loopback call twice. A ``BACKGROUND_JOB`` of an ``originate`` is matched by its ``Job-UUID`` (we
send the call id) or, failing that, by ``origination_uuid=`` in ``Job-Command-Arg``.

Each tracked call yields at most one Ringing, one Answered and exactly one Hangup, whatever the
order of ``CHANNEL_HANGUP_COMPLETE`` and the ``-ERR <CAUSE>`` background-job result (the
captures show it before, between and after the two loopback hang-ups).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Set
from dataclasses import dataclass

from pbx.freeswitch.esl import EslEvent
from pbx.model import (
    Q850_BY_NAME,
    Answered,
    CallEvent,
    Hangup,
    Result,
    Ringing,
    result_for_unanswered,
)

# FreeSWITCH hangup-cause names missing from pbx.model.Q850_CAUSES, with the Q.850 code
# FreeSWITCH reports in variable_hangup_cause_q850 and the dialer result for an unanswered call.
# FreeSWITCH-only causes (numbers above 127 inside FreeSWITCH) are reported as Q.850 16
# (switch_channel_cause_q850); their result says what they mean for dialing.
FS_EXTRA_CAUSES: dict[str, tuple[int, Result]] = {
    "NONE": (0, Result.FAILED),
    "CHANNEL_UNACCEPTABLE": (6, Result.CONGESTION),
    "CALL_AWARDED_DELIVERED": (7, Result.NO_ANSWER),
    "REDIRECTION_TO_NEW_DESTINATION": (23, Result.INVALID_NUMBER),
    "EXCHANGE_ROUTING_ERROR": (25, Result.INVALID_NUMBER),
    "FACILITY_REJECTED": (29, Result.FAILED),
    "RESPONSE_TO_STATUS_ENQUIRY": (30, Result.NO_ANSWER),
    "ACCESS_INFO_DISCARDED": (43, Result.CONGESTION),
    "REQUESTED_CHAN_UNAVAIL": (44, Result.CONGESTION),
    "PRE_EMPTED": (45, Result.CONGESTION),
    "FACILITY_NOT_SUBSCRIBED": (50, Result.FAILED),
    "OUTGOING_CALL_BARRED": (52, Result.REJECTED),
    "INCOMING_CALL_BARRED": (54, Result.REJECTED),
    "BEARERCAPABILITY_NOTAUTH": (57, Result.FAILED),
    "BEARERCAPABILITY_NOTAVAIL": (58, Result.FAILED),
    "SERVICE_UNAVAILABLE": (63, Result.CONGESTION),
    "BEARERCAPABILITY_NOTIMPL": (65, Result.FAILED),
    "CHAN_NOT_IMPLEMENTED": (66, Result.FAILED),
    "FACILITY_NOT_IMPLEMENTED": (69, Result.FAILED),
    "SERVICE_NOT_IMPLEMENTED": (79, Result.FAILED),
    "INVALID_CALL_REFERENCE": (81, Result.FAILED),
    "INCOMPATIBLE_DESTINATION": (88, Result.INVALID_NUMBER),
    "INVALID_MSG_UNSPECIFIED": (95, Result.FAILED),
    "MANDATORY_IE_MISSING": (96, Result.FAILED),
    "MESSAGE_TYPE_NONEXIST": (97, Result.FAILED),
    "WRONG_MESSAGE": (98, Result.FAILED),
    "IE_NONEXIST": (99, Result.FAILED),
    "INVALID_IE_CONTENTS": (100, Result.FAILED),
    "WRONG_CALL_STATE": (101, Result.FAILED),
    "MANDATORY_IE_LENGTH_ERROR": (103, Result.FAILED),
    "PROTOCOL_ERROR": (111, Result.FAILED),
    # FreeSWITCH-only causes, reported as Q.850 16.
    "ORIGINATOR_CANCEL": (16, Result.NO_ANSWER),
    "ALLOTTED_TIMEOUT": (16, Result.NO_ANSWER),
    "PROGRESS_TIMEOUT": (16, Result.NO_ANSWER),
    "LOSE_RACE": (16, Result.NO_ANSWER),
    "MANAGER_REQUEST": (16, Result.NO_ANSWER),
    "NO_PICKUP": (16, Result.NO_ANSWER),
    "MEDIA_TIMEOUT": (16, Result.FAILED),
    "USER_NOT_REGISTERED": (16, Result.POWERED_OFF),
    "BUSY_EVERYWHERE": (16, Result.BUSY),
    "DECLINE": (16, Result.REJECTED),
    "REJECT_ALL": (16, Result.REJECTED),
    "DOES_NOT_EXIST_ANYWHERE": (16, Result.INVALID_NUMBER),
    "INVALID_GATEWAY": (16, Result.FAILED),
    "GATEWAY_DOWN": (16, Result.FAILED),
    "INVALID_URL": (16, Result.FAILED),
    "INVALID_PROFILE": (16, Result.FAILED),
    "SYSTEM_SHUTDOWN": (16, Result.FAILED),
    "CRASH": (16, Result.FAILED),
}

_ORIGINATION_UUID = re.compile(r"origination_uuid=([0-9A-Za-z-]+)")
_FINISHED_MEMORY = 10_000  # call ids remembered after their Hangup, to absorb late events


@dataclass(frozen=True)
class CauseInfo:
    """A FreeSWITCH hangup-cause name resolved to its Q.850 code and unanswered result."""

    name: str
    code: int
    result: Result


def resolve_cause(name: str, q850: str | None = None) -> CauseInfo:
    """Map a FreeSWITCH cause name (``USER_BUSY``) to Q.850; ``q850`` is the fallback number."""
    name = name.strip().upper()
    if name in Q850_BY_NAME:
        code = Q850_BY_NAME[name]
        return CauseInfo(name, code, result_for_unanswered(code))
    if name in FS_EXTRA_CAUSES:
        code, result = FS_EXTRA_CAUSES[name]
        return CauseInfo(name, code, result)
    if q850 is not None and _is_small_number(q850):
        code = int(q850)
        return CauseInfo(name, code, result_for_unanswered(code))
    return CauseInfo(name or "UNKNOWN", 0, Result.FAILED)


def is_cause_name(text: str) -> bool:
    """True for a known FreeSWITCH hangup-cause name."""
    return text in Q850_BY_NAME or text in FS_EXTRA_CAUSES


@dataclass
class _Call:
    ringing: bool = False
    answered: bool = False


class CallTracker:
    """Turns ESL events into Ringing / Answered / Hangup for the call ids we track."""

    def __init__(self) -> None:
        self._live: dict[str, _Call] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()

    def track(self, call_id: str) -> None:
        """Start following ``call_id`` (call before sending the originate)."""
        if call_id not in self._finished:
            self._live.setdefault(call_id, _Call())

    def forget(self, call_id: str) -> None:
        """Stop following a call whose originate never reached FreeSWITCH (no Hangup)."""
        self._live.pop(call_id, None)

    def in_flight(self) -> frozenset[str]:
        """Call ids tracked and not yet hung up."""
        return frozenset(self._live)

    def tracks(self, call_id: str) -> bool:
        """Whether ``call_id`` is one of our calls still in flight."""
        return call_id in self._live

    def is_answered(self, call_id: str) -> bool:
        call = self._live.get(call_id)
        return bool(call and call.answered)

    def on_event(self, event: EslEvent) -> list[CallEvent]:
        """The call-model events this ESL event implies (often none)."""
        name = event.name
        if name == "BACKGROUND_JOB":
            return self._on_job(event)
        call_id = event.unique_id
        if call_id is None or call_id not in self._live:
            return []
        call = self._live[call_id]
        if name in ("CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA"):
            if call.ringing or call.answered:
                return []
            call.ringing = True
            return [Ringing(call_id)]
        if name == "CHANNEL_ANSWER":
            return self._answer(call_id, call, event.get("Channel-Name", "") or "")
        if name == "CHANNEL_HANGUP_COMPLETE":
            return [self._hangup_from_event(call_id, call, event)]
        return []

    def fail(self, call_id: str, cause: str) -> list[CallEvent]:
        """End a call whose originate was refused or lost (reconciliation): one Hangup."""
        call = self._live.get(call_id)
        if call is None:
            return []
        info = resolve_cause(cause)
        return [self._finish(call_id, call, info, 0.0)]

    def reconcile(self, live_uuids: Set[str], candidates: Set[str]) -> list[CallEvent]:
        """Hang up every candidate call whose channel no longer exists (after a reconnect).

        ``candidates`` are the calls in flight when the snapshot was requested: a call placed
        after that may not have its channel yet.

        The events of a call that ended while the link was down are lost, so its cause is
        unknown: it ends with cause 0 (``NONE``), ANSWERED if we had seen the answer, else
        FAILED (as the Asterisk driver does).
        """
        out: list[CallEvent] = []
        for call_id in sorted((self._live.keys() & candidates) - live_uuids):
            call = self._live[call_id]
            out.append(self._finish(call_id, call, resolve_cause("NONE"), 0.0))
        return out

    # --- internals -------------------------------------------------------------------------

    def _on_job(self, event: EslEvent) -> list[CallEvent]:
        if (event.get("Job-Command") or "") != "originate":
            return []
        call_id = event.get("Job-UUID") or ""
        if call_id not in self._live:
            match = _ORIGINATION_UUID.search(event.get("Job-Command-Arg") or "")
            call_id = match.group(1) if match else ""
        call = self._live.get(call_id)
        if call is None:
            return []
        body = event.body.strip()
        if body.startswith("+OK"):
            return self._answer(call_id, call, "")
        # "-ERR USER_BUSY"; anything else ("-ERR Invalid Arguments") ends the call as FAILED.
        text = body[4:].strip() if body.startswith("-ERR") else body
        info = resolve_cause(text) if is_cause_name(text) else CauseInfo(text, 0, Result.FAILED)
        return [self._finish(call_id, call, info, 0.0)]

    def _answer(self, call_id: str, call: _Call, channel: str) -> list[CallEvent]:
        if call.answered:
            return []
        call.answered = True
        return [Answered(call_id, channel=channel)]

    def _hangup_from_event(self, call_id: str, call: _Call, event: EslEvent) -> CallEvent:
        info = resolve_cause(
            event.get("Hangup-Cause") or event.get("variable_hangup_cause") or "",
            event.get("variable_hangup_cause_q850"),
        )
        answered = call.answered or _answered_in(event)
        call.answered = answered
        return self._finish(call_id, call, info, _talk_seconds(event) if answered else 0.0)

    def _finish(self, call_id: str, call: _Call, info: CauseInfo, talk: float) -> Hangup:
        del self._live[call_id]
        self._finished[call_id] = None
        while len(self._finished) > _FINISHED_MEMORY:
            self._finished.popitem(last=False)
        return Hangup(
            call_id,
            cause=info.code,
            cause_text=info.name,
            answered=call.answered,
            result=Result.ANSWERED if call.answered else info.result,
            talk_seconds=talk,
        )


def _answered_in(event: EslEvent) -> bool:
    if event.get("variable_endpoint_disposition") == "ANSWER":
        return True
    answered_at = event.get("Caller-Channel-Answered-Time") or "0"
    return answered_at not in ("", "0")


def _talk_seconds(event: EslEvent) -> float:
    msec = event.get("variable_billmsec") or ""
    if _is_small_number(msec):
        return int(msec) / 1000.0
    sec = event.get("variable_billsec") or ""
    return float(sec) if _is_small_number(sec) else 0.0


def _is_small_number(text: str) -> bool:
    """ASCII digits only, at most 15 of them: what a peer's count or cause can sensibly be."""
    return 0 < len(text) <= 15 and text.isascii() and text.isdigit()
