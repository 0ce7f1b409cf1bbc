"""FastAgiServer: accept Asterisk's FastAGI connections and run a handler per call.

Each connection gets its own task: read the ``agi_*`` environment within ``env_timeout`` (a
health check that connects and closes, or never writes, is dropped without touching anything
else), build an :class:`AgiSession`, fetch the call id, and ``await handler(session)``.
Exceptions are logged with the call id; the socket is always closed. Routing by
``session.env.network_script`` is the handler's job.

FastAGI has no authentication, so a connection is admitted only from a peer on the
:class:`~pbx.peer_gate.PeerGate` allow-list (loopback by default) and while fewer than its cap
are open; the environment block may not exceed ``max_env_bytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from pbx.asterisk.agi import NEED_DATA, AgiConnection, AgiEnvironment, AgiProtocolError
from pbx.asterisk.agi_session import AgiSession, AgiTimeouts
from pbx.peer_gate import PeerGate
from pbx.session import CallerHungUp

__all__ = ["AgiHandler", "FastAgiServer"]

log = logging.getLogger(__name__)

AgiHandler = Callable[[AgiSession], Awaitable[None]]
_READ_SIZE = 16 * 1024
MAX_ENV_BYTES = 64 * 1024  # a real agi_ block is 1-2 KiB


class FastAgiServer:
    """asyncio FastAGI server; ``port=0`` binds an ephemeral port (see :attr:`port`)."""

    def __init__(
        self,
        handler: AgiHandler,
        host: str = "127.0.0.1",
        port: int = 4573,
        *,
        env_timeout: float = 5.0,
        close_timeout: float = 10.0,
        timeouts: AgiTimeouts | None = None,
        gate: PeerGate | None = None,
        max_env_bytes: int = MAX_ENV_BYTES,
    ) -> None:
        self._handler = handler
        self._gate = gate or PeerGate()
        self._max_env_bytes = max_env_bytes
        self._host = host
        self._port = port
        self._env_timeout = env_timeout
        self._close_timeout = close_timeout
        self._timeouts = timeouts or AgiTimeouts()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.dropped = 0  # connections closed before a complete agi_ environment
        self.refused = 0  # connections closed at once: peer not allowed, or at the cap

    @property
    def port(self) -> int:
        """The bound TCP port (the real one when constructed with port 0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def active_sessions(self) -> int:
        """Connections currently being served."""
        return len(self._tasks)

    async def start(self) -> None:
        """Bind and start accepting connections."""
        if self._server is not None:
            raise RuntimeError("FastAgiServer already started")
        self._server = await asyncio.start_server(self._on_connect, self._host, self._port)
        log.info("FastAGI listening on %s:%d", self._host, self.port)

    async def close(self) -> None:
        """Stop accepting, wait up to close_timeout for running sessions, cancel the rest."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        tasks = set(self._tasks)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=self._close_timeout)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("FastAGI close: cancelled %d session(s) still running", len(pending))
                await asyncio.wait(pending, timeout=self._close_timeout)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), self._close_timeout)

    async def __aenter__(self) -> FastAgiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ----- per connection ---------------------------------------------------------------------
    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        why = self._gate.refusal(writer.get_extra_info("peername"), len(self._tasks))
        if why:
            self.refused += 1
            log.warning("FastAGI connection refused: %s", why)
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        conn = AgiConnection()
        env = await self._read_environment(conn, reader, peer)
        if env is None:
            self.dropped += 1
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            return
        session = AgiSession(conn, reader, writer, timeouts=self._timeouts)
        started = asyncio.get_running_loop().time()
        try:
            await session.start()
            await self._handler(session)
        except CallerHungUp:
            log.info("call %s: caller hung up (%s)", session.call_id, env.network_script)
        except asyncio.CancelledError:
            log.warning("call %s: FastAGI session cancelled", session.call_id)
            raise
        except Exception:
            log.exception(
                "call %s: FastAGI handler for %r failed", session.call_id, env.network_script
            )
        finally:
            await session.close()
            log.debug(
                "call %s: FastAGI session closed after %.3f s",
                session.call_id,
                asyncio.get_running_loop().time() - started,
            )

    async def _read_environment(
        self, conn: AgiConnection, reader: asyncio.StreamReader, peer: object
    ) -> AgiEnvironment | None:
        """Read until the agi_ block is complete; None if the peer closed, stalled or sent junk."""
        try:
            received = 0
            async with asyncio.timeout(self._env_timeout):
                while True:
                    data = await reader.read(_READ_SIZE)
                    if not data:
                        log.debug("FastAGI %s closed before the agi_ environment", peer)
                        return None
                    received += len(data)
                    if received > self._max_env_bytes:
                        log.warning(
                            "FastAGI %s: agi_ environment over %d bytes: dropped",
                            peer,
                            self._max_env_bytes,
                        )
                        return None
                    conn.receive_data(data)
                    event = conn.next_event()
                    if event is not NEED_DATA:
                        assert isinstance(event, AgiEnvironment)
                        return event
        except TimeoutError:
            log.info("FastAGI %s sent no agi_ environment within %g s", peer, self._env_timeout)
        except AgiProtocolError as exc:
            log.warning("FastAGI %s is not speaking FastAGI: %s", peer, exc)
        except (ConnectionError, OSError) as exc:
            log.debug("FastAGI %s connection error before environment: %s", peer, exc)
        return None
