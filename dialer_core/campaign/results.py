"""Writing call results so that none is ever lost: kept in memory while the database is away,
and in a durable local journal (dialer_core/store/journal.py) in case the process dies."""

from __future__ import annotations

import logging

import asyncpg

from dialer_core.store import attempts as store
from dialer_core.store.database import DATABASE_ERRORS
from dialer_core.store.journal import ResultJournal

log = logging.getLogger(__name__)


class ResultWriter:
    """Writes each attempt's result; a failed write is kept and retried by ``flush``."""

    def __init__(self, pool: asyncpg.Pool, journal: ResultJournal | None = None) -> None:
        self.pool = pool
        self.journal = journal
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
            if self.journal is not None:
                self.journal.append(result)

    async def flush(self) -> None:
        """Retry every kept result (those failing again stay kept)."""
        pending, self._pending = self._pending, []
        for result in pending:
            await self.write(result)
        if not self._pending and self.journal is not None:
            self.journal.clear()

    async def adopt_journal(self) -> None:
        """Take over and write the results a runner that died on this host still held."""
        if self.journal is not None:
            self._pending.extend(self.journal.adopt())
            await self.flush()
