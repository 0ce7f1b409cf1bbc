"""Asyncio AMI client: a thin transport around the sans-IO ``AmiConnection``.

The protocol (login state, ActionID correlation, list collection) lives in
``pbx.asterisk.connection``; this module only moves bytes and resolves futures. One reader task
feeds the connection and routes what it reports: an answered action to its future, other events
to a bounded queue. Actions are written at once and answered as their responses arrive, so many
Originates can be in flight on one link (``send_action_nowait``). A keep-alive Ping whose reply
is late tears the link down; a supervisor reconnects with exponential backoff, on a new
``AmiConnection``. On link loss every pending action fails with ``AmiLinkLost`` and nothing is
re-sent, unless the caller asked for it for an idempotent action (an Originate never is).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass

from pbx.asterisk.ami import AmiMessage, AmiProtocolError, encode
from pbx.asterisk.connection import (
    ActionDone,
    AmiConnection,
    AmiStateError,
    Greeted,
    ListDone,
    LoggedIn,
    LoginRefused,
    Unsolicited,
)

log = logging.getLogger(__name__)

__all__ = ["AmiClient", "AmiError", "AmiLinkLost", "AmiLoginError"]

_READ_SIZE = 65536


class AmiError(Exception):
    """Base class for AMI client errors."""


class AmiLoginError(AmiError):
    """Asterisk refused the Login (the message names host:port and Asterisk's Message)."""


class AmiLinkLost(AmiError):
    """The link dropped (or was down) before the action's response arrived.

    ``sent`` says whether the action's bytes were handed to the socket: if True, Asterisk may
    have executed it.
    """

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


@dataclass
class _Pending:
    headers: list[tuple[str, str]]
    future: asyncio.Future[AmiMessage | ListDone]
    resend: bool
    complete: str | None = None  # list actions: the event that ends the list


_END = object()  # events() sentinel
YIELD_EVERY = 128  # events handed out between two chances for other tasks to run


class AmiClient:
    """One AMI connection with login, ActionID correlation, keep-alive and reconnect.

    ``link_state`` is one of ``"disconnected"``, ``"connecting"``, ``"connected"``,
    ``"closed"``. Callables in ``on_reconnect`` (sync or async) run after each re-login.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        ping_interval: float = 5.0,
        ping_timeout: float = 3.0,
        reconnect_backoff: tuple[float, float] = (0.2, 5.0),
        connect_timeout: float = 5.0,
        event_queue_size: int = 10000,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.reconnect_backoff = reconnect_backoff
        self.connect_timeout = connect_timeout
        self.link_state = "disconnected"
        self.banner: str | None = None
        self.on_reconnect: list[Callable[[], Awaitable[None] | None]] = []
        # Called right before each Login is written: events read after it are the new link's.
        self.on_login: list[Callable[[], None]] = []
        self.dropped_events = 0
        # Events no consumer reads (e.g. Newexten): dropped by the parser before a message is
        # built, never queued. Read at each connect.
        self.skip_events: frozenset[str] = frozenset()
        self.reconnects = 0
        self._events: asyncio.Queue[object] = asyncio.Queue(maxsize=event_queue_size)
        self._pending: dict[str, _Pending] = {}
        self._resend: list[_Pending] = []
        self._ids = itertools.count(1)
        self._conn: AmiConnection | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._unsent: list[bytes] = []  # actions registered in this loop pass, not yet written
        self._reader_task: asyncio.Task[None] | None = None
        self._ping_task: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._lost: asyncio.Event = asyncio.Event()
        self._callbacks: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def peer(self) -> str:
        """``host:port`` for messages and logs."""
        return f"{self.host}:{self.port}"

    # --- public API ------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect, read the banner and log in; start keep-alive and auto-reconnect.

        Raises AmiLoginError if Asterisk refuses the Login, OSError/TimeoutError if the TCP
        connection or the banner fails.
        """
        if self.link_state == "closed":
            raise AmiError(f"AMI {self.peer}: client is closed")
        await self._open()
        self._supervisor = asyncio.create_task(self._supervise(), name=f"ami-{self.peer}")

    def send_action_nowait(
        self, headers: Iterable[tuple[str, str]], *, resend_on_reconnect: bool = False
    ) -> asyncio.Future[AmiMessage]:
        """Write one action now; the returned future resolves with its response.

        Many actions may be in flight at once (responses are matched by ActionID). Raises
        AmiLinkLost(sent=False) at once if the link is down; the future fails with
        AmiLinkLost(sent=True) if the link drops before the response.
        """
        pending = self._register(list(headers), resend_on_reconnect)
        self._transmit(pending)
        return pending.future  # type: ignore[return-value]

    async def send_action(
        self, headers: Iterable[tuple[str, str]], *, resend_on_reconnect: bool = False
    ) -> AmiMessage:
        """Send one action and return its response (correlated by ActionID).

        A caller-supplied ActionID is kept (the campaign uses call id = ActionID). Raises
        AmiLinkLost if the link is down or drops before the response; the action is never
        re-sent unless ``resend_on_reconnect`` (refused for Originate).
        """
        return await self.send_action_nowait(headers, resend_on_reconnect=resend_on_reconnect)

    async def send_action_list(
        self, headers: Iterable[tuple[str, str]], *, complete: str, resend_on_reconnect: bool = True
    ) -> list[AmiMessage]:
        """Send a list action (QueueStatus, CoreShowChannels...) and collect its events.

        Returns the events carrying our ActionID up to, but not including, the ``complete``
        event. Raises AmiError if Asterisk answers with an error.
        """
        pending = self._register(list(headers), resend_on_reconnect, complete)
        self._transmit(pending)
        reply = await pending.future
        if isinstance(reply, ListDone):
            return list(reply.items)
        raise AmiError(f"AMI {self.peer}: {pending.headers[0][1]} failed: {reply.get('Message')}")

    async def events(self) -> AsyncIterator[AmiMessage]:
        """Events in arrival order (ends after close()). The queue is bounded: on overflow the
        oldest event is dropped and counted in ``dropped_events``. Every ``YIELD_EVERY``
        events other tasks get to run (a backlog of thousands never starves them)."""
        read = 0
        while (item := await self._events.get()) is not _END:
            assert isinstance(item, AmiMessage)
            yield item
            read += 1
            if read % YIELD_EVERY == 0:
                await asyncio.sleep(0)

    async def close(self) -> None:
        """Log off (best effort, 2 s), close the socket, fail pending actions, end events()."""
        if self.link_state == "closed":
            return
        was_connected = self.link_state == "connected"
        self._closing = True
        tasks = [t for t in (self._supervisor, self._ping_task, *self._callbacks) if t is not None]
        for task in tasks:
            task.cancel()
        if was_connected and self._writer is not None:
            with contextlib.suppress(AmiError, OSError, TimeoutError):
                logoff = self.send_action_nowait([("Action", "Logoff")])
                await asyncio.wait_for(asyncio.shield(logoff), 2.0)
        self.link_state = "closed"
        await self._drop_link("client closed")
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail_all("client closed", include_resend=True)
        self._put_event(_END)

    # --- connection lifecycle ----------------------------------------------------------------

    async def _open(self) -> None:
        self.link_state = "connecting"
        self._lost = asyncio.Event()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.connect_timeout
            )
        except (OSError, TimeoutError):
            self.link_state = "disconnected"
            raise
        conn = AmiConnection(f"pacedial-{next(self._ids)}", skip_events=self.skip_events)
        try:
            greeted = await asyncio.wait_for(
                self._until(reader, conn, Greeted), self.connect_timeout
            )
            assert isinstance(greeted, Greeted)
            self.banner = greeted.banner
            for callback in self.on_login:
                callback()
            writer.write(conn.login(self.username, self._secret))
            reply = await asyncio.wait_for(
                self._until(reader, conn, LoggedIn, LoginRefused), self.connect_timeout
            )
        except (OSError, TimeoutError, AmiError, AmiProtocolError) as exc:
            writer.close()
            self.link_state = "disconnected"
            if conn.state == "logging_in":
                raise AmiLoginError(f"AMI {self.peer}: no answer to Login: {exc}") from exc
            raise
        if isinstance(reply, LoginRefused):
            writer.close()
            self.link_state = "disconnected"
            raise AmiLoginError(
                f"AMI {self.peer}: Login as {self.username!r} refused: {reply.message}"
            )
        self._conn, self._writer = conn, writer
        self.link_state = "connected"
        self._reader_task = asyncio.create_task(self._read_loop(reader, conn))
        log.info("AMI %s: logged in (%s)", self.peer, self.banner)
        self._ping_task = asyncio.create_task(self._keepalive())

    async def _until(self, reader: asyncio.StreamReader, conn: AmiConnection, *kinds: type):
        """Read until the connection reports one of ``kinds`` (events before it are queued)."""
        while True:
            while (item := conn.next_event()) is not None:
                if isinstance(item, kinds):
                    return item
                if isinstance(item, Unsolicited):
                    self._put_event(item.message)
            data = await reader.read(_READ_SIZE)
            if not data:
                raise AmiError(f"AMI {self.peer}: connection closed during the greeting/login")
            conn.receive_data(data)

    async def _supervise(self) -> None:
        """Wait for link loss, then reconnect with exponential backoff, forever."""
        initial, ceiling = self.reconnect_backoff
        while True:
            await self._lost.wait()
            self._fail_all("AMI link lost", include_resend=False)
            delay = initial
            while True:
                await asyncio.sleep(delay)
                try:
                    await self._open()
                    break
                except (OSError, TimeoutError, AmiError, AmiProtocolError) as exc:
                    log.warning(
                        "AMI %s: reconnect failed: %s (next in %.1fs)", self.peer, exc, delay
                    )
                    delay = min(ceiling, delay * 2)
            self.reconnects += 1
            resend, self._resend = self._resend, []
            for pending in resend:
                self._transmit(pending)
            for callback in list(self.on_reconnect):
                # Run apart from the supervisor: a callback awaiting an action must not block
                # the next reconnect if this link drops too.
                task = asyncio.create_task(self._run_callback(callback))
                self._callbacks.add(task)
                task.add_done_callback(self._callbacks.discard)

    async def _run_callback(self, callback: Callable[[], Awaitable[None] | None]) -> None:
        try:
            result = callback()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("AMI %s: on_reconnect callback failed", self.peer)

    async def _read_loop(self, reader: asyncio.StreamReader, conn: AmiConnection) -> None:
        why = "connection closed by peer"
        try:
            self._route_all(conn)  # what arrived together with the login response
            while data := await reader.read(_READ_SIZE):
                conn.receive_data(data)
                self._route_all(conn)
                for warning in conn.take_warnings():
                    log.warning("AMI %s: %s", self.peer, warning)
        except AmiProtocolError as exc:
            why = str(exc)
        except OSError as exc:
            why = f"read error: {exc}"
        except Exception as exc:  # whatever a peer sends, the link must never go blind
            why = f"reader failed: {exc!r}"
            log.exception("AMI %s: reader failed", self.peer)
        if self._closing:  # we logged off: the peer closing is expected
            log.info("AMI %s: closed after Logoff", self.peer)
        elif self.link_state == "connecting":  # a refused login: connect() raises and says why
            log.info("AMI %s: closed during login: %s", self.peer, why)
        else:
            log.warning("AMI %s: link lost: %s", self.peer, why)
        self._link_down()

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            ping = self._register([("Action", "Ping")], False)
            try:
                self._transmit(ping)
                await asyncio.wait_for(asyncio.shield(ping.future), self.ping_timeout)
            except TimeoutError:
                log.warning(
                    "AMI %s: no Pong within %.1fs, dropping link", self.peer, self.ping_timeout
                )
                aid = self._action_id(ping)
                self._pending.pop(aid, None)
                if self._conn is not None:
                    self._conn.forget(aid)
                await self._drop_link("ping timeout")
                return
            except AmiLinkLost:
                return

    def _link_down(self) -> None:
        if self.link_state != "closed":
            self.link_state = "disconnected"
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._conn is not None:
            self._conn.connection_lost()
            self._conn = None
        if self._ping_task is not None and self._ping_task is not asyncio.current_task():
            self._ping_task.cancel()
        self._fail_all("AMI link lost", include_resend=False)
        self._lost.set()

    async def _drop_link(self, why: str) -> None:
        writer, task = self._writer, self._reader_task
        if writer is not None:
            writer.close()
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._writer is writer:
            self._link_down()
        log.info("AMI %s: link dropped: %s", self.peer, why)

    # --- actions and routing -----------------------------------------------------------------

    def _register(
        self, headers: list[tuple[str, str]], resend: bool, complete: str | None = None
    ) -> _Pending:
        action = next((v for k, v in headers if k.lower() == "action"), None)
        if action is None:
            raise ValueError("AMI action needs an 'Action' header")
        if resend and action.lower() == "originate":
            raise ValueError("an Originate is never re-sent after a reconnect")
        aid = next((v for k, v in headers if k.lower() == "actionid"), None)
        if aid is None:
            aid = f"pacedial-{next(self._ids)}"
            headers = [headers[0], ("ActionID", aid), *headers[1:]]
        if aid in self._pending:
            raise ValueError(f"ActionID {aid!r} is already pending on AMI {self.peer}")
        encode(headers)  # validate before anything is registered (header injection)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        return _Pending(headers, future, resend, complete)

    @staticmethod
    def _action_id(pending: _Pending) -> str:
        return next(v for k, v in pending.headers if k.lower() == "actionid")

    def _write_unsent(self, writer: asyncio.StreamWriter) -> None:
        data = b"".join(self._unsent)
        self._unsent.clear()
        if writer is self._writer:  # else the link dropped: its pending actions were failed
            writer.write(data)

    def _transmit(self, pending: _Pending) -> None:
        conn, writer = self._conn, self._writer
        if self.link_state == "connected" and conn is not None and writer is not None:
            try:
                if pending.complete is None:
                    aid, data = conn.send_action(pending.headers)
                else:
                    aid, data = conn.send_list_action(pending.headers, pending.complete)
            except AmiStateError as exc:
                raise AmiLinkLost(f"AMI {self.peer}: {exc}, not sent", sent=False) from exc
            self._pending[aid] = pending
            # Actions written in one pass of the event loop (a launch batch's Originates) leave
            # in one socket write at the end of the pass, in order, instead of one each.
            unsent = self._unsent
            unsent.append(data)
            if len(unsent) == 1:
                asyncio.get_running_loop().call_soon(self._write_unsent, writer)
        elif pending.resend and self.link_state != "closed":
            self._resend.append(pending)
        else:
            raise AmiLinkLost(f"AMI {self.peer}: link is {self.link_state}, not sent", sent=False)

    def _route_all(self, conn: AmiConnection) -> None:
        while (item := conn.next_event()) is not None:
            if isinstance(item, Unsolicited):
                self._put_event(item.message)
            elif isinstance(item, ActionDone | ListDone):
                pending = self._pending.pop(item.action_id, None)
                if pending is None or pending.future.done():
                    continue
                result = item if isinstance(item, ListDone) else item.response
                pending.future.set_result(result)

    def _put_event(self, item: object) -> None:
        if self._events.full():
            self._events.get_nowait()
            self.dropped_events += 1
            if self.dropped_events == 1 or self.dropped_events % 1000 == 0:
                log.warning(
                    "AMI %s: event queue full, dropped %d oldest events so far",
                    self.peer,
                    self.dropped_events,
                )
        self._events.put_nowait(item)

    def _fail_all(self, why: str, *, include_resend: bool) -> None:
        for aid, pending in list(self._pending.items()):
            if pending.resend and not include_resend and self.link_state != "closed":
                self._resend.append(pending)  # idempotent: the caller asked for a re-send
            else:
                exc = AmiLinkLost(f"AMI {self.peer}: {why} before the response to {aid}", sent=True)
                if not pending.future.done():
                    pending.future.set_exception(exc)
                    pending.future.exception()  # mark retrieved: nobody may be waiting any more
            del self._pending[aid]
        if include_resend:
            for pending in self._resend:
                exc = AmiLinkLost(f"AMI {self.peer}: {why}", sent=False)
                if not pending.future.done():
                    pending.future.set_exception(exc)
                    pending.future.exception()
            self._resend.clear()
