"""One campaign's live numbers: runner counters plus rolling windows summed in PostgreSQL.

The abandon rate of a window is abandoned / (connected + abandoned) over the attempts created
in it (the regulators' definition, as in reports/summary.py); it is summed in the database so it
covers every node dialing the campaign. Snapshots are cached for ``ttl`` seconds so many
dashboard viewers and Prometheus cost one query per campaign per second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import asyncpg

from dialer_core.campaign.manager import CampaignManager
from dialer_core.store.campaigns import campaign_state
from dialer_core.store.live import window_counts

DIAL_RATE_SECONDS = 60


@dataclass(frozen=True)
class WindowRate:
    window_seconds: int
    label: str
    connected: int
    abandoned: int
    rate: float | None  # None: no live answer in the window yet


@dataclass(frozen=True)
class AgentRow:
    agent: str
    status: str
    seconds_in_state: float


@dataclass(frozen=True)
class LiveSnapshot:
    campaign: str
    state: str
    mode: str
    at: float
    in_flight: int
    ringing: int
    waiting_for_agent: int
    launched: int  # by this process's runner since it started
    answered: int
    connected: int
    abandoned: int
    dial_rate_per_min: int  # attempts created in the last minute (all nodes)
    connects_per_min: int
    target_abandon_rate: float
    windows: tuple[WindowRate, ...]
    agents: tuple[AgentRow, ...]
    agent_counts: dict[str, int]

    def as_json(self) -> dict:
        return asdict(self)


def window_label(seconds: int) -> str:
    """3600 → '1h', 86400 → '24h', 2592000 → '30d'."""
    if seconds % 86400 == 0 and seconds >= 2 * 86400:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


class LiveStats:
    """Builds (and briefly caches) live snapshots for the campaigns of one manager."""

    def __init__(
        self, pool: asyncpg.Pool, manager: CampaignManager, clock: Callable[[], float], ttl: float
    ) -> None:
        self.pool, self.manager, self.clock, self.ttl = pool, manager, clock, ttl
        self._cache: dict[str, tuple[float, LiveSnapshot]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def snapshot(self, name: str) -> LiveSnapshot:
        """The campaign's numbers now (raises CampaignNotFound for an unknown campaign)."""
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            cached = self._cache.get(name)
            now = self.clock()
            if cached is not None and now - cached[0] < self.ttl:
                return cached[1]
            snap = await self._build(name, now)
            self._cache[name] = (now, snap)
            return snap

    async def _build(self, name: str, now: float) -> LiveSnapshot:
        campaign_id, config = await self.manager.load(name)
        rc = self.manager.running.get(name)
        if rc is not None:  # the live config (a pacing change may have replaced it)
            config = rc.config
        windows = config.pacing.ledger_windows_seconds
        async with self.pool.acquire() as conn:
            counts, dialed, connects = await window_counts(
                conn, campaign_id, datetime.fromtimestamp(now, UTC), windows, DIAL_RATE_SECONDS
            )
            db_state = await campaign_state(conn, campaign_id)
        rates = []
        for w in windows:
            connected, abandoned = counts.get(w, (0, 0))
            live = connected + abandoned
            rates.append(
                WindowRate(
                    w, window_label(w), connected, abandoned, abandoned / live if live else None
                )
            )
        agents: tuple[AgentRow, ...] = ()
        in_flight = ringing = waiting = 0
        launched = answered = connected_n = abandoned_n = 0
        state = db_state
        if rc is not None:
            state = rc.state
            in_flight, ringing, waiting = rc.in_flight, rc.ringing, rc.waiting
            st = rc.stats
            launched, answered, connected_n, abandoned_n = (
                st.launched,
                st.answered,
                st.connected,
                st.abandoned,
            )
            agents = tuple(
                AgentRow(a, s.value, round(max(0.0, now - since), 1))
                for a, (s, since) in sorted(rc.agents.items())
            )
        agent_counts: dict[str, int] = {}
        for a in agents:
            agent_counts[a.status] = agent_counts.get(a.status, 0) + 1
        return LiveSnapshot(
            campaign=name,
            state=state,
            mode=config.mode,
            at=now,
            in_flight=in_flight,
            ringing=ringing,
            waiting_for_agent=waiting,
            launched=launched,
            answered=answered,
            connected=connected_n,
            abandoned=abandoned_n,
            dial_rate_per_min=dialed,
            connects_per_min=connects,
            target_abandon_rate=config.pacing.target_abandon_rate,
            windows=tuple(rates),
            agents=agents,
            agent_counts=agent_counts,
        )
