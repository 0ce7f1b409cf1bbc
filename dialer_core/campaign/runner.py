"""The campaign runner: the I/O loop around the calls' state machine (``campaign.calls``).

One runner per campaign per process. On a freed channel, an agent change or a tick the policy
decides how many calls to place, never waiting on the database; ``launch_queue`` runs the
rounds that write the attempts BEFORE the Originates (``launch.Launcher``). Every PBX event and
handler report becomes a ``calls`` event; the runner performs the effects the call returns
(write, tell the policy, hang up) and nothing else. Durations are clock seconds; only ``tick``
(the loop's poll) and the handler's grace after a hangup (an I/O wait) are real.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg

from agi_scripts.registry import CallRegistry, LiveCall
from dialer_core.campaign import calls as c
from dialer_core.campaign.agent_book import AgentBook, RunnerStats
from dialer_core.campaign.call_io import CallTimers, hang_up, originate
from dialer_core.campaign.callerid_book import CallerIdBook
from dialer_core.campaign.chores import CampaignChores
from dialer_core.campaign.config import CampaignConfig
from dialer_core.campaign.drain import drain
from dialer_core.campaign.launch import Launcher
from dialer_core.campaign.launch_queue import LaunchQueue
from dialer_core.campaign.live_view import LiveView
from dialer_core.campaign.queue_board import SHARE_EVERY, QueueBoard
from dialer_core.campaign.queue_share import QueueShare
from dialer_core.campaign.results import ResultWriter
from dialer_core.campaign.side_writes import SideWrite, write_side
from dialer_core.campaign.sink import HandlerSink
from dialer_core.campaign.upkeep import recover_orphans, renew_leases_forever
from dialer_core.compliance.dnc import DncList
from dialer_core.ownership import Heartbeat, RunnerIdentity
from dialer_core.pacing.amd_plan import AmdSplit
from dialer_core.pacing.classify import AnswerClassifier
from dialer_core.pacing.interface import Observation, PacingPolicy, PacingView
from dialer_core.pacing.sharing import QueueClaim
from dialer_core.run_metrics import RunMetrics
from dialer_core.store.journal import ResultJournal
from pbx.driver import PbxDriver
from pbx.model import AgentEvent

log = logging.getLogger(__name__)
__all__ = ["CampaignRunner", "RunnerStats"]
DECIDE_INLINE = 0.002  # s: a freed channel decides at once unless a decision is this recent


class CampaignRunner:
    """Runs one campaign against one PBX driver until ``stop`` is set."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        driver: PbxDriver,
        campaign: CampaignConfig,
        campaign_id: int,
        policy: PacingPolicy,
        registry: CallRegistry,
        *,
        identity: RunnerIdentity,
        clock: Callable[[], float] = time.time,
        tick: float = 0.2,
        dnc: DncList | None = None,
        handling: Any = None,
        metrics: RunMetrics | None = None,
        board: QueueBoard | None = None,
        share_every: float = SHARE_EVERY,
    ) -> None:
        self.pool, self.driver, self.campaign = pool, driver, campaign
        self.campaign_id, self.policy, self.registry = campaign_id, policy, registry
        self.identity, self.runner_id = identity, identity.id
        self.clock, self.tick = clock, tick
        self.heartbeat = Heartbeat(pool, identity, campaign_id)
        self.dnc = dnc or DncList()
        self.handling = handling  # agi_scripts.handling.CallHandling, handed to the handlers
        self.answers = AnswerClassifier.for_handling(handling)  # live answers, classified
        self.amd_split = AmdSplit()  # which calls run AMD (the policy's amd_off_share)
        self.callerids = CallerIdBook(campaign.callerid, fallback=campaign.caller_id)
        self.stats = RunnerStats()
        self.book = AgentBook(campaign.queue, self.stats)
        self.results = ResultWriter(pool, ResultJournal.for_campaign(campaign.name, self.runner_id))
        self.inflight: dict[str, c.Call] = {}
        self.live, self.paused = LiveView(), False  # the pacing view's calls, kept per event
        self.metrics = (metrics or RunMetrics()).watch(self.inflight.__len__, self.results.queue)
        self.launcher = Launcher(
            pool, campaign, campaign_id, self.runner_id, self.callerids, self.stats,
            dnc=lambda: self.dnc, paused=lambda: self.paused,
        )  # fmt: skip
        self.launches = LaunchQueue(self.launcher, self._start, clock, self.metrics, tick)
        self.chores = CampaignChores(
            pool, campaign, campaign_id, clock, self.callerids, handling,
            on_dnc=lambda dnc: setattr(self, "dnc", dnc),
            on_ledger=self.observe if getattr(policy, "ledger", None) is not None else None,
        )  # fmt: skip
        self.sink = HandlerSink(clock, self._report, self._report_now)
        self._wake, self._stop, self._decided_at = asyncio.Event(), asyncio.Event(), 0.0
        self.timers = CallTimers(self._feed, clock)
        # the campaigns feeding this queue (docs/compliance.md); robot calls need no agent
        robot = campaign.mode == "robot"
        board = None if robot else board or QueueBoard(campaign.queue)
        self.share = board and QueueShare(board, self.runner_id, share_every)

    def observe(self, *observations: Observation) -> None:
        """The one way into the policy: classified call events, settings, ledger, previews."""
        for observation in observations:
            self.policy.observe(observation)
        self._wake.set()

    def reconfigure(self, campaign: CampaignConfig) -> None:
        """Take a campaign config whose live keys changed (the policy hears of it separately)."""
        self.campaign = self.launcher.campaign = self.chores.campaign = campaign

    def view(self, now: float) -> PacingView:
        """What the pacing policy may know right now (on a shared queue: ``shared_view``)."""
        view = self.live.view(
            self.book.agents, now, self.campaign.agent_wait, self.launches.launching
        )
        return view if self.share is None else self.share.view(view, now, self._claim)

    def _claim(self) -> QueueClaim:
        """What this runner has aimed at its queue now (for the other campaigns on it)."""
        dialing = self._may_launch() and not self.launches.starved
        return self.live.claim(self.runner_id, self.launches.launching, dialing)

    async def run(self, stop: asyncio.Event) -> RunnerStats:
        """Launch calls until ``stop`` is set, then let calls in flight finish (bounded)."""
        await self.heartbeat.start()  # registered before any attempt row names this runner
        await self.results.adopt_journal()  # results a runner that died here still held
        await recover_orphans(
            self.pool, self.driver, self.campaign_id, self.identity,
            self.campaign.compliance, self.clock(), self.results.write,
        )  # fmt: skip
        await self.chores.load_callerid_book()
        self.launcher.paused = lambda: self.paused or stop.is_set()  # checked mid-round too
        self._stop = stop
        stream = self.driver.events()  # opened first: no agent change after the list is missed
        for state in await self.driver.agents():
            self._agent_changed(state.agent, state.queue, state.state, self.clock())
        events = asyncio.create_task(self._consume_events(stream))
        shared, read = [], asyncio.Event()  # no decision before the others' claims are read
        if self.share is not None:
            pbx = getattr(getattr(self.driver, "client", None), "peer", "")  # its control link
            shared.append(asyncio.create_task(self.share.run(self.pool, pbx, self._claim, read)))
            await read.wait()
        renew = asyncio.create_task(
            renew_leases_forever(
                self.pool, self.runner_id, self.campaign.lease, self.clock, self._live_cases
            )
        )
        chores = asyncio.create_task(self.chores.run(self.chores.schedule()))
        writes = asyncio.create_task(self.results.run())  # off the loop: decisions never wait
        launching = asyncio.create_task(self.launches.run())
        (stopped := asyncio.create_task(stop.wait())).add_done_callback(lambda _: self._wake.set())
        try:
            while not stop.is_set():
                if self._may_launch():
                    self._decide()
                else:
                    self.launches.drop()
                    self.metrics.forget_freed()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.tick)
                self._wake.clear()
            await self.launches.close()
            self.book.close_books(self.clock())  # agents' time up to now (utilization)
            ring = self.campaign.ring_timeout + c.RING_START_ALLOWANCE  # the PBX's give-up
            await drain(self.inflight, self._feed, self.clock, ring)
        finally:
            for task in (stopped, launching, writes, renew, chores, *shared, events):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await events
            await self.results.flush()  # before the last chores read the results
            await self.chores.finish()
            if not self.results.pending:
                await self.heartbeat.stop()
        return self.stats

    def _live_cases(self) -> list[int]:
        return [x.contact.case_id for x in self.inflight.values()]

    def _may_launch(self) -> bool:
        return not (self._stop.is_set() or self.paused) and self.driver.ready

    def _decide(self) -> None:
        """Ask the policy (no database on this path); what it wants goes to the launch queue."""
        now = self.clock()
        want = self.policy.decide(now, self.view(now))
        self._decided_at = time.perf_counter()
        self.metrics.decided(self._decided_at)
        if (alarm := getattr(self.policy, "alarm", None)) and not self.paused:  # pacing.brake
            self.paused = True
            log.error("campaign %s paused by the abandonment brake: %s", self.campaign.name, alarm)
            return
        room = self.campaign.max_in_flight - len(self.inflight) - self.launches.launching
        self.launches.add(min(want, room))

    async def _start(self, call: c.Call, event: c.Event) -> None:
        if isinstance(event, c.Launch) and self.answers.amd_enabled:  # AMD off on a share
            call.amd = self.amd_split.amd_on(self.policy.amd_off_share)
        self.inflight[call.call_id] = call
        await self._feed(call, event)

    async def _consume_events(self, stream: AsyncIterator[Any]) -> None:
        async for event in stream:
            try:
                await self._on_event(event)
            except Exception:
                log.exception("event %r failed", event)

    async def _on_event(self, event) -> None:
        self.metrics.event()
        now = self.clock()
        if isinstance(event, AgentEvent):
            self._agent_changed(event.state.agent, event.state.queue, event.state.state, now)
        elif (call := self.inflight.get(getattr(event, "call_id", ""))) is not None and (
            happened := c.from_pbx(event, now)
        ) is not None:
            await self._feed(call, happened)  # closes are queued: no database wait here
        self._wake.set()

    def _agent_changed(self, agent: str, queue: str, state: str, now: float) -> None:
        observation = self.book.changed(agent, queue, state, now)
        if observation is not None:
            self.policy.observe(observation)
            self._wake.set()

    # -- answered-call handler reports (through self.sink) ----------------------------------

    async def _report(self, call_id: str, event: c.Event) -> None:
        call = self.inflight.get(call_id)
        if call is not None:
            await self._feed(call, event)
        else:  # a report on a call already closed: only its facts are stored
            await self._perform(None, c.late_report_effects(call_id, event), call_id)

    def _report_now(self, call_id: str, event: c.Event) -> None:
        """A report the handler makes without waiting: the state changes before it returns."""
        call = self.inflight.get(call_id)
        effects = self._handle(call, event) if call is not None else []
        if effects:
            self.timers.spawn(self._perform(call, effects, call_id))

    # -- effects out ---------------------------------------------------------------------------

    def _handle(self, call: c.Call, event: c.Event) -> list[c.Effect]:
        try:
            effects = call.handle(event)
            self.live.track(call)
            return effects
        except c.IllegalTransition as exc:
            if call.state is c.State.CLOSED:  # closing right now: only the facts are stored
                return c.late_report_effects(call.call_id, event)
            log.warning("%s: ignored", exc)
            return []

    async def _feed(self, call: c.Call, event: c.Event) -> None:
        await self._perform(call, self._handle(call, event), call.call_id)

    async def _perform(self, call: c.Call | None, effects: list[c.Effect], call_id: str) -> None:
        for e in effects:
            if isinstance(e, c.Observe):  # classified first: machines never count live
                self.observe(*self.answers.feed(e.observation))
            elif isinstance(e, c.RecordAmd):
                self.observe(*self.answers.amd_verdict(e.at, call_id, e.status, e.action))
                await write_side(self.pool, call_id, e)
            elif isinstance(e, c.Count):
                self.stats.count(e.what, e.key)
            elif isinstance(e, c.Register) and call is not None:
                self.registry.add(
                    LiveCall(call_id, self.campaign, call.contact, self.sink, self.handling)
                )
            elif isinstance(e, c.Originate) and call is not None:
                await originate(self.driver, call, e)
            elif isinstance(e, c.Progress | c.RecordAbandon):
                self.results.side(call_id, e)  # queued: the event path never waits on it
            elif isinstance(e, SideWrite):
                await write_side(self.pool, call_id, e)
            elif isinstance(e, c.HangUp):
                await hang_up(self.driver, call_id)
            elif isinstance(e, c.WaitForHandler | c.WaitForRing) and call is not None:
                self.timers.start(call, e)
            elif isinstance(e, c.WriteResult):
                await self.results.write(e.result)
            elif isinstance(e, c.Forget):
                self.observe(*self.answers.ended(self.clock(), call_id))
                if self.inflight.pop(call_id, None) is not None:
                    self.metrics.freed(freed := time.perf_counter())
                    if freed - self._decided_at > DECIDE_INLINE and self._may_launch():
                        self._decide()  # the freed channel reaches the policy at once
                self.registry.remove(call_id)
                self._wake.set()
