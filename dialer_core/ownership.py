"""Runner identity, heartbeat and recovery by ownership.

Every campaign runner gets a unique id ``host:pid:start`` (start = its start time in
microseconds, plus a per-process sequence number), registered in the ``runners`` table
before it writes an attempt, and a heartbeat stamped by the database's clock. Another runner
may close an open attempt only when its owner is gone: it stopped, its heartbeat is older than
the time-to-live, or it ran on this same host and its process no longer exists. Two runners of
one campaign on one host therefore never touch each other's live calls (docs/scale-out.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from dialer_core.store import runners as store
from dialer_core.store.database import DATABASE_ERRORS
from dialer_core.store.runners import OpenAttempt

log = logging.getLogger(__name__)

HEARTBEAT_TTL = 30.0  # seconds without a heartbeat after which a runner counts as gone
_SEQ = itertools.count(1)


@dataclass(frozen=True)
class RunnerIdentity:
    """Who a runner is: its host, process and start time (unique across hosts and restarts)."""

    host: str
    pid: int
    started_at: datetime
    seq: int = 1

    @property
    def id(self) -> str:
        """``host:pid:start-microseconds.seq`` (written to attempts.runner and leases)."""
        micros = int(self.started_at.timestamp() * 1_000_000)
        return f"{self.host}:{self.pid}:{micros}.{self.seq}"

    @classmethod
    def of_this_process(cls) -> RunnerIdentity:
        """A fresh identity for a runner started now in this process."""
        return cls(socket.gethostname(), os.getpid(), datetime.now(UTC), next(_SEQ))


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def owner_gone(
    attempt: OpenAttempt,
    host: str,
    ttl: float = HEARTBEAT_TTL,
    alive: Callable[[int], bool] = pid_alive,
) -> bool:
    """Whether the runner holding ``attempt`` is gone, so its attempt may be recovered.

    Gone: no row (an id from before the runners table), stopped, heartbeat older than ``ttl``,
    or a process of this very host that no longer exists. A live process elsewhere whose
    heartbeat is fresh is never gone, whatever its host name.
    """
    if attempt.host is None or attempt.stopped:
        return True
    if attempt.heartbeat_age is not None and attempt.heartbeat_age > ttl:
        return True
    return attempt.host == host and attempt.pid is not None and not alive(attempt.pid)


async def orphaned_attempts(
    pool: asyncpg.Pool, campaign_id: int, me: RunnerIdentity, ttl: float = HEARTBEAT_TTL
) -> list[OpenAttempt]:
    """Open attempts of this campaign whose runner is gone (never one of a live runner)."""
    async with pool.acquire() as conn:
        rows = await store.others_open_attempts(conn, campaign_id, me.id)
    return [a for a in rows if owner_gone(a, me.host, ttl)]


class Heartbeat:
    """Registers a runner and stamps its heartbeat every ``interval`` seconds until stopped."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        identity: RunnerIdentity,
        campaign_id: int | None,
        interval: float = HEARTBEAT_TTL / 6,
    ) -> None:
        self.pool, self.identity, self.campaign_id = pool, identity, campaign_id
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Register (must succeed before the runner writes an attempt), then beat."""
        ident = self.identity
        async with self.pool.acquire() as conn:
            await store.register_runner(
                conn, ident.id, ident.host, ident.pid, ident.started_at, self.campaign_id
            )
        self._task = asyncio.create_task(self._beat(), name=f"heartbeat-{ident.id}")

    async def stop(self) -> None:
        """Stop beating and record a clean stop (best effort: the heartbeat expires anyway)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            async with self.pool.acquire() as conn:
                await store.mark_stopped(conn, self.identity.id)
        except DATABASE_ERRORS as exc:
            log.warning("runner %s: could not record the stop: %s", self.identity.id, exc)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                async with self.pool.acquire() as conn:
                    await store.heartbeat(conn, self.identity.id)
            except DATABASE_ERRORS as exc:
                log.warning("runner %s: heartbeat failed: %s", self.identity.id, exc)
