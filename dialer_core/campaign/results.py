"""Writing call results so that none is ever lost: kept in memory while the database is away."""

from __future__ import annotations

import logging

import asyncpg

from dialer_core.store import attempts as store
from dialer_core.store.database import DATABASE_ERRORS

log = logging.getLogger(__name__)


class ResultWriter:
    """Writes each attempt's result; a failed write is kept and retried by ``flush``."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._pending: list[store.AttemptResult] = []

    @property
    def pending(self) -> int:
        """Call results waiting for the database to come back (never dropped)."""
        return len(self._pending)

    async def write(self, result: store.AttemptResult) -> None:
        try:
            async with self.pool.acquire() as conn:
                await store.finish_attempt(conn, result)
        except DATABASE_ERRORS as exc:
            log.error("database unavailable, keeping result of call %s: %s", result.call_id, exc)
            self._pending.append(result)

    async def flush(self) -> None:
        """Retry every kept result (those failing again stay kept)."""
        pending, self._pending = self._pending, []
        for result in pending:
            await self.write(result)
