"""The campaign runner: where pacing, rules, storage and the PBX meet. Orchestration only.

One runner per campaign per process. It leases contacts, writes each attempt BEFORE the
originate, follows the call events, and closes every attempt exactly once with a disposition
and a redial time. Business rules live in the pure modules it calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from agi_scripts.registry import CallRegistry, LiveCall
from dialer_core.callerid.presence import NoCallerId
from dialer_core.campaign.callerid_book import CallerIdBook
from dialer_core.campaign.chores import CampaignChores
from dialer_core.campaign.config import CampaignConfig
from dialer_core.campaign.dispositions import disposition_for
from dialer_core.compliance.decision import check_contact, next_attempt
from dialer_core.compliance.dnc import DncList
from dialer_core.compliance.model import PastAttempt, mask
from dialer_core.compliance.region import ZoneUnknown
from dialer_core.compliance.windows import window_check
from dialer_core.ownership import Heartbeat, RunnerIdentity, orphaned_attempts
from dialer_core.pacing.interface import (
    AgentObservation,
    AgentStatus,
    AgentView,
    CallObservation,
    Outcome,
    PacingPolicy,
    PacingView,
)
from dialer_core.store import attempts as store
from dialer_core.store.database import DATABASE_ERRORS
from dialer_core.store.dnc import fresh_dnc
from pbx.driver import PbxDriver
from pbx.model import (
    AgentConnected,
    AgentEvent,
    Answered,
    CallRequest,
    Hangup,
    OriginateFailed,
    Result,
    Ringing,
)

log = logging.getLogger(__name__)
HANDLER_GRACE = 15.0  # seconds to let an answered-call handler finish after the hangup


@dataclass
class InFlight:
    """A call we launched and have not closed yet."""

    call_id: str
    contact: store.Contact
    launched_at: float
    history: list[PastAttempt] = field(default_factory=list)  # the case's earlier attempts
    answered_at: float | None = None
    waiting_since: float | None = None
    connected: bool = False
    agent: str = ""
    handler_started: bool = False
    handler_done: asyncio.Event = field(default_factory=asyncio.Event)
    handler_disposition: str = ""
    abandoned: bool = False
    handler_detail: dict[str, Any] = field(default_factory=dict)
    closing: bool = False


@dataclass
class RunnerStats:
    launched: int = 0
    answered: int = 0
    connected: int = 0
    abandoned: int = 0
    finished: int = 0
    skipped_duplicates: int = 0
    held_by_rules: dict[str, int] = field(default_factory=dict)  # denial code → count
    dispositions: dict[str, int] = field(default_factory=dict)
    agent_seconds: dict[str, float] = field(default_factory=dict)  # by agent status

    def talk_utilization(self) -> float | None:
        """Talking time over logged-in time, over the agent states seen so far."""
        logged_in = sum(self.agent_seconds.values())
        return self.agent_seconds.get("talking", 0.0) / logged_in if logged_in else None


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
    ) -> None:
        self.pool, self.driver, self.campaign = pool, driver, campaign
        self.campaign_id, self.policy, self.registry = campaign_id, policy, registry
        self.identity, self.runner_id = identity, identity.id
        self.clock, self.tick = clock, tick
        self.heartbeat = Heartbeat(pool, identity, campaign_id)
        self.rules = campaign.compliance
        self.dnc = dnc or DncList()
        self.handling = handling  # agi_scripts.handling.CallHandling, handed to the handlers
        self.callerids = CallerIdBook(campaign.callerid, fallback=campaign.caller_id)
        self.chores = CampaignChores(self)
        self.inflight: dict[str, InFlight] = {}
        self.agents: dict[str, tuple[AgentStatus, float]] = {}
        self.stats = RunnerStats()
        self.paused = False
        self._wake = asyncio.Event()
        self._pending_results: list[store.AttemptResult] = []
        self._tasks: set[asyncio.Task] = set()

    # -- helpers -----------------------------------------------------------------------------

    def _dt(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, UTC)

    def view(self, now: float) -> PacingView:
        """What the pacing policy may know right now."""
        agents = tuple(AgentView(a, s, since) for a, (s, since) in self.agents.items())
        ringing = tuple(c.launched_at for c in self.inflight.values() if c.answered_at is None)
        waiting = tuple(
            c.waiting_since
            for c in self.inflight.values()
            if c.waiting_since is not None
            and not c.connected
            and now - c.waiting_since <= self.campaign.agent_wait
        )
        # Answered calls held by the answered-call handler without an agent: robot dialogs.
        robot = sum(
            1
            for c in self.inflight.values()
            if c.handler_started and c.waiting_since is None and not c.connected
        )
        return PacingView(
            agents=agents, ringing=ringing, waiting=waiting, extra={"robot_sessions": float(robot)}
        )

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- main loop ---------------------------------------------------------------------------

    @property
    def pending_results(self) -> int:
        """Call results waiting for the database to come back (never dropped)."""
        return len(self._pending_results)

    def close_agent_books(self) -> None:
        """Account the time of every agent's current state up to now (for utilization)."""
        now = self.clock()
        for agent, (status, since) in self.agents.items():
            spent = self.stats.agent_seconds
            spent[status.value] = spent.get(status.value, 0.0) + now - since
            self.agents[agent] = (status, now)

    async def run(self, stop: asyncio.Event) -> RunnerStats:
        """Launch calls until ``stop`` is set, then let calls in flight finish (bounded)."""
        await self.heartbeat.start()  # registered before any attempt row names this runner
        await self._recover_orphans()
        await self.chores.load_callerid_book()
        for state in await self.driver.agents():
            self._agent_changed(state.agent, state.queue, state.state, self.clock())
        events = asyncio.create_task(self._consume_events())
        renew = asyncio.create_task(self._renew_leases_forever())
        chores = asyncio.create_task(self.chores.run(self.chores.schedule()))
        try:
            while not stop.is_set():
                await self._flush_pending_results()
                if not self.paused and self.driver.ready:
                    try:
                        await self._launch_round()
                    except DATABASE_ERRORS as exc:
                        log.warning("launch round failed, retrying: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.tick)
                self._wake.clear()
            self.close_agent_books()
            await self._drain(timeout=self.campaign.ring_timeout + HANDLER_GRACE + 30)
        finally:
            renew.cancel()
            chores.cancel()
            await self.chores.finish()
            events.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await events
            await self._flush_pending_results()
            if not self._pending_results:
                await self.heartbeat.stop()
        return self.stats

    async def _drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.inflight and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for call_id in list(self.inflight):
            log.warning("call %s still up at shutdown: hanging up", call_id)
            with contextlib.suppress(Exception):
                await self.driver.hangup(call_id)
        deadline = time.monotonic() + 10
        while self.inflight and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for call_id in list(self.inflight):
            await self._close_lost(call_id, "runner stopped before the PBX reported the end")

    async def _launch_round(self) -> None:
        now = self.clock()
        want = self.policy.decide(now, self.view(now))
        room = self.campaign.max_in_flight - len(self.inflight)
        n = max(0, min(want, room))
        if n == 0:
            return
        async with self.pool.acquire() as conn:
            contacts = await store.lease_contacts(
                conn,
                self.campaign_id,
                self.runner_id,
                n,
                self._dt(now),
                timedelta(seconds=self.campaign.lease),
            )
            if not contacts:
                return
            self.dnc = await fresh_dnc(conn, self.campaign.name, self.dnc)  # DB, now
            histories = await store.rule_histories(conn, contacts)
            for contact in contacts:
                if self.paused:  # paused mid-round: hand the rest back undialed
                    await store.release_lease(conn, contact.case_id, self.runner_id)
                    continue
                history = histories[contact.case_id]
                if not await self._rules_allow(conn, contact, history, now):
                    continue
                caller_id = await self._caller_id_for(conn, contact, now)
                if caller_id is None:
                    continue
                call_id = await store.create_attempt(
                    conn, self.campaign_id, contact, self.runner_id, caller_id, self._dt(now)
                )
                if call_id is None:  # the case or the number is already being rung
                    self.stats.skipped_duplicates += 1
                    await store.release_lease(conn, contact.case_id, self.runner_id)
                    continue
                self.callerids.note(caller_id, self._dt(now))
                await self._originate(call_id, contact, history, caller_id, self.clock())

    async def _caller_id_for(self, conn, contact: store.Contact, now: float) -> str | None:
        """A local number for this callee; None (contact released) if every number is spent."""
        region = contact.rule_contact().region()
        choice = self.callerids.pick(region, self._dt(now))
        if isinstance(choice, NoCallerId):
            self._held("callerid")
            log.warning("no caller ID for case %s: %s", contact.external_id, choice.reason)
            retry = self._dt(now) + timedelta(minutes=15)
            await store.release_lease(conn, contact.case_id, self.runner_id, retry)
            return None
        return choice.number

    def _held(self, code: str) -> None:
        self.stats.held_by_rules[code] = self.stats.held_by_rules.get(code, 0) + 1

    async def _rules_allow(
        self, conn, contact: store.Contact, history: list[PastAttempt], now: float
    ) -> bool:
        """The compliance check at lease time; a held contact goes back with its retry time."""
        decision = check_contact(
            contact.rule_contact(),
            history,
            self._dt(now),
            self.rules,
            self.dnc,
        )
        if decision:
            return True
        self._held(decision.code)
        if decision.retry_at is not None:
            await store.release_lease(conn, contact.case_id, self.runner_id, decision.retry_at)
        else:
            log.info(
                "case %s phone %s stopped by the rules: %s",
                contact.external_id,
                mask(contact.e164),
                decision.reason,
            )
            await store.stop_contact(
                conn, contact.case_id, contact.phone_id, self.runner_id, decision.code
            )
        return False

    def _still_allowed(self, contact: store.Contact, now: float) -> str:
        """The last check right before the Originate: DNC and the window, at this instant."""
        if self.dnc.match(contact.e164) is not None:
            return "dnc"
        region = contact.rule_contact().region()
        if isinstance(region, ZoneUnknown) or not window_check(
            region, self._dt(now), self.rules.window
        ):
            return "window"
        return ""

    async def _originate(
        self,
        call_id: str,
        contact: store.Contact,
        history: list[PastAttempt],
        caller_id: str,
        now: float,
    ) -> None:
        blocked = self._still_allowed(contact, now)
        if blocked:
            self._held(blocked)
            call = InFlight(call_id, contact, launched_at=now, history=history)
            self.inflight[call_id] = call
            await self._close(
                call,
                Hangup(call_id, 0, f"held by the rules: {blocked}", False, Result.FAILED),
                now,
                disposition=store.NOT_DIALED,
            )
            return
        call = InFlight(call_id, contact, launched_at=now, history=history)
        self.inflight[call_id] = call
        self.registry.add(LiveCall(call_id, self.campaign, contact, self, self.handling))
        self.policy.observe(CallObservation(now, call_id, Outcome.LAUNCHED))
        self.stats.launched += 1
        request = CallRequest(
            call_id=call_id,
            destination=contact.e164,
            caller_id=caller_id,
            ring_timeout=self.campaign.ring_timeout,
            campaign=self.campaign.name,
            variables={
                "PACEDIAL_CAMPAIGN": self.campaign.name,
                "PACEDIAL_CASE_ID": str(contact.case_id),
            },
        )
        log.info(
            "originate call=%s case=%s to=%s", call_id, contact.external_id, mask(contact.e164)
        )
        try:
            await self.driver.originate(request)
        except Exception as exc:  # link lost mid-send: the call may exist; reconcile decides
            log.warning("originate call=%s: %s; will reconcile after reconnect", call_id, exc)

    # -- events --------------------------------------------------------------------------------

    async def _consume_events(self) -> None:
        async for event in self.driver.events():
            try:
                await self._on_event(event)
            except Exception:
                log.exception("event %r failed", event)

    async def _on_event(self, event) -> None:
        now = self.clock()
        if isinstance(event, AgentEvent):
            self._agent_changed(event.state.agent, event.state.queue, event.state.state, now)
            self._wake.set()
            return
        call = self.inflight.get(getattr(event, "call_id", ""))
        if call is None:
            return
        if isinstance(event, Ringing):
            await self._db_progress(call.call_id, "ringing", now)
        elif isinstance(event, Answered):
            if call.answered_at is None:
                call.answered_at = now
                self.stats.answered += 1
                self.policy.observe(
                    CallObservation(
                        now, call.call_id, Outcome.HUMAN_ANSWERED, duration=now - call.launched_at
                    )
                )
                await self._db_progress(call.call_id, "answered", now)
        elif isinstance(event, AgentConnected):
            if not call.connected:
                call.connected, call.agent = True, event.agent
                self.stats.connected += 1
                self.policy.observe(
                    CallObservation(now, call.call_id, Outcome.CONNECTED, wait=event.wait)
                )
        elif isinstance(event, Hangup):
            self._spawn(self._close(call, event, now))
        elif isinstance(event, OriginateFailed):
            self._spawn(
                self._close(call, Hangup(call.call_id, 0, event.reason, False, Result.FAILED), now)
            )
        self._wake.set()

    def _agent_changed(self, agent: str, queue: str, state: str, now: float) -> None:
        if queue and queue != self.campaign.queue:
            return
        status = AgentStatus(state) if state in AgentStatus._value2member_map_ else None
        if status is None:  # "ringing": the agent is being offered a call, i.e. not idle
            status = AgentStatus.TALKING
        previous = self.agents.get(agent)
        if previous is not None and previous[0] == status:
            return
        if previous is not None:
            spent = self.stats.agent_seconds
            spent[previous[0].value] = spent.get(previous[0].value, 0.0) + now - previous[1]
        if status == AgentStatus.LOGGED_OUT:
            self.agents.pop(agent, None)
        else:
            self.agents[agent] = (status, now)
        self.policy.observe(AgentObservation(now, agent, status))

    async def _db_progress(self, call_id: str, state: str, now: float) -> None:
        try:
            async with self.pool.acquire() as conn:
                await store.mark_state(conn, call_id, state, self._dt(now))
        except DATABASE_ERRORS as exc:  # progress is advisory; the end is not
            log.warning("could not record %s for call %s: %s", state, call_id, exc)

    # -- answered-call sink (called by the FastAGI / ESL handlers) --------------------------

    def queue_wait_started(self, call_id: str) -> None:
        call = self.inflight.get(call_id)
        if call is not None:
            call.handler_started = True
            call.waiting_since = self.clock()

    async def amd_decided(self, call_id: str, status: str, cause: str, action: str) -> None:
        if status == "MACHINE" and action != "human":
            self.policy.observe(CallObservation(self.clock(), call_id, Outcome.MACHINE_ANSWERED))
        async with self.pool.acquire() as conn:
            await store.record_amd(conn, call_id, status, cause, action, self._dt(self.clock()))

    async def recording_started(self, call_id: str, path: str) -> None:
        async with self.pool.acquire() as conn:
            await store.record_recording(conn, call_id, path, self._dt(self.clock()))

    async def abandoned(self, call_id: str) -> None:
        call = self.inflight.get(call_id)
        now = self.clock()
        if call is not None:
            self.stats.abandoned += 1
            wait = now - (call.waiting_since or now)
            self.policy.observe(CallObservation(now, call_id, Outcome.ABANDONED, wait=wait))
            call.waiting_since = None
            call.abandoned = True  # also written with the final result, if this write fails
        try:
            async with self.pool.acquire() as conn:
                await store.record_abandon(conn, call_id)
        except DATABASE_ERRORS as exc:
            log.warning("call %s: abandon kept for the final write: %s", call_id, exc)

    async def handler_finished(
        self, call_id: str, disposition: str, detail: dict[str, Any]
    ) -> None:
        call = self.inflight.get(call_id)
        if call is None:
            return
        call.handler_disposition, call.handler_detail = disposition, detail
        call.handler_done.set()  # the agent and the abandon flag go with the final result

    def handler_started(self, call_id: str) -> None:
        call = self.inflight.get(call_id)
        if call is not None:
            call.handler_started = True

    # -- closing attempts ----------------------------------------------------------------------

    async def _close(
        self, call: InFlight, hangup: Hangup, now: float, disposition: str = ""
    ) -> None:
        if call.closing:
            return
        call.closing = True
        if hangup.answered and call.answered_at is None:
            call.answered_at = now
        if call.handler_started and not call.handler_done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.handler_done.wait(), HANDLER_GRACE)
        if not hangup.answered and not disposition:
            self.policy.observe(
                CallObservation(
                    now,
                    call.call_id,
                    Outcome.FAILED,
                    cause=hangup.cause,
                    duration=now - call.launched_at,
                )
            )
        disposition = disposition or disposition_for(
            hangup.result, hangup.answered, call.handler_disposition, call.connected
        )
        abandoned = disposition == "abandoned"
        finished = PastAttempt(
            at=self._dt(call.launched_at),
            phone=call.contact.e164,
            case_id=str(call.contact.case_id),
            disposition=disposition,
            connected=hangup.answered and not abandoned and disposition != "machine",
            abandoned=abandoned,
            machine=disposition == "machine",
            debtor=call.contact.debtor_key,
        )
        if disposition == store.NOT_DIALED:
            redial_at, stop, advance, close, reason = self._dt(now), False, False, False, ""
        else:
            redial = next_attempt(
                finished, call.history, self._dt(now), self.rules, call.contact.address_zones
            )
            redial_at, stop, advance = redial.next_at, redial.stop_phone, redial.next_phone
            close, reason = redial.close_case, redial.reason
        result = store.AttemptResult(
            call_id=call.call_id,
            ended_at=self._dt(now),
            disposition=disposition,
            pbx_result=hangup.result.value,
            q850_cause=hangup.cause,
            cause_text=hangup.cause_text,
            talk_seconds=hangup.talk_seconds,
            next_attempt_at=redial_at,
            stop_phone=stop,
            advance_phone=advance,
            close_case=close,
            reason=reason,
            agent=call.agent,
            abandoned=call.abandoned or disposition == "abandoned",
            detail={**call.handler_detail, **({"agent": call.agent} if call.agent else {})},
        )
        await self._write_result(result)
        self.stats.finished += 1
        self.stats.dispositions[disposition] = self.stats.dispositions.get(disposition, 0) + 1
        self.inflight.pop(call.call_id, None)
        self.registry.remove(call.call_id)
        self._wake.set()

    async def _write_result(self, result: store.AttemptResult) -> None:
        try:
            async with self.pool.acquire() as conn:
                await store.finish_attempt(conn, result)
        except DATABASE_ERRORS as exc:
            # Never lose a call record: keep it and retry until the database is back.
            log.error("database unavailable, keeping result of call %s: %s", result.call_id, exc)
            self._pending_results.append(result)

    async def _flush_pending_results(self) -> None:
        pending, self._pending_results = self._pending_results, []
        for result in pending:
            await self._write_result(result)

    async def _close_lost(self, call_id: str, why: str) -> None:
        call = self.inflight.get(call_id)
        if call is None:
            return
        log.warning("call %s: %s", call_id, why)
        await self._close(
            call, Hangup(call_id, 0, why, call.answered_at is not None, Result.FAILED), self.clock()
        )

    async def _recover_orphans(self) -> None:
        """Open attempts of runners that are gone are closed as 'lost' and redialed.

        Only attempts whose runner stopped, stopped beating or died on this host are touched
        (``dialer_core.ownership``): a live runner's calls are never hung up or closed.
        """
        left = await orphaned_attempts(self.pool, self.campaign_id, self.identity)
        if not left:
            return
        live = await self.driver.live_calls()
        now = self.clock()
        delay = self.rules.redial.rule_for("lost").delay
        for row in left:
            if row.call_id in live:
                with contextlib.suppress(Exception):
                    await self.driver.hangup(row.call_id)
            await self._write_result(
                store.AttemptResult(
                    call_id=row.call_id,
                    ended_at=self._dt(now),
                    disposition="lost",
                    pbx_result="unknown",
                    q850_cause=None,
                    cause_text=f"open when runner {row.runner} stopped",
                    talk_seconds=0.0,
                    next_attempt_at=self._dt(now) + delay,
                )
            )
            log.warning("closed attempt %s left open by runner %s", row.call_id, row.runner)

    async def _renew_leases_forever(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, self.campaign.lease / 4))
            cases = [c.contact.case_id for c in self.inflight.values()]
            if not cases:
                continue
            until = self._dt(self.clock() + self.campaign.lease)
            try:
                async with self.pool.acquire() as conn:
                    await store.renew_leases(conn, self.runner_id, cases, until)
            except DATABASE_ERRORS as exc:
                log.warning("lease renewal failed: %s", exc)
