"""Pure mapping of AMI events to ``pbx.model`` events for the calls we originated.

``AmiCallTracker`` is sans-IO: feed it AMI events, get call-model events back. It follows each
call across its channels (a Local channel has two, ``;1`` and ``;2``) and emits exactly one
``Hangup`` per call, whatever the order of OriginateResponse and the legs' Hangup events. It
also maps app_queue events to agent states and to ``AgentConnected`` for our calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from pbx.asterisk.ami import AmiMessage
from pbx.asterisk.wrapup import MemberAvailability
from pbx.model import (
    AgentConnected,
    AgentEvent,
    AgentState,
    Answered,
    CallEvent,
    Hangup,
    Result,
    Ringing,
    cause_name,
    result_for_unanswered,
)

__all__ = ["AmiCallTracker", "REASON_CAUSE", "UNREAD_EVENTS", "agent_state_from_member"]

# OriginateResponse Reason (an Asterisk control frame, not a cause) → the Q.850 cause it implies,
# used only when no leg reported a real cause (Cause 0 / missing).
REASON_CAUSE: dict[int, int] = {
    1: 16,  # AST_CONTROL_HANGUP: the far end hung up before answer
    3: 19,  # rang until the Originate Timeout
    4: 16,  # answered; the call later ended normally
    5: 17,  # busy
    8: 34,  # congestion
}
_ANSWERED_REASON = 4

# Queue member Status = Asterisk device state (AST_DEVICE_*).
_DEVICE_STATE = {
    "0": "idle",  # UNKNOWN: app_queue treats it as available
    "1": "idle",  # NOT_INUSE
    "2": "talking",  # INUSE
    "3": "talking",  # BUSY
    "4": "logged_out",  # INVALID
    "5": "logged_out",  # UNAVAILABLE
    "6": "ringing",  # RINGING
    "7": "talking",  # RINGINUSE
    "8": "talking",  # ONHOLD
}
# The channel events the tracker reads (Newexten, AGIExec*, DeviceStateChange... are skipped
# before their headers are split: they are most of the traffic and say nothing we need).
_CHANNEL_EVENTS = frozenset(
    {"Newchannel", "Newstate", "Hangup", "VarSet", "DialBegin", "LocalBridge", "Rename"}
)
# Frequent events the tracker never reads (``handle`` returns [] for them, its state unchanged):
# the driver's client drops them unread, before a message is even built.
UNREAD_EVENTS = frozenset(
    {
        "Newexten",
        "AGIExecStart",
        "AGIExecEnd",
        "DeviceStateChange",
        "NewConnectedLine",
        "NewCallerid",
        "NewAccountCode",
        "SoftHangupRequest",
        "HangupRequest",
        "DialState",
        "DialEnd",
        "SuccessfulAuth",
        "BridgeCreate",
        "BridgeEnter",
        "BridgeLeave",
        "BridgeDestroy",
        "DTMFBegin",
        "DTMFEnd",
        "RTCPSent",
        "RTCPReceived",
        "MusicOnHoldStart",
        "MusicOnHoldStop",
    }
)
_MEMBER_EVENTS = {"QueueMember", "QueueMemberStatus", "QueueMemberAdded", "QueueMemberPause"}
_AGENT_EVENTS = {
    "AgentCalled": "ringing",
    "AgentConnect": "talking",
    "AgentRingNoAnswer": "idle",
    "AgentDump": "idle",
}


def _agent_interface(msg: AmiMessage) -> str:
    return msg.get("Interface") or msg.get("Location") or msg.get("StateInterface") or ""


def agent_state_from_member(msg: AmiMessage) -> AgentState:
    """Map a QueueMember / QueueMemberStatus / QueueMemberPause event to an AgentState.

    A member paused during a call is still talking (app_queue keeps the call up); its pause
    shows once the call ends.
    """
    if msg.get("Paused") == "1" and msg.get("InCall") != "1":
        # A pause whose reason is "wrapup" is an after-call pause (how the simulated PBX, and
        # agent desktops that pause members after a call, report wrap-up).
        state = "wrapup" if (msg.get("PausedReason") or "").lower() == "wrapup" else "paused"
    else:
        state = _DEVICE_STATE.get(msg.get("Status") or "0", "idle")
        if msg.get("InCall") == "1" and state in ("idle", "ringing"):
            state = "talking"
    return AgentState(agent=_agent_interface(msg), queue=msg.get("Queue") or "", state=state)


def _int(value: str | None, default: int = 0) -> int:
    if value is None or len(value) > 20:  # a cause or a reason is a few digits
        return default
    try:
        return int(value)
    except ValueError:
        return default


def _seconds(value: str | None) -> float:
    try:
        seconds = float(value) if value is not None and len(value) <= 32 else 0.0
    except ValueError:
        return 0.0
    return seconds if 0.0 < seconds < 1e9 else 0.0


def _local_partner(name: str) -> str | None:
    """``Local/x@ctx-0000000c;1`` ↔ ``...;2``; None for other channel technologies."""
    if name.startswith("Local/") and name[-2:] in (";1", ";2"):
        return name[:-1] + ("2" if name[-1] == "1" else "1")
    return None


@dataclass
class _Call:
    call_id: str
    action_id: str | None
    dial: str
    tag: str
    presets: tuple[str, ...]  # ChannelId / OtherChannelId sent with the Originate
    legs: dict[str, str] = field(default_factory=dict)  # Uniqueid -> channel name
    gone: dict[str, int] = field(default_factory=dict)  # Uniqueid -> Hangup Cause
    reason: int | None = None  # OriginateResponse Reason
    outcome_known: bool = False  # OriginateResponse seen (or state re-read after a reconnect)
    ringing: bool = False
    answered_at: float | None = None


class AmiCallTracker:
    """Pure mapping of AMI events to call-model events for the calls we originated.

    A call is linked to its channels by, in order of preference: the preset ``ChannelId`` /
    ``OtherChannelId`` Uniqueids, the call-id channel variable (``VarSet``), the originate's
    ``DialBegin`` (dial string), ``LocalBridge`` / Local ``;1``↔``;2`` names, and the
    OriginateResponse Uniqueid. The Hangup is emitted once the OriginateResponse arrived and
    every known leg has hung up. ``clock`` (epoch seconds) is read on event arrival to measure
    talk time and to time members' wrap-up (``availability``, see ``pbx.asterisk.wrapup``).
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        call_id_variable: str = "PACEDIAL_CALL_ID",
        availability: MemberAvailability | None = None,
    ) -> None:
        self._clock = clock
        self.availability = availability or MemberAvailability()
        self._var = call_id_variable
        self._calls: dict[str, _Call] = {}
        self._by_uid: dict[str, str] = {}  # linked Uniqueid -> call id
        self._preset: dict[str, str] = {}  # ChannelId/OtherChannelId not yet seen -> call id
        self._by_action: dict[str, str] = {}
        self._by_tag: dict[str, str] = {}  # value of the call-id variable -> call id
        self._channels: dict[str, str] = {}  # every live channel: Uniqueid -> name
        self._uid_by_name: dict[str, str] = {}
        self._unlinked: dict[str, dict[str, None]] = {}  # dial string -> calls with no leg yet

    # --- registration --------------------------------------------------------------------

    def expect(
        self,
        call_id: str,
        *,
        action_id: str | None = None,
        dial: str = "",
        channel_ids: Iterable[str] = (),
        tag: str | None = None,
    ) -> None:
        """Start tracking a call before its Originate is sent.

        ``dial`` is the Originate ``Channel`` (dial string), ``channel_ids`` the ChannelId /
        OtherChannelId sent, ``tag`` the value of the call-id variable (default: the call id).
        """
        if call_id in self._calls:
            raise ValueError(f"call {call_id} is already tracked")
        presets = tuple(channel_ids)
        key = call_id if tag is None else tag
        self._calls[call_id] = _Call(call_id, action_id, dial, key, presets)
        if action_id:
            self._by_action[action_id] = call_id
        for uid in presets:
            self._preset[uid] = call_id
        self._by_tag[key] = call_id
        self._unlinked.setdefault(dial, {})[call_id] = None

    def forget(self, call_id: str) -> None:
        """Stop tracking a call (ended, or its Originate was refused): O(its own keys)."""
        call = self._calls.pop(call_id, None)
        if call is None:
            return
        # Delete by the keys this call registered, never by scanning the tables: a finished
        # call costs the same with 10 calls or 10,000 in flight.
        keyed = (
            (self._by_uid, call.legs),
            (self._preset, call.presets),
            (self._by_action, (call.action_id,) if call.action_id else ()),
            (self._by_tag, (call.tag,)),
        )
        for table, keys in keyed:
            for key in keys:
                if table.get(key) == call_id:
                    del table[key]
        self._unlist(call)

    def call_ids(self) -> set[str]:
        """Calls still in progress."""
        return set(self._calls)

    def call_id_for(self, uniqueid: str) -> str | None:
        """Our call id for a channel Uniqueid, if the channel belongs to a tracked call."""
        return self._by_uid.get(uniqueid) or self._preset.get(uniqueid)

    def channel_of(self, call_id: str) -> str | None:
        """Name of the first live channel of a call (the ``;1`` leg for Local), if known."""
        call = self._calls.get(call_id)
        if call is None:
            return None
        for uid, name in call.legs.items():
            if uid not in call.gone and name:
                return name
        return None

    # --- event mapping -------------------------------------------------------------------

    def handle(self, msg: AmiMessage) -> list[CallEvent | AgentEvent]:
        """Map one AMI event to zero or more call-model events.

        ``AgentConnect`` gives the agent's ``AgentEvent`` and, when its caller channel belongs
        to one of our calls, ``AgentConnected(call_id, agent=Interface or MemberName,
        wait=HoldTime seconds)``.
        """
        event = msg.event
        if event is None:
            return []
        if event in _MEMBER_EVENTS:
            return [AgentEvent(self.member_state(msg))]
        if event == "QueueMemberRemoved":
            state = AgentState(_agent_interface(msg), msg.get("Queue") or "", "logged_out")
            self.availability.forget(state.queue, state.agent)
            return [AgentEvent(state)]
        if event == "AgentComplete":
            queue = msg.get("Queue") or ""
            ended = self.availability.call_ended(queue, _agent_interface(msg), self._clock())
            return [AgentEvent(ended)]
        if event in _AGENT_EVENTS:
            agent = AgentState(_agent_interface(msg), msg.get("Queue") or "", _AGENT_EVENTS[event])
            if event == "AgentConnect":
                return [AgentEvent(agent), *self._agent_connected(msg)]
            return [AgentEvent(agent)]
        if event == "OriginateResponse":
            return self._originate_response(msg)
        if event not in _CHANNEL_EVENTS:
            return []
        uid = msg.get("Uniqueid")
        name = msg.get("Channel")
        if uid and name and event != "Hangup":
            self._note_channel(uid, name if event != "Rename" else msg.get("Newname") or name)
        if event == "VarSet":
            if msg.get("Variable") == self._var and uid:
                call_id = self._by_tag.get(msg.get("Value") or "")
                if call_id is not None:
                    self._link(self._calls[call_id], uid)
        elif event == "DialBegin" and uid is None:
            self._link_dial_begin(msg)
        elif event == "LocalBridge":
            self._link_pair(msg.get("LocalOneUniqueid"), msg.get("LocalTwoUniqueid"))
        if not uid:
            return []
        call_id = self._by_uid.get(uid)
        if call_id is None and uid in self._preset:
            call_id = self._preset[uid]
            self._link(self._calls[call_id], uid, name or "")
        elif call_id is None and event == "Newchannel" and name:
            partner = _local_partner(name)
            partner_uid = self._uid_by_name.get(partner) if partner else None
            if partner_uid in self._by_uid:
                call_id = self._by_uid[partner_uid]
                self._link(self._calls[call_id], uid, name)
        if call_id is None:
            if event == "Hangup":
                self._forget_channel(uid)
            return []
        call = self._calls[call_id]
        if event == "Newstate" and msg.get("ChannelStateDesc") == "Ringing" and not call.ringing:
            call.ringing = True
            return [Ringing(call_id)]
        if event == "Hangup":
            self._forget_channel(uid)
            call.gone[uid] = _int(msg.get("Cause"))
            return self._maybe_finish(call)
        return []

    def member_state(self, msg: AmiMessage) -> AgentState:
        """A member event's state as app_queue sees it now (wrap-up included)."""
        return self.availability.state(agent_state_from_member(msg), msg, self._clock())

    def wrapups_ended(self) -> list[AgentEvent]:
        """Members whose wrap-up is over now (app_queue sends nothing when it ends)."""
        return [AgentEvent(s) for s in self.availability.due(self._clock())]

    def reconcile(self, live: Mapping[str, str], call_ids: Iterable[str]) -> list[CallEvent]:
        """Re-sync after a reconnect, from CoreShowChannels (Uniqueid → ChannelStateDesc).

        Only ``call_ids`` (calls tracked before the snapshot was requested) are examined.
        Calls without a live channel end now (cause 0, answered if we had seen the answer);
        calls whose OriginateResponse was lost stop waiting for it, and a leg found ``Up``
        counts as the answer.
        """
        out: list[CallEvent] = []
        wanted = set(call_ids)
        for call in [c for c in self._calls.values() if c.call_id in wanted]:  # originate order
            call_id = call.call_id
            live_uids = [u for u in [*call.legs, call_id, f"{call_id}-2"] if u in live]
            for uid in live_uids:
                if uid not in call.legs:
                    self._link(call, uid, self._channels.get(uid, ""))
            for uid in list(call.legs):
                if uid not in live and uid not in call.gone:
                    call.gone[uid] = 0
                    self._forget_channel(uid)
            if call.answered_at is None and any(live[u] == "Up" for u in live_uids):
                call.answered_at = self._clock()
                out.append(Answered(call_id, call.legs.get(live_uids[0], "")))
            call.outcome_known = True
            out.extend(self._maybe_finish(call))
        return out

    # --- internals -----------------------------------------------------------------------

    def _agent_connected(self, msg: AmiMessage) -> list[CallEvent]:
        # The caller channel of AgentConnect is our answered leg: its Uniqueid (or Linkedid,
        # which Asterisk sets to the Uniqueid of the call's first channel) names our call.
        for uid in (msg.get("Uniqueid"), msg.get("Linkedid")):
            if not uid:
                continue
            call_id = uid if uid in self._calls else self.call_id_for(uid)
            if call_id is not None:
                agent = msg.get("Interface") or msg.get("MemberName") or ""
                return [AgentConnected(call_id, agent, _seconds(msg.get("HoldTime")))]
        return []

    def _originate_response(self, msg: AmiMessage) -> list[CallEvent]:
        call_id = self._by_action.get(msg.action_id or "")
        call = self._calls.get(call_id) if call_id else None
        if call is None or call.outcome_known:
            return []
        call.reason = _int(msg.get("Reason"), -1)
        call.outcome_known = True
        out: list[CallEvent] = []
        uid = msg.get("Uniqueid") or ""
        if uid in self._channels and uid not in call.legs:
            self._link(call, uid)
        if call.reason == _ANSWERED_REASON and call.answered_at is None:
            call.answered_at = self._clock()
            out.append(Answered(call.call_id, msg.get("Channel") or ""))
        out.extend(self._maybe_finish(call))
        return out

    def _maybe_finish(self, call: _Call) -> list[CallEvent]:
        if not call.outcome_known or any(uid not in call.gone for uid in call.legs):
            return []
        answered = call.answered_at is not None
        cause = self._final_cause(call)
        talk = max(0.0, self._clock() - call.answered_at) if call.answered_at is not None else 0.0
        result = Result.ANSWERED if answered else result_for_unanswered(cause)
        self.forget(call.call_id)
        return [Hangup(call.call_id, cause, cause_name(cause), answered, result, talk)]

    @staticmethod
    def _final_cause(call: _Call) -> int:
        # On a Local channel the callee's real cause is on the ;2 leg; ;1 often shows 0.
        second = [c for uid, c in call.gone.items() if call.legs.get(uid, "").endswith(";2")]
        for cause in [*second, *call.gone.values()]:
            if cause > 0:
                return cause
        return REASON_CAUSE.get(call.reason if call.reason is not None else -1, 0)

    def _note_channel(self, uid: str, name: str) -> None:
        old = self._channels.get(uid)
        if old is not None and old != name:
            self._uid_by_name.pop(old, None)
        self._channels[uid] = name
        self._uid_by_name[name] = uid
        call_id = self._by_uid.get(uid)
        if call_id is not None:
            self._calls[call_id].legs[uid] = name

    def _forget_channel(self, uid: str) -> None:
        name = self._channels.pop(uid, None)
        if name is not None and self._uid_by_name.get(name) == uid:
            del self._uid_by_name[name]

    def _unlist(self, call: _Call) -> None:
        """Drop the call from the calls still waiting for their first leg."""
        waiting = self._unlinked.get(call.dial)
        if waiting is not None:
            waiting.pop(call.call_id, None)
            if not waiting:
                del self._unlinked[call.dial]

    def _link(self, call: _Call, uid: str, name: str = "") -> None:
        if uid in call.legs:
            return
        if not call.legs:
            self._unlist(call)
        name = name or self._channels.get(uid, "")
        call.legs[uid] = name
        self._by_uid[uid] = call.call_id
        self._preset.pop(uid, None)
        partner = _local_partner(name)
        partner_uid = self._uid_by_name.get(partner) if partner else None
        if partner_uid is not None and partner_uid not in self._by_uid:
            self._link(call, partner_uid)

    def _link_pair(self, one: str | None, two: str | None) -> None:
        for known, other in ((one, two), (two, one)):
            call_id = self._by_uid.get(known or "") or self._preset.get(known or "")
            if call_id is not None and other and other not in self._by_uid:
                call = self._calls[call_id]
                if known not in call.legs:
                    self._link(call, known or "")
                self._link(call, other)

    def _link_dial_begin(self, msg: AmiMessage) -> None:
        # An Originate's DialBegin has no caller channel; DestChannel's technology plus
        # DialString is exactly the Channel we sent (e.g. "Local/" + "5551235@sim-callee").
        dest_uid = msg.get("DestUniqueid")
        dest = msg.get("DestChannel") or ""
        if not dest_uid or dest_uid in self._by_uid or "/" not in dest:
            return
        dial = dest.split("/", 1)[0] + "/" + (msg.get("DialString") or "")
        waiting = self._unlinked.get(dial, {})
        if len(waiting) == 1:  # ambiguous (same number twice in flight): wait for other links
            self._link(self._calls[next(iter(waiting))], dest_uid, dest)
