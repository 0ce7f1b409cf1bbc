"""The simulated PBX's AMI server: banner, Login, Ping, Logoff, event fan-out.

Protocol-level actions are handled here; every other action goes to the PBX's handler, which
answers through ``AmiConnection.send``. Bytes are parsed and written with ``pbx.asterisk.ami``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pbx.asterisk.ami import AmiMessage, AmiParser, AmiProtocolError, encode
from pbx.sim.channels import Headers

__all__ = ["AmiConnection", "AmiServer", "BANNER"]

log = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/9.0.0\r\n"
ActionHandler = Callable[["AmiConnection", AmiMessage], None]


def response(msg: AmiMessage, status: str, message: str | None = None, *extra: tuple[str, str]):
    """A ``Response:`` block echoing the action's ActionID, as astman_send_response does."""
    out: list[tuple[str, str]] = [("Response", status)]
    if msg.action_id is not None:
        out.append(("ActionID", msg.action_id))
    if message is not None:
        out.append(("Message", message))
    out.extend(extra)
    return tuple(out)


class AmiConnection:
    """One manager session."""

    def __init__(self, server: AmiServer, writer: asyncio.StreamWriter, number: int) -> None:
        self.server = server
        self.writer = writer
        self.logged_in = False
        self.events_on = True
        self.session_id = f"0x{0x7F0000000000 + number * 0x1000:x}"
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        sock = writer.get_extra_info("sockname") or ("127.0.0.1", 0)
        self.remote = f"IPV4/TCP/{peer[0]}/{peer[1]}"
        self.local = f"IPV4/TCP/{sock[0]}/{sock[1]}"

    def send(self, headers: Headers) -> None:
        """Queue one message on this connection (dropped silently once it is closing)."""
        if not self.writer.is_closing():
            self.writer.write(encode(headers))

    def abort(self) -> None:
        transport = self.writer.transport
        if transport is not None:
            transport.abort()


class AmiServer:
    """Listens on loopback; ``broadcast`` sends an event to every logged-in session."""

    def __init__(
        self,
        handler: ActionHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "pacedial",
        secret: str = "pacedial",
        login_failure_delay: float = 1.0,
    ) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self.username = username
        self.secret = secret
        self.login_failure_delay = login_failure_delay
        self.connections: set[AmiConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._count = 0
        self.started_at = time.time()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("AMI server not started")
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)

    def broadcast(self, headers: Headers) -> None:
        data = encode(headers)
        for conn in list(self.connections):
            if conn.logged_in and conn.events_on and not conn.writer.is_closing():
                conn.writer.write(data)

    async def drop_all(self) -> None:
        """Cut every session abruptly (RST-like close), as a network failure would."""
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()
        await asyncio.sleep(0)

    async def close(self) -> None:
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

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._count += 1
        conn = AmiConnection(self, writer, self._count)
        self.connections.add(conn)
        parser = AmiParser(expect_banner=False)
        try:
            writer.write(BANNER)
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                for msg in parser.messages(data):
                    if isinstance(msg, AmiMessage) and not await self._dispatch(conn, msg):
                        return
                await writer.drain()
        except AmiProtocolError as exc:
            log.warning("AMI session %s: %s; closing", conn.remote, exc)
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.connections.discard(conn)
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _dispatch(self, conn: AmiConnection, msg: AmiMessage) -> bool:
        """Handle one action; False closes the session."""
        action = (msg.action or "").lower()
        if action == "login":
            return await self._login(conn, msg)
        if action == "logoff":
            conn.send(response(msg, "Goodbye", "Thanks for all the fish."))
            await conn.writer.drain()
            return False
        if not conn.logged_in:
            if action != "challenge":
                conn.send(response(msg, "Error", "Permission denied"))
            else:
                conn.send(response(msg, "Error", "Must specify AuthType"))
            return True
        if action == "ping":
            stamp = f"{time.time():.6f}"
            conn.send(response(msg, "Success", None, ("Ping", "Pong"), ("Timestamp", stamp)))
            return True
        self._handler(conn, msg)
        return True

    async def _login(self, conn: AmiConnection, msg: AmiMessage) -> bool:
        if msg.get("Username") != self.username or msg.get("Secret") != self.secret:
            await asyncio.sleep(self.login_failure_delay)
            conn.send(response(msg, "Error", "Authentication failed"))
            await conn.writer.drain()
            return False
        conn.logged_in = True
        conn.events_on = (msg.get("Events") or "on").lower() not in ("off", "no", "false")
        conn.send(response(msg, "Success", "Authentication accepted"))
        uptime = str(int(time.time() - self.started_at))
        if conn.events_on:
            conn.send(
                (
                    ("Event", "FullyBooted"),
                    ("Privilege", "system,all"),
                    ("Uptime", uptime),
                    ("LastReload", uptime),
                    ("Status", "Fully Booted"),
                )
            )
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
            conn.send(
                (
                    ("Event", "SuccessfulAuth"),
                    ("Privilege", "security,all"),
                    ("EventTV", now),
                    ("Severity", "Informational"),
                    ("Service", "AMI"),
                    ("EventVersion", "1"),
                    ("AccountID", self.username),
                    ("SessionID", conn.session_id),
                    ("LocalAddress", conn.local),
                    ("RemoteAddress", conn.remote),
                    ("UsingPassword", "0"),
                    ("SessionTV", now),
                )
            )
        return True
