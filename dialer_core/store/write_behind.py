"""Write-behind queue: progress, abandons and closes written per tick, off the event path.

The event handler only appends to the queue (no await), so a Hangup that frees a channel
reaches the pacing decision before any database round trip. A flusher task writes everything
queued per round: progress first, then abandons, then closes (bulk statements,
``dialer_core.store.attempt_batches.write_round``: one transaction, or, for a large round, one
per half of the cases on two connections at once). While the database is down nothing is
dropped: the round is kept and retried; each close that could not be written is handed once
to ``on_held`` (a durable journal may keep it), and ``on_written`` hears when held closes are
finally in the database. Attempt rows themselves are not queued: they are written before
their Originates, by the launch path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

import asyncpg

from dialer_core.store.attempt_batches import write_round
from dialer_core.store.attempts import AttemptResult
from dialer_core.store.database import DATABASE_ERRORS

log = logging.getLogger(__name__)

__all__ = ["WriteBehind"]

Results = Callable[[Sequence[AttemptResult]], None]


class WriteBehind:
    """Queue of attempt writes flushed every ``interval`` seconds (sooner when it grows)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        interval: float = 0.05,
        batch: int = 5000,
        retry: tuple[float, float] = (0.2, 5.0),
        on_held: Results | None = None,
        on_written: Results | None = None,
    ) -> None:
        self.pool = pool
        self.interval, self.batch, self.retry = interval, batch, retry
        self.on_held, self.on_written = on_held, on_written
        self._progress: list[tuple[str, str, datetime]] = []
        self._abandons: list[str] = []
        self._closes: list[AttemptResult] = []
        self._held: set[str] = set()  # call ids of closes handed to on_held, not yet written
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._lock = asyncio.Lock()  # one flush at a time (the flusher's and a final one)
        self.round_trip = 0.0  # seconds of the last successful round
        self.rounds = 0
        self.failures = 0

    # --- the event path (never awaits) --------------------------------------------------------

    def progress(self, call_id: str, state: str, at: datetime) -> None:
        """Queue "ringing" / "answered" for an open attempt (advisory)."""
        self._progress.append((call_id, state, at))
        self._queued()

    def abandon(self, call_id: str) -> None:
        """Queue the abandon flag of an answered call that found no agent."""
        self._abandons.append(call_id)
        self._queued()

    def close(self, result: AttemptResult) -> None:
        """Queue an attempt's final result; it is written exactly once, never dropped."""
        self._closes.append(result)
        self._queued()

    @property
    def depth(self) -> int:
        """Writes queued and not yet in the database."""
        return len(self._progress) + len(self._abandons) + len(self._closes)

    @property
    def holding(self) -> int:
        """Closes handed to ``on_held`` and not yet written."""
        return len(self._held)

    @property
    def held(self) -> list[AttemptResult]:
        """Closes waiting for the database (e.g. during an outage)."""
        return list(self._closes)

    # --- flushing -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Flush forever: every ``interval`` while anything is queued. Cancelling it never cuts
        a round short (the round finishes; a later ``flush`` waits for it)."""
        delay = self.retry[0]
        while True:
            if not self.depth:
                self._wake.clear()
                await self._wake.wait()
            await asyncio.sleep(self.interval)
            if await asyncio.shield(self.flush()):
                delay = self.retry[0]
            else:
                await asyncio.sleep(delay)
                delay = min(self.retry[1], delay * 2)

    async def flush(self) -> bool:
        """Write what is queued now (in rounds of at most ``batch`` closes); False if the
        database refused (everything is kept for the next try)."""
        async with self._lock:
            return await self._flush()

    async def _flush(self) -> bool:
        while self.depth:
            progress, abandons = self._progress, self._abandons
            closes, rest = self._closes[: self.batch], self._closes[self.batch :]
            self._progress, self._abandons, self._closes = [], [], rest
            self._idle.clear()
            started = time.perf_counter()
            try:
                await write_round(self.pool, progress, abandons, closes)
            except DATABASE_ERRORS as exc:
                self._requeue(progress, abandons, closes, exc)
                return False
            finally:
                self._idle.set()
            self.round_trip = time.perf_counter() - started
            self.rounds += 1
            written = [r for r in closes if r.call_id in self._held]
            if written:
                self._held.difference_update(r.call_id for r in written)
                if self.on_written is not None:
                    self.on_written(written)
        return True

    async def drain(self, timeout: float) -> bool:
        """Flush until the queue is empty or ``timeout`` passes; True when empty."""
        deadline = time.monotonic() + timeout
        await self._idle.wait()
        while self.depth and time.monotonic() < deadline:
            if not await self.flush():
                await asyncio.sleep(min(self.retry[0], max(0.0, deadline - time.monotonic())))
        return not self.depth

    def _queued(self) -> None:
        if not self._wake.is_set():
            self._wake.set()

    def _requeue(self, progress, abandons, closes: list[AttemptResult], exc: BaseException) -> None:
        self.failures += 1
        self._progress[:0] = progress
        self._abandons[:0] = abandons
        self._closes[:0] = closes
        new = [r for r in closes if r.call_id not in self._held]
        if new:
            log.error(
                "database unavailable, keeping %d call result(s) for later: %s", len(new), exc
            )
            self._held.update(r.call_id for r in new)
            if self.on_held is not None:
                self.on_held(new)
