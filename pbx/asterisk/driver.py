"""Asterisk driver: the PbxDriver protocol over AMI, and the pure AMI → call-model mapping.

``AmiCallTracker`` is sans-IO: feed it AMI events, get ``pbx.model`` events back. It follows
each call we originated across its channels (a Local channel has two, ``;1`` and ``;2``) and
emits exactly one ``Hangup`` per call, whatever the order of OriginateResponse and the legs'
Hangup events. ``AsteriskDriver`` wires it to an ``AmiClient``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from pbx.asterisk.ami import AmiMessage
from pbx.asterisk.client import AmiClient, AmiError, AmiLinkLost
from pbx.model import (
    AgentEvent,
    AgentState,
    Answered,
    CallEvent,
    CallRequest,
    Hangup,
    OriginateFailed,
    Result,
    Ringing,
    cause_name,
    result_for_unanswered,
)

log = logging.getLogger(__name__)

__all__ = ["AmiCallTracker", "AsteriskDriver", "agent_state_from_member", "REASON_CAUSE"]

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
_MEMBER_EVENTS = {"QueueMember", "QueueMemberStatus", "QueueMemberAdded", "QueueMemberPause"}
_AGENT_EVENTS = {
    "AgentCalled": "ringing",
    "AgentConnect": "talking",
    "AgentComplete": "wrapup",
    "AgentRingNoAnswer": "idle",
    "AgentDump": "idle",
}


def _agent_interface(msg: AmiMessage) -> str:
    return msg.get("Interface") or msg.get("Location") or msg.get("StateInterface") or ""


def agent_state_from_member(msg: AmiMessage) -> AgentState:
    """Map a QueueMember / QueueMemberStatus / QueueMemberPause event to an AgentState."""
    if msg.get("Paused") == "1":
        state = "paused"
    else:
        state = _DEVICE_STATE.get(msg.get("Status") or "0", "idle")
        if msg.get("InCall") == "1" and state in ("idle", "ringing"):
            state = "talking"
    return AgentState(agent=_agent_interface(msg), queue=msg.get("Queue") or "", state=state)


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


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
    every known leg has hung up. ``clock`` is read on event arrival to measure talk time.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        call_id_variable: str = "PACEDIAL_CALL_ID",
    ) -> None:
        self._clock = clock
        self._var = call_id_variable
        self._calls: dict[str, _Call] = {}
        self._by_uid: dict[str, str] = {}  # linked Uniqueid -> call id
        self._preset: dict[str, str] = {}  # ChannelId/OtherChannelId not yet seen -> call id
        self._by_action: dict[str, str] = {}
        self._by_tag: dict[str, str] = {}  # value of the call-id variable -> call id
        self._channels: dict[str, str] = {}  # every live channel: Uniqueid -> name
        self._uid_by_name: dict[str, str] = {}

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
        self._calls[call_id] = _Call(call_id, action_id, dial)
        if action_id:
            self._by_action[action_id] = call_id
        for uid in channel_ids:
            self._preset[uid] = call_id
        self._by_tag[call_id if tag is None else tag] = call_id

    def forget(self, call_id: str) -> None:
        """Stop tracking a call (its Originate was refused, so no channel will exist)."""
        call = self._calls.pop(call_id, None)
        if call is None:
            return
        for table in (self._by_uid, self._preset, self._by_action, self._by_tag):
            for key in [k for k, v in table.items() if v == call_id]:
                del table[key]

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
        """Map one AMI event to zero or more call-model events."""
        event = msg.event
        if event is None:
            return []
        if event in _MEMBER_EVENTS:
            return [AgentEvent(agent_state_from_member(msg))]
        if event == "QueueMemberRemoved":
            state = AgentState(_agent_interface(msg), msg.get("Queue") or "", "logged_out")
            return [AgentEvent(state)]
        if event in _AGENT_EVENTS:
            agent = AgentState(_agent_interface(msg), msg.get("Queue") or "", _AGENT_EVENTS[event])
            return [AgentEvent(agent)]
        if event == "OriginateResponse":
            return self._originate_response(msg)
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

    def _link(self, call: _Call, uid: str, name: str = "") -> None:
        if uid in call.legs:
            return
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
        waiting = [c for c in self._calls.values() if c.dial == dial and not c.legs]
        if len(waiting) == 1:  # ambiguous (same number twice in flight): wait for other links
            self._link(waiting[0], dest_uid, dest)


class AsteriskDriver:
    """The PbxDriver protocol over one AMI connection (see docs/asterisk.md)."""

    def __init__(
        self,
        client: AmiClient | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 5038,
        username: str = "",
        secret: str = "",
        dial_template: str = "Local/{number}@sim-callee",
        answered_context: str = "pacedial-answered",
        exten: str = "s",
        priority: int = 1,
        clock: Callable[[], float] = time.monotonic,
        call_id_variable: str = "PACEDIAL_CALL_ID",
    ) -> None:
        self.client = client or AmiClient(host, port, username, secret)
        self.dial_template = dial_template
        self.answered_context = answered_context
        self.exten = exten
        self.priority = priority
        self.call_id_variable = call_id_variable
        self.tracker = AmiCallTracker(clock, call_id_variable=call_id_variable)
        self._out: asyncio.Queue[CallEvent | AgentEvent | None] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self.client.on_reconnect.append(self._resync)

    async def connect(self) -> None:
        """Log in to AMI and start mapping its events."""
        await self.client.connect()
        if self._pump is None:
            self._pump = asyncio.create_task(self._run_pump(), name="asterisk-driver-pump")

    def originate_headers(self, req: CallRequest) -> list[tuple[str, str]]:
        """The Originate action for a request (ActionID = ChannelId = call id)."""
        number = req.destination.lstrip("+")
        headers = [
            ("Action", "Originate"),
            ("ActionID", req.call_id),
            ("Channel", self.dial_template.format(number=number)),
            ("Context", self.answered_context),
            ("Exten", self.exten),
            ("Priority", str(self.priority)),
            ("Timeout", str(int(req.ring_timeout * 1000))),
            ("CallerID", req.caller_id),
            ("Async", "true"),
            ("ChannelId", req.call_id),
            ("OtherChannelId", f"{req.call_id}-2"),
            ("Variable", f"{self.call_id_variable}={req.call_id}"),
        ]
        headers += [("Variable", f"{k}={v}") for k, v in req.variables.items()]
        return headers

    async def originate(self, request: CallRequest) -> None:
        """Send the Originate once; the outcome arrives as events (never re-sent)."""
        headers = self.originate_headers(request)
        call_id = request.call_id
        self.tracker.expect(
            call_id,
            action_id=call_id,
            dial=headers[2][1],
            channel_ids=(call_id, f"{call_id}-2"),
        )
        try:
            reply = await self.client.send_action(headers)
        except AmiLinkLost as exc:
            if not exc.sent:
                self.tracker.forget(call_id)
                self._out.put_nowait(OriginateFailed(call_id, f"AMI link down, not sent: {exc}"))
            # If it was sent, the call may exist: the re-sync after the reconnect settles it.
            return
        if reply.response != "Success":
            self.tracker.forget(call_id)
            reason = reply.get("Message") or f"Response: {reply.response}"
            log.warning("call %s: Originate refused by %s: %s", call_id, self.client.peer, reason)
            self._out.put_nowait(OriginateFailed(call_id, reason))

    async def hangup(self, call_id: str) -> None:
        """Hang up a call we placed (by channel name, else by its Uniqueid = call id)."""
        channel = self.tracker.channel_of(call_id) or call_id
        reply = await self.client.send_action(
            [("Action", "Hangup"), ("Channel", channel), ("Cause", "16")]
        )
        if reply.response != "Success":
            log.info("call %s: Hangup answered %s", call_id, reply.get("Message"))

    async def events(self) -> AsyncIterator[CallEvent | AgentEvent]:
        """Call and agent events in PBX order; ends after close()."""
        while (item := await self._out.get()) is not None:
            yield item

    async def live_calls(self) -> set[str]:
        """Call ids (or raw Uniqueid/Linkedid of unknown channels) of channels that exist.

        Our Uniqueid is the call id, so after a process restart the raw ids still name our
        calls; the caller intersects this set with its own in-flight attempts.
        """
        out: set[str] = set()
        for uid, linked, _state in await self._channels():
            out.add(self.tracker.call_id_for(uid) or uid)
            if linked:
                out.add(self.tracker.call_id_for(linked) or linked)
        return out

    async def agents(self) -> list[AgentState]:
        """Queue member states from QueueStatus."""
        members = await self.client.send_action_list(
            [("Action", "QueueStatus")], complete="QueueStatusComplete"
        )
        return [agent_state_from_member(m) for m in members if m.event == "QueueMember"]

    async def close(self) -> None:
        """Log off, stop the event pump and end events()."""
        await self.client.close()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        self._out.put_nowait(None)

    async def _channels(self) -> list[tuple[str, str, str]]:
        items = await self.client.send_action_list(
            [("Action", "CoreShowChannels")], complete="CoreShowChannelsComplete"
        )
        return [
            (m.get("Uniqueid") or "", m.get("Linkedid") or "", m.get("ChannelStateDesc") or "")
            for m in items
            if m.event == "CoreShowChannel"
        ]

    async def _run_pump(self) -> None:
        async for msg in self.client.events():
            for item in self.tracker.handle(msg):
                self._out.put_nowait(item)

    async def _resync(self) -> None:
        """After a reconnect: end calls whose channels vanished, refresh agent states."""
        before = self.tracker.call_ids()
        try:
            live = {uid: state for uid, _linked, state in await self._channels()}
            for item in self.tracker.reconcile(live, before):
                self._out.put_nowait(item)
            for agent in await self.agents():
                self._out.put_nowait(AgentEvent(agent))
        except AmiError as exc:
            log.warning("AMI re-sync with %s failed: %s", self.client.peer, exc)
