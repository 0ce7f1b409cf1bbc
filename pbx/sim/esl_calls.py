"""One simulated ``bgapi originate``, as FreeSWITCH 1.10 reports it over ESL.

Event order per outcome is the one of tests/fixtures/freeswitch/inbound (see its README):
CHANNEL_CREATE a/b, CHANNEL_PROGRESS a/b when the callee rings, then

- answered: CHANNEL_ANSWER a/b, BACKGROUND_JOB ``+OK <uuid>``, the answered leg's dialplan
  (``park`` or ``socket host:port async full``), and at the end CHANNEL_HANGUP_COMPLETE b then a
  when the callee hangs up, a then b when our side hangs up;
- busy / congestion / unallocated / absent / rejected: HANGUP_COMPLETE b, a, then
  BACKGROUND_JOB ``-ERR <CAUSE>``;
- no answer (``originate_timeout``): HANGUP_COMPLETE a, BACKGROUND_JOB ``-ERR NO_ANSWER``,
  HANGUP_COMPLETE b (originate_noanswer.txt).

The callee's fate is the shared model's (:func:`pbx.sim.callees.plan_callee`), so the same seed
gives the same fates on the AMI and the ESL side.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from pbx.sim.callees import CalleeOutcome, CalleePlan
from pbx.sim.calls import SimCall, wait_for
from pbx.sim.esl_channels import CAUSE_Q850, EventFactory, FsChannel
from pbx.sim.esl_wire import FsEvent

__all__ = ["EslCall", "EslContext", "FAILURE_CAUSE", "run_esl_call"]

# What each unanswered fate looks like on FreeSWITCH (congestion: NORMAL_TEMPORARY_FAILURE, as
# captured with a 503 and with the rig's loopback callee).
FAILURE_CAUSE: dict[CalleeOutcome, str] = {
    CalleeOutcome.BUSY: "USER_BUSY",
    CalleeOutcome.CONGESTION: "NORMAL_TEMPORARY_FAILURE",
    CalleeOutcome.UNALLOCATED: "UNALLOCATED_NUMBER",
    CalleeOutcome.POWERED_OFF: "SUBSCRIBER_ABSENT",
    CalleeOutcome.REJECTED: "CALL_REJECTED",
}


class EslContext(Protocol):
    """What a call needs from the simulated switch around it."""

    factory: EventFactory
    time_scale: float

    def publish(self, event: FsEvent) -> None: ...

    def add_channel(self, ch: FsChannel, call: EslCall) -> None: ...

    def remove_channel(self, ch: FsChannel) -> None: ...

    def scaled(self, seconds: float) -> float: ...

    def dialplan_action(self, target: str) -> str | None: ...

    def run_socket(self, call: EslCall, action: str) -> Awaitable[None]: ...


@dataclass
class EslCall:
    """The state of one originated call (the ``-a`` leg is the one the dialer owns)."""

    seq: int
    job_uuid: str
    arg: str  # Job-Command-Arg: the originate's whole argument string
    uuid: str
    number: str
    target: str  # "dialer-answered XML dialer", "&park()"
    timeout: float  # simulated seconds
    plan: CalleePlan
    sim_call: SimCall  # the shared model's view (DTMF answers, the agent queue)
    a: FsChannel
    b: FsChannel | None = None
    answered: bool = False
    result: str = ""
    hangup: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )  # our side asked to hang up (uuid_kill, sendmsg hangup): the cause
    callee_gone: asyncio.Event = field(default_factory=asyncio.Event)
    a_down: asyncio.Event = field(default_factory=asyncio.Event)  # CHANNEL_HANGUP of the a leg
    on_a_hangup: list[Callable[[], None]] = field(default_factory=list)  # socket: interrupt app

    def request_hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        """Our side hangs up the ``-a`` leg (first request wins)."""
        if not self.hangup.done():
            self.hangup.set_result(cause or "NORMAL_CLEARING")


async def run_esl_call(ctx: EslContext, call: EslCall) -> None:
    """Play the whole call, from CHANNEL_CREATE to the last CHANNEL_HANGUP_COMPLETE."""
    try:
        _create(ctx, call)
        await _progress(ctx, call)
    finally:
        for ch in (call.a, call.b):
            if ch is not None and not ch.hung_up:
                ch.hangup_cause = "NORMAL_CLEARING"
                ctx.remove_channel(ch)
        call.a_down.set()
        if not call.hangup.done():
            call.hangup.cancel()


def _create(ctx: EslContext, call: EslCall) -> None:
    f = ctx.factory
    ctx.add_channel(call.a, call)
    ctx.publish(f.channel_event("CHANNEL_CREATE", call.a))
    if call.b is not None:
        ctx.add_channel(call.b, call)
        ctx.publish(f.channel_event("CHANNEL_CREATE", call.b))


async def _progress(ctx: EslContext, call: EslCall) -> None:
    f, plan, a, b = ctx.factory, call.plan, call.a, call.b
    if plan.ringing:
        now = f.now_us()
        a.progress_us, a.state = now, "CS_CONSUME_MEDIA"
        ctx.publish(f.channel_event("CHANNEL_PROGRESS", a))
        a.call_state = "RINGING"  # shown from the next event on, as captured
        if b is not None:
            b.progress_us, b.state, b.call_state = now, "CS_EXECUTE", "RINGING"
            b.hit_dialplan = True
            ctx.publish(f.channel_event("CHANNEL_PROGRESS", b))
    wait = min(plan.ring_seconds, call.timeout)
    killed = await _wait_future(call.hangup, ctx.scaled(wait))
    if killed is not None:
        call.result = "cancelled"
        _hang(ctx, call, a, killed)
        _hang(ctx, call, b, killed)
        _job(ctx, call, f"-ERR {killed}\n")
    elif plan.ring_seconds > call.timeout:
        call.result = "no_answer"
        _hang(ctx, call, a, "NO_ANSWER")
        _job(ctx, call, "-ERR NO_ANSWER\n")
        _hang(ctx, call, b, "NO_ANSWER")
    elif plan.answers:
        await _answered(ctx, call)
    else:
        cause = FAILURE_CAUSE.get(plan.outcome, "NORMAL_TEMPORARY_FAILURE")
        call.result = plan.outcome.value
        _hang(ctx, call, b, cause)
        _hang(ctx, call, a, cause)
        _job(ctx, call, f"-ERR {cause}\n")


async def _wait_future(future: asyncio.Future[str], real_seconds: float) -> str | None:
    if not future.done():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(future), max(real_seconds, 0.0))
    return future.result() if future.done() and not future.cancelled() else None


def _job(ctx: EslContext, call: EslCall, result: str) -> None:
    ctx.publish(ctx.factory.background_job(call.job_uuid, "originate", call.arg, result))


def _hang(
    ctx: EslContext, call: EslCall, ch: FsChannel | None, cause: str, *, full: bool = False
) -> None:
    """One leg goes down: CHANNEL_HANGUP (..., the socket app's end), HANGUP_COMPLETE."""
    if ch is None or ch.hung_up:
        return
    f = ctx.factory
    now = f.now_us()
    ch.hangup_cause, ch.hangup_us, ch.answer_state = cause, now, "hangup"
    ctx.publish(f.channel_event("CHANNEL_HANGUP", ch))
    if ch is call.a:
        call.a_down.set()
        for interrupt in list(call.on_a_hangup):
            interrupt()
    if full:
        ch.state = "CS_HANGUP"
        ctx.publish(f.state_event(ch))
    ch.state, ch.call_state = "CS_REPORTING", "HANGUP"
    if full:
        ctx.publish(f.state_event(ch))
    _hangup_variables(ch, now)
    ctx.publish(f.channel_event("CHANNEL_HANGUP_COMPLETE", ch))
    ctx.remove_channel(ch)


def _hangup_variables(ch: FsChannel, now_us: int) -> None:
    """The CDR variables FreeSWITCH adds at hang-up; durations in simulated time (the channel
    stamps are already simulated microseconds: the event factory reads the PBX's clock, so
    scaling them again would multiply every billsec by the time scale)."""

    def stamp(us: int) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us / 1e6)) if us else ""

    def sim_us(since: int) -> int:
        return now_us - since if since else 0

    def epochs(name: str, us: int) -> list[tuple[str, str]]:
        return [(f"{name}_epoch", str(us // 1_000_000)), (f"{name}_uepoch", str(us))]

    total, bill = sim_us(ch.created_us), sim_us(ch.answered_us)
    progress = ch.progress_us - ch.created_us if ch.progress_us else 0
    answer = ch.answered_us - ch.created_us if ch.answered_us else 0
    v = ch.variables
    v["hangup_cause"] = ch.hangup_cause
    v["hangup_cause_q850"] = str(CAUSE_Q850.get(ch.hangup_cause, 16))
    v["digits_dialed"] = "none"
    v["start_stamp"] = v["profile_start_stamp"] = stamp(ch.created_us)
    if ch.answered_us:
        v["answer_stamp"] = stamp(ch.answered_us)
    if ch.progress_us:
        v["progress_stamp"] = stamp(ch.progress_us)
    v["end_stamp"] = stamp(now_us)
    for name, us in (
        ("start", ch.created_us),
        ("profile_start", ch.created_us),
        ("answer", ch.answered_us),
        ("bridge", 0),
        ("last_hold", 0),
    ):
        v.update(epochs(name, us))
    v.update({"hold_accum_seconds": "0", "hold_accum_usec": "0", "hold_accum_ms": "0"})
    for name, us in (
        ("resurrect", 0),
        ("progress", ch.progress_us),
        ("progress_media", 0),
        ("end", now_us),
    ):
        v.update(epochs(name, us))
    if ch.application:
        v["last_app"] = ch.application
        v["last_arg"] = ch.application_data
    v["caller_id"] = f'"{ch.cid_name}" <{ch.cid_num}>'
    for unit, div in (("sec", 1_000_000), ("msec", 1000), ("usec", 1)):
        prefix = {"sec": "", "msec": "m", "usec": "u"}[unit]
        v[f"{prefix}duration"] = str(total // div)
        v[f"bill{unit}"] = str(bill // div)
        v[f"progress{unit}"] = str(progress // div)
        v[f"answer{unit}"] = str(answer // div)
        v[f"wait{unit}"] = str(answer // div)
        v[f"progress_media{unit}"] = "0"
        v[f"flow_bill{unit}"] = str(bill // div)
    if ch.name.startswith("loopback/"):
        v["is_loopback"] = "1"


async def _answered(ctx: EslContext, call: EslCall) -> None:
    f, a, b = ctx.factory, call.a, call.b
    call.answered = True
    call.sim_call.answered = True
    call.result = call.plan.outcome.value
    now = f.now_us()
    for ch in (a, b):
        if ch is not None:
            ch.answered_us, ch.answer_state = now, "answered"
            ctx.publish(f.channel_event("CHANNEL_ANSWER", ch))
    for ch in (a, b):
        if ch is not None:
            ch.variables["endpoint_disposition"] = "ANSWER"
            ch.call_state = "ACTIVE"
    _job(ctx, call, f"+OK {call.uuid}\n")
    _flip_caller_id(a)
    action = ctx.dialplan_action(call.target)
    dialplan: asyncio.Task[None] | None = None
    if action is None:
        call.request_hangup("NO_ROUTE_DESTINATION")
    elif action == "park":
        a.application = a.variables["current_application"] = "park"
    elif action.startswith("socket"):
        _transfer(a, call)
        dialplan = asyncio.create_task(_socket_then_hangup(ctx, call, action))
    callee_done = asyncio.ensure_future(call.callee_gone.wait())
    talk = asyncio.create_task(_callee_talks(ctx, call))
    try:
        await asyncio.wait({callee_done, call.hangup}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        callee_done.cancel()
        talk.cancel()
    if call.callee_gone.is_set():
        _hang(ctx, call, b, "NORMAL_CLEARING")
        _hang(ctx, call, a, "NORMAL_CLEARING", full=action is not None)
    else:
        cause = call.hangup.result()
        _hang(ctx, call, a, cause, full=action is not None)
        _hang(ctx, call, b, cause)
    if dialplan is not None:
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(dialplan, 30.0)


async def _callee_talks(ctx: EslContext, call: EslCall) -> None:
    """The callee stays ``talk_seconds`` after answer, then hangs up."""
    if not await wait_for(call.a_down, ctx.scaled(call.plan.talk_seconds)):
        call.callee_gone.set()
        call.sim_call.callee_gone.set()
        call.sim_call.dead.set()


async def _socket_then_hangup(ctx: EslContext, call: EslCall, action: str) -> None:
    """``socket host:port async full``; when it returns with the call up, the call ends."""
    await ctx.run_socket(call, action)
    call.request_hangup("NORMAL_CLEARING")


def _flip_caller_id(a: FsChannel) -> None:
    """After the answer the originated leg's caller profile is swapped (see the README)."""
    cid = a.cid_num
    a.cid_num, a.cid_name = a.callee_num, a.callee_name
    a.callee_num, a.callee_name = cid, ""
    a.variables["pre_transfer_caller_id_number"] = cid
    a.variables["channel_cid_flipped"] = "yes"


def _transfer(a: FsChannel, call: EslCall) -> None:
    """The answered ``-a`` leg enters the dialplan extension of ``call.target``."""
    ext, _, rest = call.target.partition(" ")
    context = rest.split(" ")[-1] if rest else "default"
    cid = a.callee_num
    a.rdnis, a.destination, a.context = a.destination, ext, context
    a.profile_index, a.hit_dialplan = 2, True
    a.state, a.call_state = "CS_EXECUTE", "ACTIVE"
    stamp = f"{a.created_us // 1_000_000}:{a.uuid}:bl_xfer:{ext}/{context}/XML"
    a.transfer_source = stamp
    a.variables.update(
        {
            "max_forwards": "70",
            "transfer_history": stamp,
            "transfer_source": stamp,
            "pre_transfer_caller_id_number": cid,
            "channel_cid_flipped": "yes",
            "call_uuid": a.uuid,
        }
    )
