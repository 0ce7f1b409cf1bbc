"""Writing call results so that none is ever lost: kept in memory while the database is away,
and in a durable local journal (dialer_core/store/journal.py) in case the process dies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from dialer_core.campaign import calls as c
from dialer_core.store import attempts as store
from dialer_core.store.journal import ResultJournal
from dialer_core.store.write_behind import WriteBehind


class ResultWriter:
    """Queues each attempt's result; ``flush`` (every tick of the runner) writes the queue in
    one transaction (``dialer_core.store.write_behind``). A result the database refuses is kept
    and retried, and appended once to the journal until it is written."""

    def __init__(self, pool: asyncpg.Pool, journal: ResultJournal | None = None) -> None:
        self.pool = pool
        self.journal = journal
        self.queue = WriteBehind(pool, on_held=self._held, on_written=self._written)

    @property
    def pending(self) -> int:
        """Call results not yet in the database (never dropped)."""
        return len(self.queue.held)

    async def write(self, result: store.AttemptResult) -> None:
        """Queue the result (no database round trip here)."""
        self.queue.close(result)

    async def flush(self) -> None:
        """Write everything queued (what fails again stays kept)."""
        await self.queue.flush()
        if not self.queue.held and self.journal is not None:
            self.journal.clear()

    async def run(self) -> None:
        """Write results as they are queued, every few milliseconds, until cancelled (off the
        runner's loop: a launch decision never waits for these writes)."""
        await self.queue.run()

    async def adopt_journal(self) -> None:
        """Take over and write the results a runner that died on this host still held."""
        if self.journal is not None:
            for result in self.journal.adopt():
                self.queue.close(result)
            await self.flush()

    def side(self, call_id: str, e: c.Progress | c.RecordAbandon) -> None:
        """Queue a call's progress or abandon flag; written with the next flush."""
        if isinstance(e, c.Progress):
            self.queue.progress(call_id, e.state, datetime.fromtimestamp(e.at, UTC))
        else:
            self.queue.abandon(call_id)

    def _written(self, results: Sequence[store.AttemptResult]) -> None:
        if not self.queue.holding and self.journal is not None:
            self.journal.clear()  # every result it kept is in the database now

    def _held(self, results: Sequence[store.AttemptResult]) -> None:
        if self.journal is not None:
            for result in results:
                self.journal.append(result)
