"""A loopback AMI peer for tests: replays Asterisk's recorded side of a transcript, or runs a
scripted exchange per connection. Used by test_ami_client.py and test_asterisk_driver.py."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from transcripts import load  # noqa: E402

from pbx.asterisk.ami import AmiMessage, AmiParser, encode  # noqa: E402

__all__ = ["BANNER", "Handler", "PeerConn", "ReplayPeer"]

BANNER = b"Asterisk Call Manager/9.0.0\r\n"
_SUBSTITUTED = ("ActionID", "ChannelId", "OtherChannelId")
# Actions the driver sends on its own that the older recordings do not have: their answers.
_UNRECORDED = {
    "GetConfig": lambda aid: encode(
        [("Response", "Error"), ("ActionID", aid), ("Message", "Config file not found")]
    ),
    "QueueStatus": lambda aid: encode(
        [("Response", "Success"), ("ActionID", aid), ("EventList", "start"),
         ("Message", "Queue status will follow")]
    ) + encode([("Event", "QueueStatusComplete"), ("ActionID", aid), ("EventList", "Complete"),
                ("ListItems", "0")]),
}  # fmt: skip


class PeerConn:
    """One accepted connection: read actions, write bytes, remember everything received."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received = bytearray()
        self._parser = AmiParser(expect_banner=False)

    async def read_action(self) -> AmiMessage | None:
        """The next complete action from the client, or None at EOF."""
        while (msg := self._parser.next_message()) is None:
            data = await self.reader.read(65536)
            if not data:
                return None
            self.received += data
            self._parser.feed(data)
        assert isinstance(msg, AmiMessage)
        return msg

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def login(self) -> None:
        """Answer the client's Login like Asterisk does after a good secret."""
        self.write(BANNER)
        login = await self.read_action()
        assert login is not None and login.action == "Login"
        self.write(
            encode(
                [
                    ("Response", "Success"),
                    ("ActionID", login.action_id or ""),
                    ("Message", "Authentication accepted"),
                ]
            )
        )

    def answer_logoff(self, action: AmiMessage) -> None:
        if action.action == "Logoff":
            self.write(encode([("Response", "Goodbye"), ("ActionID", action.action_id or "")]))

    async def drain_until_eof(self) -> None:
        while (action := await self.read_action()) is not None:
            self.answer_logoff(action)


Handler = Callable[[PeerConn, int], Awaitable[None]]


class ReplayPeer:
    """A loopback AMI server. With a fixture it plays back Asterisk's recorded side: after the
    n-th action it receives, it writes what Asterisk wrote after the n-th recorded action,
    with the recorded ActionID/ChannelId/OtherChannelId values replaced by the ones received.
    With ``handler`` it runs a scripted exchange per connection (index 0, 1, ...)."""

    def __init__(self, fixture: str | None = None, handler: Handler | None = None) -> None:
        self.handler = handler or self._replay
        self.conns: list[PeerConn] = []
        self.errors: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._after: list[bytes] = [b""]
        self._recorded: list[AmiMessage] = []
        if fixture is not None:
            c_bytes = bytearray()
            for chunk in load(fixture):
                if chunk.direction == "S":
                    self._after[-1] += chunk.data
                else:
                    c_bytes += chunk.data
                    if chunk.data == b"\r\n":
                        self._after.append(b"")
            parsed = AmiParser(expect_banner=False).messages(bytes(c_bytes))
            self._recorded = [m for m in parsed if isinstance(m, AmiMessage)]

    async def __aenter__(self) -> ReplayPeer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for conn in self.conns:
            conn.writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        assert not self.errors, self.errors

    def actions(self) -> list[AmiMessage]:
        """Every action received, over all connections, in order."""
        out: list[AmiMessage] = []
        for conn in self.conns:
            out += [
                m
                for m in AmiParser(expect_banner=False).messages(bytes(conn.received))
                if isinstance(m, AmiMessage)
            ]
        return out

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = PeerConn(reader, writer)
        self.conns.append(conn)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.append(task)
        try:
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await self.handler(conn, len(self.conns) - 1)
        finally:
            writer.close()

    async def _replay(self, conn: PeerConn, index: int) -> None:
        conn.write(self._after[0])
        step = 0
        subst: list[tuple[bytes, bytes]] = []
        while (action := await conn.read_action()) is not None:
            expected = self._recorded[step] if step < len(self._recorded) else None
            if action.action == "Ping" and (expected is None or expected.action != "Ping"):
                conn.write(encode([("Response", "Success"), ("ActionID", action.action_id or ""),
                                   ("Ping", "Pong")]))  # fmt: skip
                continue
            if action.action in _UNRECORDED and (
                expected is None or expected.action != action.action
            ):
                # The driver reads the queues after FullyBooted (not in the older recordings).
                conn.write(_UNRECORDED[action.action](action.action_id or ""))
                continue
            if action.action == "Logoff" and (expected is None or expected.action != "Logoff"):
                conn.answer_logoff(action)  # the test ends before the recording does
                return
            if expected is None or expected.action != action.action:
                self.errors.append(f"step {step}: got {action.summary()}, recording has {expected}")
                return
            for key in _SUBSTITUTED:
                old, new = expected.get(key), action.get(key)
                if old and new and old != new:
                    subst.append((f": {old}\r\n".encode(), f": {new}\r\n".encode()))
            data = self._after[step + 1]
            for old_b, new_b in subst:
                data = data.replace(old_b, new_b)
            conn.write(data)
            step += 1
