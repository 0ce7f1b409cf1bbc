"""The simulated PBX's AMI server: banner, Login, Ping, Logoff, event fan-out.

Protocol-level actions are handled here; every other action goes to the PBX's handler, which
answers through ``AmiConnection.send``. Bytes are parsed and written with ``pbx.asterisk.ami``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from pbx.asterisk.ami import AmiMessage, AmiParser, AmiProtocolError, encode
from pbx.sim.channels import Headers
from pbx.sim.clock import LoopClock, SimClock
from pbx.sim.line_server import LineConnection, LineServer

__all__ = ["AmiConnection", "AmiServer", "BANNER"]

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


class AmiConnection(LineConnection):
    """One manager session."""

    def __init__(self, writer: asyncio.StreamWriter, number: int) -> None:
        super().__init__(writer)
        self.parser = AmiParser(expect_banner=False)
        self.logged_in = False
        self.events_on = True
        self.session_id = f"0x{0x7F0000000000 + number * 0x1000:x}"
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        sock = writer.get_extra_info("sockname") or ("127.0.0.1", 0)
        self.remote = f"IPV4/TCP/{peer[0]}/{peer[1]}"
        self.local = f"IPV4/TCP/{sock[0]}/{sock[1]}"

    def send(self, headers: Headers) -> None:
        """Queue one message on this connection (dropped silently once it is closing)."""
        self.write(encode(headers))


class AmiServer(LineServer[AmiConnection]):
    """Listens on loopback; ``broadcast`` sends an event to every logged-in session."""

    label = "AMI"
    protocol_errors = (AmiProtocolError,)

    def __init__(
        self,
        handler: ActionHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "pacedial",
        secret: str = "pacedial",
        login_failure_delay: float = 1.0,
        fully_booted: bool = True,
        clock_offset: float = 0.0,
        clock: SimClock | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self._handler = handler
        self.username = username
        self.secret = secret
        self.login_failure_delay = login_failure_delay
        self.clock_offset = clock_offset  # seconds this PBX's clock is ahead
        self._count = 0
        self.clock = clock or LoopClock()
        self.started_at = self.clock()
        # False: still starting, a Login gets no FullyBooted (restart_reconnect.txt)
        self.booted = fully_booted
        self.refusal: str | None = None  # every action's Error message (a graceful shutdown)

    def broadcast(self, headers: Headers) -> None:
        data = encode(headers)
        for conn in list(self.connections):
            if conn.logged_in and conn.events_on:
                conn.write(data)

    def _accept(self, writer: asyncio.StreamWriter) -> AmiConnection:
        self._count += 1
        return AmiConnection(writer, self._count)

    def _greeting(self) -> bytes:
        return BANNER

    async def _received(self, conn: AmiConnection, data: bytes) -> bool:
        for msg in conn.parser.messages(data):
            if isinstance(msg, AmiMessage) and not await self._dispatch(conn, msg):
                return False
        return True

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
        if self.refusal is not None:
            conn.send(response(msg, "Error", self.refusal))  # originate_during_shutdown.txt
            return True
        if action == "ping":
            stamp = f"{self.clock() + self.clock_offset:.6f}"
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
        uptime = str(int(self.clock() - self.started_at))
        if conn.events_on and self.booted:
            conn.send(
                (
                    ("Event", "FullyBooted"),
                    ("Privilege", "system,all"),
                    ("Uptime", uptime),
                    ("LastReload", uptime),
                    ("Status", "Fully Booted"),
                )
            )
            stamp = datetime.fromtimestamp(self.clock(), UTC)
            now = stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
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
