"""The campaigns this process runs: start, pause, resume, stop, and their live state.

The HTTP API and the CLI go through this; the database's ``campaigns.state`` column mirrors it
so a supervisor on another node sees the same state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from agi_scripts.registry import CallRegistry
from dialer_core.campaign.assembly import make_runner
from dialer_core.campaign.config import CampaignConfig, parse_campaign
from dialer_core.campaign.queue_board import QueueBoards
from dialer_core.campaign.runner import CampaignRunner, RunnerStats
from dialer_core.pacing.interface import AgentStatus, PreviewRequest, SettingsObservation
from dialer_core.store.campaigns import ensure_campaign, find_campaign, set_campaign_state
from pbx.driver import PbxDriver

log = logging.getLogger(__name__)
PBX_TIMEOUT = 3.0  # seconds a supervisor or agent action may wait for the PBX


class CampaignNotFound(KeyError):
    """No campaign of that name in the database."""


class NotPreview(ValueError):
    """A preview request to a campaign that is not in preview mode."""


class AgentNotHere(KeyError):
    """The agent is not logged in to the campaign's queue."""


@dataclass
class RunningCampaign:
    config: CampaignConfig
    campaign_id: int
    runner: CampaignRunner
    stop: asyncio.Event
    task: asyncio.Task

    @property
    def stats(self) -> RunnerStats:
        """The runner's counters since it started."""
        return self.runner.stats

    @property
    def in_flight(self) -> int:
        return len(self.runner.inflight)

    @property
    def pending_results(self) -> int:
        """Call results held in memory until the database is back."""
        return self.runner.results.pending

    @property
    def ringing(self) -> int:
        return sum(1 for c in self.runner.inflight.values() if c.ringing)

    @property
    def waiting(self) -> int:
        return sum(1 for c in self.runner.inflight.values() if c.waiting)

    @property
    def agents(self) -> dict[str, tuple[AgentStatus, float]]:
        """seat → (status, since) as the campaign's pacer sees them."""
        return dict(self.runner.book.agents)

    @property
    def state(self) -> str:
        if self.task.done():
            return "stopped"
        if self.stop.is_set():
            return "stopping"
        return "paused" if self.runner.paused else "running"


class CampaignManager:
    """Runs campaigns against one PBX driver, sharing one answered-call registry."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        driver: PbxDriver,
        registry: CallRegistry,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool, self.driver, self.registry, self.clock = pool, driver, registry, clock
        self.running: dict[str, RunningCampaign] = {}
        self.boards = QueueBoards()  # the campaigns of one queue share its members

    async def _set_state(self, campaign_id: int, state: str) -> None:
        async with self.pool.acquire() as conn:
            await set_campaign_state(conn, campaign_id, state)

    async def load(self, name: str) -> tuple[int, CampaignConfig]:
        """A campaign's id and validated config from the database."""
        async with self.pool.acquire() as conn:
            row = await find_campaign(conn, name)
        if row is None:
            raise CampaignNotFound(name)
        doc = row.config
        doc.setdefault("campaign", {})["name"] = name
        return row.id, parse_campaign(doc, f"campaign {name!r} (database)")

    async def create(self, config: CampaignConfig) -> int:
        """Store (or replace) a campaign's config; returns its id."""
        async with self.pool.acquire() as conn:
            return await ensure_campaign(conn, config.name, config.mode, config.raw)

    async def start(self, name: str) -> RunningCampaign:
        """Start a runner for ``name`` (a no-op if it already runs here)."""
        current = self.running.get(name)
        if current is not None and not current.task.done():
            return current
        campaign_id, config = await self.load(name)
        board = self.boards(config.queue)
        runner = await make_runner(
            self.pool, self.driver, config, self.registry, self.clock, board=board
        )
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop), name=f"campaign:{name}")
        task.add_done_callback(lambda t: self._ended(name, campaign_id, t))
        self.running[name] = RunningCampaign(config, campaign_id, runner, stop, task)
        await self._set_state(campaign_id, "running")
        log.info("campaign %s started", name)
        return self.running[name]

    def _ended(self, name: str, campaign_id: int, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("campaign %s stopped on an error: %r", name, task.exception())
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(self._set_state(campaign_id, "stopped"))

    def get(self, name: str) -> RunningCampaign:
        try:
            return self.running[name]
        except KeyError as exc:
            raise CampaignNotFound(name) from exc

    async def pause(self, name: str) -> None:
        """Launch no new calls; calls in flight finish normally."""
        rc = self.get(name)
        rc.runner.paused = True
        await self._set_state(rc.campaign_id, "paused")

    async def resume(self, name: str) -> None:
        rc = self.get(name)
        rc.runner.paused = False
        getattr(rc.runner.policy, "resume", lambda: None)()  # clears a brake alarm
        await self._set_state(rc.campaign_id, "running")

    async def stop(self, name: str, timeout: float = 120.0) -> None:
        """Stop launching, let calls in flight end, close every attempt."""
        rc = self.get(name)
        rc.stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(rc.task), timeout)

    def change_pacing(self, name: str, config: CampaignConfig) -> bool:
        """Hand a running campaign its new live pacing settings; False if it does not run."""
        rc = self.running.get(name)
        if rc is None or rc.task.done():
            return False
        rc.config = config
        rc.runner.reconfigure(config)
        p = config.pacing
        rc.runner.observe(
            SettingsObservation(self.clock(), p.target_abandon_rate, p.lines_per_agent)
        )
        return True

    def request_preview(self, name: str, agent: str) -> None:
        """The agent asks to dial the previewed contact now (raises NotPreview, AgentNotHere)."""
        rc = self.get(name)
        if rc.config.mode != "preview":
            raise NotPreview(f"campaign {name!r} is in {rc.config.mode} mode, not preview")
        if agent not in rc.runner.book.agents:
            raise AgentNotHere(f"agent {agent!r} is not logged in to this campaign's queue")
        rc.runner.observe(PreviewRequest(self.clock(), agent))

    def agent_call(self, seat: str) -> str | None:
        """The call the agent at ``seat`` is connected to now, in any campaign run here."""
        for rc in self.running.values():
            for call in rc.runner.inflight.values():
                if call.connected and call.agent == seat:
                    return call.call_id
        return None

    def agent_state(self, seat: str) -> tuple[str, float] | None:
        """The seat's state as the pacer sees it, and since when; None if no campaign has it."""
        for rc in self.running.values():
            found = rc.runner.book.agents.get(seat)
            if found is not None:
                return found[0].value, found[1]
        return None

    def agent_states(self, name: str) -> dict[str, tuple[str, float]]:
        """The campaign's agents as its pacer sees them: seat → (state, since)."""
        rc = self.running.get(name)
        if rc is None:
            return {}
        return {
            seat: (status.value, since) for seat, (status, since) in rc.runner.book.agents.items()
        }

    def live_queue(self, name: str, now: float) -> dict[str, Any] | None:
        """Calls in flight, ringing, waiting for an agent (longest wait), robot sessions, and
        ringing lines per staffed agent; None when the campaign does not run here."""
        rc = self.running.get(name)
        if rc is None or rc.task.done():
            return None
        calls = list(rc.runner.inflight.values())
        waits = [now - c.waiting_since for c in calls if c.waiting_since is not None and c.waiting]
        view = rc.runner.view(now)
        staffed = sum(1 for a in view.agents if a.status.value not in ("paused", "logged_out"))
        ringing = sum(1 for c in calls if c.ringing)
        return {
            "in_flight": len(calls),
            "ringing": ringing,
            "waiting": len(waits),
            "longest_wait_seconds": round(max(waits), 1) if waits else 0.0,
            "robot_sessions": int(view.extra.get("robot_sessions", 0)),
            "lines_per_agent": round(ringing / staffed, 2) if staffed else None,
            "launching": rc.state == "running",
        }

    async def spy(self, spy_id: str, phone: str, seat: str, call_id: str, mode: str) -> None:
        """Ring ``phone``; on answer it listens / whispers / barges into the seat's call."""
        await asyncio.wait_for(self.driver.spy(spy_id, phone, seat, call_id, mode), PBX_TIMEOUT)

    async def set_agent_paused(self, seat: str, paused: bool, reason: str) -> None:
        """Pause (with a reason) or unpause the seat in every queue, on the PBX."""
        await asyncio.wait_for(self.driver.set_agent_paused(seat, paused, reason), PBX_TIMEOUT)

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(n) for n in list(self.running)), return_exceptions=True)
