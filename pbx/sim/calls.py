"""One simulated Originate, from Newchannel to the last Hangup, in Asterisk 20's event order.

The order of events for each outcome is copied from the recorded captures (see
tests/fixtures/asterisk/README.md): a ``Local/`` destination gets the ``;1``/``;2`` pair, any
other technology one trunk leg like the chan_sip captures.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from pbx.sim import channels as ev
from pbx.sim.callees import CalleeOutcome, CalleePlan
from pbx.sim.channels import BUSY, RING, RINGING, UP, Channel, Headers
from pbx.sim.clock import SimClock

__all__ = ["CallContext", "Dest", "SimCall", "parse_dest", "run_call"]

# OriginateResponse Reason values (AST_CONTROL_*): the last control frame the leg produced.
REASON_NONE, REASON_RINGING, REASON_ANSWER, REASON_BUSY, REASON_CONGESTION = 0, 3, 4, 5, 8


@dataclass(frozen=True)
class Dest:
    """The ``Channel:`` of an Originate, split: ``Local/5551230@sim-callee`` etc."""

    dial: str  # as sent
    tech: str
    number: str
    local_context: str  # Local/ only
    endpoint: str  # the name part of a trunk channel (PJSIP/<endpoint>-0000001)

    @property
    def is_local(self) -> bool:
        return self.tech.lower() == "local"


def parse_dest(dial: str) -> Dest:
    """Split an Originate ``Channel:`` value (any technology; the sim does not care)."""
    tech, _, resource = dial.partition("/")
    if tech.lower() == "local":
        target = resource.split("/", 1)[0]
        number, _, ctx = target.partition("@")
        return Dest(dial, tech, number, ctx or "default", "")
    parts = resource.split("/")
    first = parts[0]
    number, _, endpoint = first.partition("@")
    if len(parts) > 1:  # SIP/peer/number
        return Dest(dial, tech, parts[-1], "", first)
    return Dest(dial, tech, number, "", endpoint or number)


@dataclass
class SimCall:
    """The state of one originated call."""

    seq: int
    action_id: str | None
    dest: Dest
    context: str
    exten: str
    priority: int
    timeout: float  # simulated seconds
    cid_num: str
    cid_name: str
    variables: list[tuple[str, str]]
    plan: CalleePlan
    channel_id: str | None = None
    other_channel_id: str | None = None
    one: Channel | None = None  # the ;1 / trunk leg: the answered side that runs the dialplan
    two: Channel | None = None  # the ;2 leg (Local only): where the callee's cause shows
    answered: bool = False
    ringing: bool = False
    callee_gone: asyncio.Event = field(default_factory=asyncio.Event)  # far end hung up
    dead: asyncio.Event = field(default_factory=asyncio.Event)  # ;1 hung up (AGI sees HANGUP)
    abort: asyncio.Event = field(default_factory=asyncio.Event)  # AMI Hangup action
    dead_cause: int = 16
    agi_hangup: bool = False  # the script hung up (cause 0 on Local legs, as captured)
    dtmf_index: int = 0
    result: str = ""  # outcome summary once over: answered / busy / ...
    on_result: Callable[[bool], None] | None = None  # sync Originate: called with success

    def next_dtmf(self, accept: str | None = None) -> str:
        """The callee's answer to this input request ("" = presses nothing)."""
        if self.dtmf_index >= len(self.plan.dtmf):
            return ""
        token = self.plan.dtmf[self.dtmf_index]
        if accept is not None and token and token[0] not in accept:
            return ""  # not a key this prompt listens for: the callee keeps it for later
        self.dtmf_index += 1
        return token


class CallContext(Protocol):
    """What a call needs from the PBX around it."""

    def emit(self, headers: Headers) -> None: ...

    async def sleep(self, seconds: float) -> None: ...

    def new_uniqueid(self) -> str: ...

    def channel_name(self, prefix: str, local: bool) -> str: ...

    def register(self, ch: Channel, call: SimCall) -> None: ...

    def unregister(self, ch: Channel) -> None: ...

    def run_answered(self, call: SimCall) -> Awaitable[None]: ...

    def scaled(self, seconds: float) -> float: ...

    @property
    def clock(self) -> SimClock: ...


async def wait_for(event: asyncio.Event, real_seconds: float) -> bool:
    """True if ``event`` is set within ``real_seconds`` (inf = no limit)."""
    if event.is_set():
        return True
    try:
        timeout = None if real_seconds == float("inf") else max(real_seconds, 0.0)
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        return False
    return True


async def run_call(ctx: CallContext, call: SimCall) -> None:
    """Play the whole call: legs, ringing, outcome, answered dialplan, hangups."""
    try:
        _create_legs(ctx, call)
        await _progress(ctx, call)
    finally:
        for ch in (call.one, call.two):
            if ch is not None and not ch.hung_up:
                ch.hung_up = True
                ctx.unregister(ch)


def _create_legs(ctx: CallContext, call: SimCall) -> None:
    dest = call.dest
    u1 = call.channel_id or ctx.new_uniqueid()
    if dest.is_local:
        base = ctx.channel_name(f"Local/{dest.number}@{dest.local_context}", local=True)
        u2 = call.other_channel_id or (f"{call.channel_id};2" if call.channel_id else None)
        one = Channel(f"{base};1", u1, u1, dest.local_context, dest.number)
        two = Channel(
            f"{base};2", u2 or ctx.new_uniqueid(), u1, dest.local_context, dest.number, state=RING
        )
        call.one, call.two = one, two
        ctx.register(one, call)
        ctx.register(two, call)
        ctx.emit(ev.newchannel(one))
        ctx.emit(ev.newchannel(two))
        for name, value in reversed(call.variables):
            one.variables[name] = value
            ctx.emit(ev.varset(one, name, value))
        one.cid_num, one.cid_name = call.cid_num, call.cid_name
        ctx.emit(ev.newcallerid(one))
        one.conn_num, one.conn_name = call.cid_num, call.cid_name
        ctx.emit(ev.newconnectedline(one))
        for name, value in call.variables:
            two.variables[name] = value
            ctx.emit(ev.varset(two, name, value))
        two.cid_num, two.cid_name = call.cid_num, call.cid_name
        two.conn_num, two.conn_name = call.cid_num, call.cid_name
        ctx.emit(ev.newcallerid(two))
        ctx.emit(ev.newconnectedline(two))
        ctx.emit(ev.local_bridge(one, two))
        ctx.emit(ev.dial_begin(one, f"{dest.number}@{dest.local_context}"))
        return
    name = ctx.channel_name(f"{dest.tech}/{dest.endpoint}", local=False)
    one = Channel(name, u1, u1, "default", "s")
    call.one = one
    ctx.register(one, call)
    ctx.emit(ev.newchannel(one))
    one.exten = ""
    for var, value in call.variables:
        one.variables[var] = value
        ctx.emit(ev.varset(one, var, value))
    one.cid_num, one.cid_name = call.cid_num, call.cid_name
    ctx.emit(ev.newcallerid(one))
    one.conn_num, one.conn_name = call.cid_num, call.cid_name
    ctx.emit(ev.newconnectedline(one))
    ctx.emit(ev.dial_begin(one, dest.dial.partition("/")[2]))


async def _progress(ctx: CallContext, call: SimCall) -> None:
    plan = call.plan
    one = call.one
    assert one is not None
    if plan.ringing:
        call.ringing = True
        one.state = RINGING
        ctx.emit(ev.newstate(one))
        ctx.emit(ev.dial_state(one, "RINGING"))
    wait = min(plan.ring_seconds, call.timeout)
    aborted = await wait_for(call.abort, ctx.scaled(wait))
    if aborted:
        _fail_timeout(ctx, call, cause=16)
        return
    if plan.ring_seconds > call.timeout:
        _fail_timeout(ctx, call, cause=19)
        return
    if plan.answers:
        await _answered(ctx, call)
    elif plan.outcome is CalleeOutcome.BUSY:
        _fail_busy(ctx, call)
    elif plan.outcome is CalleeOutcome.CONGESTION:
        _fail_congestion(ctx, call)
    else:
        _fail_hangup(ctx, call, plan.cause)


def _respond_failure(ctx: CallContext, call: SimCall, reason: int) -> None:
    uid = call.channel_id or "<unknown>"
    ctx.emit(
        ev.originate_response(
            call.action_id,
            False,
            call.dest.dial,
            call.context,
            call.exten,
            reason,
            uid,
            call.cid_num,
            call.cid_name,
        )
    )
    if call.on_result is not None:
        call.on_result(False)


def _hang(ctx: CallContext, ch: Channel | None, cause: int) -> None:
    if ch is None or ch.hung_up:
        return
    ch.hung_up = True
    ctx.emit(ev.hangup(ch, cause))
    ctx.unregister(ch)


def _fail_busy(ctx: CallContext, call: SimCall) -> None:
    """Order of originate_busy_channelid.txt (OriginateResponse after both Hangups)."""
    call.result = "busy"
    one, two = call.one, call.two
    if two is None:  # trunk leg (originate_sip_busy.txt)
        ctx.emit(ev.dial_end(one, "BUSY"))
        _respond_failure(ctx, call, REASON_BUSY)
        _hang(ctx, one, 17)
        return
    two.state = BUSY
    ctx.emit(ev.newstate(two))
    ctx.emit(ev.dial_end(one, "BUSY"))
    ctx.emit(ev.hangup_request(two, 0))
    ctx.emit(ev.soft_hangup_request(two, 16))
    _hang(ctx, two, 17)
    _hang(ctx, one, 0)
    _respond_failure(ctx, call, REASON_BUSY)


def _fail_congestion(ctx: CallContext, call: SimCall) -> None:
    """Order of originate_congestion.txt."""
    call.result = "congestion"
    one, two = call.one, call.two
    ctx.emit(ev.dial_end(one, "CONGESTION"))
    if two is None:
        _respond_failure(ctx, call, REASON_CONGESTION)
        _hang(ctx, one, 34)
        return
    ctx.emit(ev.hangup_request(two, 0))
    two.state = BUSY
    ctx.emit(ev.newstate(two))
    ctx.emit(ev.soft_hangup_request(two, 16))
    _hang(ctx, two, 34)
    _respond_failure(ctx, call, REASON_CONGESTION)
    _hang(ctx, one, 0)


def _fail_hangup(ctx: CallContext, call: SimCall, cause: int) -> None:
    """The far end hangs up before answer with ``cause`` (originate_unallocated.txt)."""
    call.result = call.plan.outcome.value
    one, two = call.one, call.two
    reason = REASON_RINGING if call.ringing else REASON_NONE
    if two is None:
        ctx.emit(ev.dial_end(one, "NOANSWER"))
        _respond_failure(ctx, call, reason)
        _hang(ctx, one, cause)
        return
    ctx.emit(ev.soft_hangup_request(two, 16))
    ctx.emit(ev.hangup_request(one, cause))
    _hang(ctx, two, cause)
    ctx.emit(ev.dial_end(one, "NOANSWER"))
    _respond_failure(ctx, call, reason)
    _hang(ctx, one, cause)


def _fail_timeout(ctx: CallContext, call: SimCall, cause: int) -> None:
    """Rang until the Timeout (cause 19) or was hung up by an AMI Hangup (originate_noanswer)."""
    call.result = "no_answer" if cause == 19 else "cancelled"
    one, two = call.one, call.two
    reason = REASON_RINGING if call.ringing else REASON_NONE
    if two is None:
        _respond_failure(ctx, call, reason)
        _hang(ctx, one, cause)
        return
    ctx.emit(ev.hangup_request(two, cause))
    ctx.emit(ev.soft_hangup_request(two, 16))
    _hang(ctx, two, cause)
    _hang(ctx, one, cause)
    _respond_failure(ctx, call, reason)


async def _answered(ctx: CallContext, call: SimCall) -> None:
    """Answer order of originate_answered.txt, then the dialplan of the answered leg."""
    one, two = call.one, call.two
    assert one is not None
    call.answered = True
    call.result = call.plan.outcome.value
    if two is not None:
        two.state = UP
        ctx.emit(ev.newstate(two))
    one.state = UP
    ctx.emit(ev.newstate(one))
    ctx.emit(ev.dial_end(one, "ANSWER"))
    one.context, one.exten, one.priority = call.context, call.exten, call.priority
    ctx.emit(
        ev.originate_response(
            call.action_id,
            True,
            one.name,
            call.context,
            call.exten,
            REASON_ANSWER,
            one.uniqueid,
            call.cid_num,
            call.cid_name,
        )
    )
    if call.on_result is not None:
        call.on_result(True)
    talk = asyncio.create_task(_callee_talks(ctx, call), name=f"sim-talk-{one.uniqueid}")
    try:
        await ctx.run_answered(call)
    finally:
        talk.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await talk
    _end_answered(ctx, call)


async def _callee_talks(ctx: CallContext, call: SimCall) -> None:
    """The callee stays ``talk_seconds`` after answer, then hangs up (or an AMI Hangup comes)."""
    aborted = await wait_for(call.abort, ctx.scaled(call.plan.talk_seconds))
    if call.dead.is_set():
        return
    if aborted:
        call.dead_cause = 16
        call.dead.set()
        return
    callee_hangs_up(ctx, call)


def callee_hangs_up(ctx: CallContext, call: SimCall) -> None:
    """Far end hangs up an answered call (originate_answered_callee_hangup.txt, first half)."""
    one, two = call.one, call.two
    assert one is not None
    call.dead_cause = 16
    if two is not None:
        ctx.emit(ev.soft_hangup_request(two, 16))
        ctx.emit(ev.hangup_request(one, 16))
        _hang(ctx, two, 16)
    else:
        ctx.emit(ev.hangup_request(one, 16))
    call.callee_gone.set()
    call.dead.set()


def _end_answered(ctx: CallContext, call: SimCall) -> None:
    """The answered leg's dialplan is over: hang up what is left."""
    one, two = call.one, call.two
    assert one is not None
    if one.hung_up:
        return
    if call.callee_gone.is_set():  # second half of the callee-hangup capture
        ctx.emit(ev.soft_hangup_request(one, 16))
        one.exten = "h"
        _hang(ctx, one, 16)
        return
    cause = 0 if call.agi_hangup and two is not None else 16
    ctx.emit(ev.soft_hangup_request(one, 16))
    if two is not None:
        ctx.emit(ev.hangup_request(two, 0 if cause == 0 else 16))
    one.exten = "h"
    _hang(ctx, one, cause)
    if two is not None:
        ctx.emit(ev.soft_hangup_request(two, 16))
        _hang(ctx, two, cause)
