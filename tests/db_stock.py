"""Test databases cloned ahead and dropped behind, on a thread of their own.

Cloning the migrated template (``CREATE DATABASE ... TEMPLATE``), connecting to say so and
dropping a test's database afterwards cost PostgreSQL tens of milliseconds per test. Done on a
thread with its own event loop and one admin connection, that work overlaps the tests instead
of adding to them: a test takes a database cloned while the tests before it ran, and hands it
back to be dropped while the tests after it run. Every test still gets a database of its own,
cloned from the template and never used before.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import uuid
from collections import deque
from collections.abc import Coroutine
from typing import Any

import asyncpg


class DatabaseStock:
    """Fresh copies of ``template`` on ``server`` (a DSN without the database name)."""

    def __init__(self, server: str, template: str, strategy: str, ahead: int = 2) -> None:
        self.server, self.template, self.strategy, self.ahead = server, template, strategy, ahead
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="db-stock", daemon=True)
        self._thread.start()
        self._made: deque[concurrent.futures.Future[str]] = deque()
        self._drops: list[concurrent.futures.Future[None]] = []
        self._admin: asyncpg.Connection | None = None
        self._lock: asyncio.Lock | None = None

    def _submit(self, work: Coroutine[Any, Any, Any]) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(work, self._loop)

    async def _execute(self, sql: str) -> None:
        """Run ``sql`` on the admin connection, one statement at a time (on the stock's loop)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._admin is None:
                self._admin = await asyncpg.connect(f"{self.server}/postgres")
            await self._admin.execute(sql)

    async def _make(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        await self._execute(
            f'CREATE DATABASE "{name}" TEMPLATE "{self.template}" STRATEGY {self.strategy}'
        )
        return name

    async def take(self) -> str:
        """The name of a fresh copy of the template (cloned ahead of time when it could be)."""
        while len(self._made) <= self.ahead:
            self._made.append(self._submit(self._make()))
        return await asyncio.wrap_future(self._made.popleft())

    def give_back(self, name: str) -> None:
        """Drop database ``name`` (its connections are ended) without waiting for it."""
        self._drops = [drop for drop in self._drops if not drop.done() or drop.exception()]
        sql = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        self._drops.append(self._submit(self._execute(sql)))

    def close(self) -> None:
        """Drop what is left, wait for every drop (raising the first failure) and stop."""
        try:
            while self._made:
                self.give_back(self._made.popleft().result())
            for drop in self._drops:
                drop.result()
        finally:
            if self._admin is not None:
                self._submit(self._admin.close()).result()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
