"""The simulated app_queue: callers wait, the longest-idle agent takes the next one.

``SimQueue.enqueue`` is what ``EXEC Queue`` runs. After a call an agent wraps up for the
queue's ``wrapuptime`` the way app_queue does it (no pause, no event; a waiting caller gets
``AgentCalled`` only once it is over), maybe takes a break (a pause), and is offered calls again.

Besides the AMI events it emits, the queue tells its ``observers`` what happened in PBX-neutral
terms (``MemberChanged``, ``AgentBridged``, ``AgentUnbridged``): the FreeSWITCH face renders
those as mod_callcenter events instead of reading AMI.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from pbx.sim import channels as ev
from pbx.sim import queue_events as qe
from pbx.sim.agents import Agent, AgentBoard, AgentPhase, agent_rng
from pbx.sim.calls import CallContext, SimCall, wait_for
from pbx.sim.channels import RING, UP, Channel
from pbx.sim.config import AgentConfig
from pbx.sim.timeline import Timeline

__all__ = [
    "AgentBridged",
    "AgentUnbridged",
    "MemberChanged",
    "QueueNews",
    "QueueResult",
    "SimQueue",
]


class QueueResult(enum.StrEnum):
    CONNECTED = "connected"  # an agent talked to the caller; the agent hung up first
    CALLER_HUNG_UP = "caller_hung_up"  # the caller hung up (waiting or talking)
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class MemberChanged:
    """An agent's queue status or pause changed."""

    agent: Agent


@dataclass(frozen=True)
class AgentBridged:
    """An agent answered a caller who had waited ``hold`` simulated seconds."""

    caller: str  # the caller's channel id
    agent: Agent
    agent_leg: str  # the agent leg's channel id
    hold: int


@dataclass(frozen=True)
class AgentUnbridged:
    """An agent's conversation of ``talk`` simulated seconds with a caller ended."""

    caller: str
    agent: Agent
    agent_leg: str
    hold: int
    talk: int


QueueNews = MemberChanged | AgentBridged | AgentUnbridged


@dataclass
class _Waiting:
    call: SimCall
    joined: float  # loop time
    original_position: int
    assigned: asyncio.Future[Agent] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class SimQueue:
    """One queue and its agents."""

    def __init__(self, ctx: CallContext, cfg: AgentConfig, seed: int) -> None:
        self.ctx = ctx
        self.name = cfg.queue
        self.board = AgentBoard(cfg)
        self.seed = seed
        self.login_time = int(ctx.clock())
        self.waiting: list[_Waiting] = []
        self.completed = 0
        self.abandoned = 0
        self._calls_per_agent: dict[int, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.timeline = Timeline()  # what happened on each answered call, for timing checks
        self.observers: list[Callable[[QueueNews], None]] = []  # the faces other than AMI

    # --- QueueStatus --------------------------------------------------------------------------
    def status_events(self, action_id: str | None) -> list[ev.Headers]:
        out = [
            qe.queue_params(self.name, len(self.waiting), self.completed, self.abandoned, action_id)
        ]
        out += [
            qe.queue_member(self.name, a, self.login_time, action_id) for a in self.board.agents
        ]
        return out

    # --- the caller side ----------------------------------------------------------------------
    async def enqueue(self, call: SimCall, timeout: float) -> QueueResult:
        """Run Queue() for ``call`` with ``timeout`` simulated seconds (0 = no limit)."""
        ctx, caller = self.ctx, call.one
        assert caller is not None
        loop = asyncio.get_running_loop()
        self.timeline.note(call, "queue", ctx.clock())
        entry = _Waiting(call, loop.time(), len(self.waiting) + 1)
        self.waiting.append(entry)
        ctx.emit(qe.queue_caller_join(caller, self.name, len(self.waiting), len(self.waiting)))
        self._dispatch()
        limit = ctx.scaled(timeout) if timeout > 0 else float("inf")
        gone = asyncio.ensure_future(call.dead.wait())
        try:
            await asyncio.wait(
                {entry.assigned, gone},
                timeout=None if limit == float("inf") else limit,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            gone.cancel()
        if entry.assigned.done():
            deadline = entry.joined + limit
            return await self._talk(entry, entry.assigned.result(), deadline)
        position = self.waiting.index(entry) + 1
        self.waiting.remove(entry)
        entry.assigned.cancel()
        hold = int((loop.time() - entry.joined) * self._scale())
        # app_queue counts a timeout as abandoned too (queue_caller_abandon.txt): Abandon, Leave.
        self.abandoned += 1
        ctx.emit(
            qe.queue_caller_abandon(caller, self.name, position, entry.original_position, hold)
        )
        ctx.emit(qe.queue_caller_leave(caller, self.name, position, len(self.waiting)))
        if call.dead.is_set():
            return QueueResult.CALLER_HUNG_UP
        caller.variables["QUEUESTATUS"] = "TIMEOUT"
        ctx.emit(ev.varset(caller, "QUEUESTATUS", "TIMEOUT"))
        return QueueResult.TIMEOUT

    def _scale(self) -> float:
        return 1.0 / self.ctx.scaled(1.0)

    def _dispatch(self) -> None:
        """Offer waiting callers (in order) to idle agents."""
        while self.waiting:
            agent = self.board.pick_idle()
            if agent is None:
                return
            entry = self.waiting[0]
            if entry.assigned.done():  # cancelled: its caller is leaving
                self.waiting.pop(0)
                continue
            self.board.ring(agent)
            entry.assigned.set_result(agent)
            self.waiting.pop(0)

    async def _talk(self, entry: _Waiting, agent: Agent, deadline: float) -> QueueResult:
        """Ring ``agent`` for ``entry``'s caller; app_queue gives up ringing at the caller's
        queue timeout (loop time ``deadline``), so no agent is connected after it."""
        ctx, call = self.ctx, entry.call
        caller = call.one
        assert caller is not None
        loop = asyncio.get_running_loop()
        number = self._calls_per_agent.get(agent.index, 0) + 1
        self._calls_per_agent[agent.index] = number
        rng = agent_rng(self.seed, agent, number)
        base = ctx.channel_name(f"Local/{agent.exten}@{self.board.cfg.context}", local=True)
        a1 = Channel(
            f"{base};1", ctx.new_uniqueid(), caller.linkedid, self.board.cfg.context, agent.exten
        )
        a2 = Channel(
            f"{base};2",
            ctx.new_uniqueid(),
            caller.linkedid,
            self.board.cfg.context,
            agent.exten,
            state=RING,
        )
        for ch in (a1, a2):
            ctx.register(ch, call)
            ctx.emit(ev.newchannel(ch))
        for ch in (a1, a2):
            ch.cid_num, ch.cid_name = caller.cid_num, caller.cid_name
            ch.conn_num, ch.conn_name = caller.cid_num, caller.cid_name
        ctx.emit(ev.local_bridge(a1, a2))
        ctx.emit(qe.agent_called(caller, a1, self.name, agent))
        self._tell(MemberChanged(agent))  # ringing: mod_callcenter's Receiving (no AMI event)
        ctx.emit(ev.dial_begin(a1, f"{agent.exten}@{self.board.cfg.context}/n", caller))
        ring_started = loop.time()
        delay = float("inf") if agent.phantom else ctx.scaled(self.board.cfg.answer_delay)
        answer_at = ring_started + delay
        # The caller's timeout comes first: app_queue stops ringing the agent then.
        if answer_at > deadline and not await wait_for(call.dead, deadline - ring_started):
            return self._ring_timeout(entry, agent, a1, a2)
        if call.dead.is_set() or await wait_for(call.dead, answer_at - loop.time()):
            # The caller hung up while the agent's phone rang.
            ctx.emit(ev.dial_end(a1, "CANCEL", caller))
            self._hang_agent_legs(a1, a2)
            self.abandoned += 1
            hold = int((loop.time() - entry.joined) * self._scale())
            ctx.emit(qe.queue_caller_abandon(caller, self.name, 1, entry.original_position, hold))
            ctx.emit(qe.queue_caller_leave(caller, self.name, 1, len(self.waiting)))
            self.board.release(agent, loop.time())
            self._member(qe.queue_member_status, agent)  # not in use
            self._dispatch()
            return QueueResult.CALLER_HUNG_UP
        a2.state = UP
        ctx.emit(ev.newstate(a2))
        self.timeline.note(call, "agent", ctx.clock())
        self.board.connect(agent)
        self._member(qe.queue_member_status, agent)
        a1.state = UP
        ctx.emit(ev.newstate(a1))
        ctx.emit(ev.dial_end(a1, "ANSWER", caller))
        ctx.emit(qe.queue_caller_leave(caller, self.name, 1, len(self.waiting)))
        for name, value in (
            ("MEMBERINTERFACE", agent.interface),
            ("MEMBERNAME", agent.name),
            ("MEMBERCALLS", str(agent.calls_taken)),
            ("MEMBERLASTCALL", str(agent.last_call)),
            ("MEMBERPENALTY", "0"),
            ("MEMBERDYNAMIC", "0"),
            ("MEMBERREALTIME", "0"),
        ):
            caller.variables[name] = value
            ctx.emit(ev.varset(caller, name, value))
        scale = self._scale()
        hold = int((ring_started - entry.joined) * scale)
        ring = int((loop.time() - ring_started) * scale)
        ctx.emit(qe.agent_connect(caller, a1, self.name, agent, hold, ring))
        self._tell(AgentBridged(caller.uniqueid, agent, a1.uniqueid, hold))
        connected = loop.time()
        caller_left = await wait_for(call.dead, ctx.scaled(self.board.talk_seconds(rng)))
        talk = int((loop.time() - connected) * scale)
        reason = "caller" if caller_left else "agent"
        ctx.emit(qe.agent_complete(caller, a1, self.name, agent, hold, talk, reason))
        self._tell(AgentUnbridged(caller.uniqueid, agent, a1.uniqueid, hold, talk))
        self._hang_agent_legs(a1, a2)
        self.completed += 1
        self.board.finish_call(agent, int(self.ctx.clock()))
        agent.wrap_until = loop.time() + ctx.scaled(self.board.cfg.wrapuptime)
        self._member(qe.queue_member_status, agent)
        self._spawn(self._after_call(agent, rng))
        return QueueResult.CALLER_HUNG_UP if caller_left else QueueResult.CONNECTED

    def _ring_timeout(self, entry: _Waiting, agent: Agent, a1: Channel, a2: Channel) -> QueueResult:
        """The queue timeout passed while the agent's phone rang: the caller leaves."""
        ctx, caller = self.ctx, entry.call.one
        assert caller is not None
        ctx.emit(ev.dial_end(a1, "NOANSWER", caller))
        self._hang_agent_legs(a1, a2)
        self.board.release(agent, asyncio.get_running_loop().time())
        self._member(qe.queue_member_status, agent)  # not in use
        self.abandoned += 1
        hold = int((asyncio.get_running_loop().time() - entry.joined) * self._scale())
        ctx.emit(qe.queue_caller_abandon(caller, self.name, 1, entry.original_position, hold))
        ctx.emit(qe.queue_caller_leave(caller, self.name, 1, len(self.waiting)))
        caller.variables["QUEUESTATUS"] = "TIMEOUT"
        ctx.emit(ev.varset(caller, "QUEUESTATUS", "TIMEOUT"))
        self._dispatch()
        return QueueResult.TIMEOUT

    def _hang_agent_legs(self, a1: Channel, a2: Channel) -> None:
        for ch in (a2, a1):
            ch.hung_up = True
            self.ctx.emit(ev.hangup(ch, 16))
            self.ctx.unregister(ch)

    # --- the agent side -----------------------------------------------------------------------
    def set_paused(self, interface: str, paused: bool, reason: str) -> bool:
        """QueuePause for one member; False when no member has that interface."""
        agent = self.board.by_interface(interface)
        if agent is None:
            return False
        if paused:
            self.board.hold(agent, int(self.ctx.clock()), reason or "paused")
        else:
            agent.held = ""
            left = agent.wrap_until - asyncio.get_running_loop().time()
            if agent.phase is AgentPhase.PAUSED and left > 0:
                # app_queue still applies LastCall + wrapuptime to an unpaused member.
                agent.phase, agent.paused_reason = AgentPhase.WRAPUP, ""
                self._spawn(self._end_wrapup(agent, left))
            elif agent.phase is AgentPhase.PAUSED:
                self.board.release(agent, asyncio.get_running_loop().time())
            else:
                agent.paused_reason = ""
        self._member(qe.queue_member_pause, agent)
        self._dispatch()
        return True

    async def _after_call(self, agent: Agent, rng) -> None:
        """Wrap-up (silent, as app_queue), an optional break, then offered calls again (a held
        agent stays paused)."""
        if agent.held:
            return
        await self.ctx.sleep(self.board.cfg.wrapuptime)
        if agent.held or agent.phase is not AgentPhase.WRAPUP:
            return
        pause = self.board.pause_after_wrapup(rng)
        if pause > 0:
            self.board.pause(agent, int(self.ctx.clock()), "break")
            self._member(qe.queue_member_pause, agent)
            await self.ctx.sleep(pause)
        self.board.release(agent, asyncio.get_running_loop().time())
        if pause > 0:
            self._member(qe.queue_member_pause, agent)
        self._dispatch()

    async def _end_wrapup(self, agent: Agent, real_seconds: float) -> None:
        await asyncio.sleep(real_seconds)
        if agent.phase is AgentPhase.WRAPUP and not agent.held:
            self.board.release(agent, asyncio.get_running_loop().time())
            self._dispatch()

    def _member(self, event, agent: Agent) -> None:  # noqa: ANN001
        """QueueMemberStatus / QueueMemberPause on AMI; ``MemberChanged`` to the observers."""
        self.ctx.emit(event(self.name, agent, self.login_time))
        self._tell(MemberChanged(agent))

    def _tell(self, news: QueueNews) -> None:
        for observer in self.observers:
            observer(news)

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
