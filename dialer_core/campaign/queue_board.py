"""Campaigns sharing one agent queue: the runners' in-flight picture per queue.

In one process the runners of a queue read each other's claims live through one
``QueueBoard`` (the campaign manager keeps one per queue). Across processes and hosts each
runner writes its claim to PostgreSQL every ``SHARE_EVERY`` seconds and reads the others'
(``share_forever``); rows of runners that stopped or whose heartbeat expired are ignored.
``pacing.sharing.shared_view`` turns the claims into the runner's pacing view.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable

import asyncpg

from dialer_core.ownership import HEARTBEAT_TTL
from dialer_core.pacing.sharing import QueueClaim
from dialer_core.store.database import DATABASE_ERRORS
from dialer_core.store.queue_claims import peer_claims, publish_claim

log = logging.getLogger(__name__)
SHARE_EVERY = 1.0  # seconds between two writes / reads of the claims in PostgreSQL


class QueueBoard:
    """The claims on one queue: this process's runners (read live) and other processes'
    runners (as last read from the database)."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.local: dict[str, Callable[[], QueueClaim]] = {}
        self.remote: list[QueueClaim] = []

    def join(self, runner: str, claim: Callable[[], QueueClaim]) -> None:
        """``runner`` feeds this queue; ``claim`` tells what it has aimed at it now."""
        self.local[runner] = claim

    def leave(self, runner: str) -> None:
        self.local.pop(runner, None)

    def claim_of(self, runner: str) -> QueueClaim:
        return self.local[runner]()

    @property
    def late(self) -> bool:
        """Whether a claim of another process is in the picture (read from the database, so
        possibly behind)."""
        return any(c.runner not in self.local for c in self.remote)

    def others(self, runner: str) -> list[QueueClaim]:
        """Every claim on the queue but ``runner``'s own (a local runner's read live)."""
        mine = [fn() for r, fn in self.local.items() if r != runner]
        return mine + [c for c in self.remote if c.runner not in self.local]


class QueueBoards:
    """One board per queue name, for the runners of one process."""

    def __init__(self) -> None:
        self._boards: dict[str, QueueBoard] = {}

    def __call__(self, queue: str) -> QueueBoard:
        return self._boards.setdefault(queue, QueueBoard(queue))


def shared_queue_key(queue: str, pbx: str, host: str | None = None) -> str:
    """The name runners share ``queue`` under in PostgreSQL: ``queue@pbx``, where ``pbx`` is
    the control link's ``host:port``; a PBX on loopback is this host's own, so its address is
    qualified with this host's name (runners on two nodes, each with its own local PBX, never
    split each other's members)."""
    address, _, _ = pbx.rpartition(":")
    try:
        loopback = address == "localhost" or ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        pbx = f"{host or socket.gethostname()}/{pbx}"
    return f"{queue}@{pbx}"


async def share_forever(
    pool: asyncpg.Pool,
    board: QueueBoard,
    runner: str,
    key: str,
    every: float = SHARE_EVERY,
    read: asyncio.Event | None = None,
) -> None:
    """Publish ``runner``'s claim on the queue named ``key`` (``shared_queue_key``) and read
    the other processes' claims on it, every ``every`` s,
    until cancelled; the runner then leaves the board. Its row is ignored once the runner is
    marked stopped or ``HEARTBEAT_TTL`` after its last write. A database error keeps the
    claims last read. ``read`` is set after the first try (the runner decides only then)."""
    failed = False
    try:
        while True:
            try:
                async with pool.acquire() as conn:
                    await publish_claim(conn, key, board.claim_of(runner))
                    board.remote = await peer_claims(conn, key, runner, HEARTBEAT_TTL)
                failed = False
            except DATABASE_ERRORS as exc:
                if not failed:
                    log.warning("queue %s: claims not shared: %s", board.queue, exc)
                failed = True
            finally:
                if read is not None:
                    read.set()
            await asyncio.sleep(every)
    finally:
        board.leave(runner)
