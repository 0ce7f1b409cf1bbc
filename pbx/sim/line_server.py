"""The loopback TCP server under the simulated PBX's control sockets (AMI, inbound ESL).

What both share lives here: listening, one task per connection and its read loop, an abrupt
drop of every connection (what a network failure looks like to the client), and an orderly
close. A subclass says what a connection is (``_accept``), what the server writes first
(``_greeting``), and what received bytes do (``_received``, which parses with the protocol's
sans-IO codec and answers through the connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from typing import ClassVar, Generic, TypeVar

__all__ = ["LineConnection", "LineServer"]

log = logging.getLogger(__name__)


class LineConnection:
    """One accepted socket: bytes are written while it is open; ``abort`` cuts it (RST-like)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    def write(self, data: bytes) -> None:
        """Queue ``data`` on the socket (dropped silently once it is closing)."""
        if not self.writer.is_closing():
            self.writer.write(data)

    def abort(self) -> None:
        """Cut the socket at once, without a graceful close."""
        transport = self.writer.transport
        if transport is not None:
            transport.abort()


ConnT = TypeVar("ConnT", bound=LineConnection)


class LineServer(ABC, Generic[ConnT]):
    """Listens on ``host:port`` (an ephemeral port by default) and serves each connection."""

    label: ClassVar[str]  # names the protocol in errors and logs ("AMI", "ESL")
    protocol_errors: ClassVar[tuple[type[Exception], ...]]  # a peer's bad bytes: close

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self.connections: set[ConnT] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port it listens on (known once started)."""
        if self._server is None:
            raise RuntimeError(f"{self.label} server not started")
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        """Start listening."""
        self._server = await asyncio.start_server(self._serve, self._host, self._port)

    async def drop_all(self) -> None:
        """Cut every connection abruptly (RST-like), as a network failure would."""
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()
        await asyncio.sleep(0)

    async def close(self) -> None:
        """Stop listening, cut every connection and wait (bounded) for their tasks to end."""
        if self._server is not None:
            self._server.close()
        await self.drop_all()
        # Aborted sockets end their session tasks at the next read; cancel only stragglers.
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=1.0)
            for task in pending:
                task.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    @abstractmethod
    def _accept(self, writer: asyncio.StreamWriter) -> ConnT:
        """A new connection object for an accepted socket."""

    @abstractmethod
    def _greeting(self) -> bytes:
        """What the server writes as soon as a client connects."""

    @abstractmethod
    async def _received(self, conn: ConnT, data: bytes) -> bool:
        """Handle bytes read from ``conn``; False closes the connection."""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        conn = self._accept(writer)
        self.connections.add(conn)
        try:
            writer.write(self._greeting())
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                keep = await self._received(conn, data)
                await writer.drain()
                if not keep:
                    return
        except self.protocol_errors as exc:
            peer = writer.get_extra_info("peername")
            log.warning("%s session %s: %s; closing", self.label, peer, exc)
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.connections.discard(conn)
            if task is not None:
                self._tasks.discard(task)
            writer.close()
