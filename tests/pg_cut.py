"""A TCP relay in front of PostgreSQL that cuts the link around one statement's answer.

Real bytes both ways; once the server's answer to a statement whose text contains ``marker``
has gone by (its command tag ``tag`` and the ReadyForQuery after it: the statement has
committed), the relay either drops that answer and closes both sides (``lose_answer``: the
client never learns that its INSERT committed) or forwards it and closes both sides at the
client's next message (the database went away just after answering). With ``cut=False`` it
only calls ``on_marker`` each time the marked statement goes by (a hook on real traffic).

The relay runs on its own event loop in a thread: to a virtual-time loop (tests/virtual_time.py)
it is outside work like PostgreSQL itself, and ``on_marker`` (called on the relay's thread,
before the statement is passed on) may wait for the test's loop to act.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

READY = b"Z\x00\x00\x00\x05"  # ReadyForQuery: the statement's implicit transaction is over


class PgCut:
    """Relay ``dsn``'s server on a loopback port; ``dsn`` (property) points through it."""

    def __init__(
        self,
        dsn: str,
        marker: bytes,
        tag: bytes = b"",
        *,
        lose_answer: bool = False,
        cut: bool = True,
        on_marker: Callable[[], None] | None = None,
    ) -> None:
        self.upstream = urlsplit(dsn)
        self.marker, self.tag, self.lose_answer = marker, tag, lose_answer
        self.on_marker = on_marker
        self.cut = not cut  # True once the link has been cut (or if it never will be)
        self._port = 0
        self._server: asyncio.Server | None = None  # listening once __aenter__ has run
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def dsn(self) -> str:
        netloc = self.upstream.netloc.rsplit("@", 1)
        user = f"{netloc[0]}@" if len(netloc) == 2 else ""
        return urlunsplit(self.upstream._replace(netloc=f"{user}127.0.0.1:{self._port}"))

    async def __aenter__(self) -> PgCut:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        self._port = started.result(10)
        return self

    async def __aexit__(self, *exc) -> None:
        shut = asyncio.run_coroutine_threadsafe(self._shut(), self._loop)
        with contextlib.suppress(Exception):
            shut.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()  # nothing left pending on it (no "never awaited" warning later)

    async def _serve(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    async def _shut(self) -> None:
        """Stop accepting, end every relay, and let the loop run what that leaves."""
        if self._server is not None:
            self._server.close()
        relays = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in relays:
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)
        await asyncio.sleep(0)

    async def _relay(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        sr, sw = await asyncio.open_connection(self.upstream.hostname, self.upstream.port)
        armed = asyncio.Event()  # the client has sent the marked statement
        answered = asyncio.Event()  # its committed answer has gone to the client

        async def up() -> None:
            while data := await cr.read(65536):
                if answered.is_set() and not self.cut:
                    self.cut = True
                    break  # the database is gone before this message reaches it
                if self.marker in data:
                    if self.on_marker is not None:
                        self.on_marker()
                    if not self.cut:
                        armed.set()
                sw.write(data)
                await sw.drain()

        async def down() -> None:
            pending = b""
            while data := await sr.read(65536):
                if armed.is_set() and not self.cut:
                    pending += data
                    at = pending.find(self.tag)
                    if at >= 0 and READY in pending[at:]:
                        if self.lose_answer:
                            self.cut = True
                            break
                        answered.set()
                        pending = b""
                    elif len(pending) > 1 << 20:
                        pending = pending[-4096:]
                cw.write(data)
                await cw.drain()

        tasks = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
        with contextlib.suppress(ConnectionError):
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for writer in (cw, sw):
            writer.close()
