"""Asyncio AMI client: a thin transport around the sans-IO codec in ``pbx.asterisk.ami``.

One reader task feeds the parser and routes messages: responses to the future of their
ActionID, list events (QueueMember...) to the collector of their ActionID, all other events to a
bounded queue. A keep-alive Ping whose reply is late tears the link down; a supervisor
reconnects with exponential backoff. On link loss every pending action fails with
``AmiLinkLost`` and nothing is re-sent, unless the caller asked for it for an idempotent action
(an Originate never is).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from pbx.asterisk.ami import AmiBanner, AmiMessage, AmiParser, AmiProtocolError, encode

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
    future: asyncio.Future[AmiMessage]
    resend: bool
    complete: str | None = None  # list actions: the event that ends the list
    items: list[AmiMessage] = field(default_factory=list)
    done: asyncio.Future[list[AmiMessage]] | None = None


_END = object()  # events() sentinel


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
        self.dropped_events = 0
        self.reconnects = 0
        self._events: asyncio.Queue[object] = asyncio.Queue(maxsize=event_queue_size)
        self._pending: dict[str, _Pending] = {}
        self._resend: list[_Pending] = []
        self._ids = itertools.count(1)
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._ping_task: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._lost: asyncio.Event = asyncio.Event()
        self._callbacks: set[asyncio.Task[None]] = set()

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

    async def send_action(
        self, headers: Iterable[tuple[str, str]], *, resend_on_reconnect: bool = False
    ) -> AmiMessage:
        """Send one action and return its response (correlated by ActionID).

        A caller-supplied ActionID is kept (the campaign uses call id = ActionID). Raises
        AmiLinkLost if the link is down or drops before the response; the action is never
        re-sent unless ``resend_on_reconnect`` (refused for Originate).
        """
        pending = self._register(list(headers), resend_on_reconnect)
        self._transmit(pending)
        return await pending.future

    async def send_action_list(
        self, headers: Iterable[tuple[str, str]], *, complete: str, resend_on_reconnect: bool = True
    ) -> list[AmiMessage]:
        """Send a list action (QueueStatus, CoreShowChannels...) and collect its events.

        Returns the events carrying our ActionID up to, and including, the ``complete`` event.
        Raises AmiError if Asterisk answers with an error.
        """
        pending = self._register(list(headers), resend_on_reconnect)
        pending.complete = complete
        pending.done = asyncio.get_running_loop().create_future()
        self._transmit(pending)
        reply = await pending.future
        if reply.response != "Success":
            self._pending.pop(self._action_id(pending), None)
            raise AmiError(
                f"AMI {self.peer}: {pending.headers[0][1]} failed: {reply.get('Message')}"
            )
        return await pending.done

    async def events(self) -> AsyncIterator[AmiMessage]:
        """Events in arrival order (ends after close()). The queue is bounded: on overflow the
        oldest event is dropped and counted in ``dropped_events``."""
        while (item := await self._events.get()) is not _END:
            assert isinstance(item, AmiMessage)
            yield item

    async def close(self) -> None:
        """Log off (best effort, 2 s), close the socket, fail pending actions, end events()."""
        if self.link_state == "closed":
            return
        was_connected = self.link_state == "connected"
        self.link_state = "closed"
        tasks = [t for t in (self._supervisor, self._ping_task, *self._callbacks) if t is not None]
        for task in tasks:
            task.cancel()
        if was_connected and self._writer is not None:
            pending = self._register([("Action", "Logoff")], False)
            with contextlib.suppress(AmiError, OSError, TimeoutError):
                self._write(pending)
                await asyncio.wait_for(asyncio.shield(pending.future), 2.0)
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
        parser = AmiParser()
        try:
            banner = await asyncio.wait_for(self._read_banner(reader, parser), self.connect_timeout)
        except (OSError, TimeoutError, AmiError, AmiProtocolError):
            writer.close()
            self.link_state = "disconnected"
            raise
        self.banner = banner.text
        self._writer = writer
        self._reader_task = asyncio.create_task(self._read_loop(reader, parser))
        login = self._register(
            [
                ("Action", "Login"),
                ("ActionID", f"pacedial-login-{next(self._ids)}"),
                ("Username", self.username),
                ("Secret", self._secret),
            ],
            False,
        )
        try:
            self._write(login)
            reply = await asyncio.wait_for(asyncio.shield(login.future), self.connect_timeout)
        except (AmiError, TimeoutError) as exc:
            await self._drop_link(f"login failed: {exc}")
            self.link_state = "disconnected"
            raise AmiLoginError(f"AMI {self.peer}: no answer to Login: {exc}") from exc
        if reply.response != "Success":
            await self._drop_link("login refused")
            self.link_state = "disconnected"
            raise AmiLoginError(
                f"AMI {self.peer}: Login as {self.username!r} refused: "
                f"{reply.get('Message') or reply.response}"
            )
        self.link_state = "connected"
        log.info("AMI %s: logged in (%s)", self.peer, self.banner)
        self._ping_task = asyncio.create_task(self._keepalive())

    async def _read_banner(self, reader: asyncio.StreamReader, parser: AmiParser) -> AmiBanner:
        while True:
            data = await reader.read(_READ_SIZE)
            if not data:
                raise AmiError(f"AMI {self.peer}: connection closed before the banner")
            parser.feed(data)
            first = parser.next_message()
            if isinstance(first, AmiBanner):
                return first

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
                pending.items.clear()
                self._pending[self._action_id(pending)] = pending
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

    async def _read_loop(self, reader: asyncio.StreamReader, parser: AmiParser) -> None:
        why = "connection closed by peer"
        try:
            # Messages already parsed with the banner come first.
            for msg in parser.messages():
                self._route(msg)
            while data := await reader.read(_READ_SIZE):
                parser.feed(data)
                while (msg := parser.next_message()) is not None:
                    self._route(msg)
                for warning in parser.take_warnings():
                    log.warning("AMI %s: %s", self.peer, warning)
        except AmiProtocolError as exc:
            why = str(exc)
        except OSError as exc:
            why = f"read error: {exc}"
        if self.link_state == "closed":  # we logged off: the peer closing is expected
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
                self._pending.pop(self._action_id(ping), None)
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

    def _register(self, headers: list[tuple[str, str]], resend: bool) -> _Pending:
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
        future: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        pending = _Pending(headers, future, resend)
        self._pending[aid] = pending
        return pending

    @staticmethod
    def _action_id(pending: _Pending) -> str:
        return next(v for k, v in pending.headers if k.lower() == "actionid")

    def _transmit(self, pending: _Pending) -> None:
        if self.link_state == "connected" and self._writer is not None:
            self._write(pending)
        elif pending.resend and self.link_state != "closed":
            self._pending.pop(self._action_id(pending), None)
            self._resend.append(pending)
        else:
            self._pending.pop(self._action_id(pending), None)
            raise AmiLinkLost(f"AMI {self.peer}: link is {self.link_state}, not sent", sent=False)

    def _write(self, pending: _Pending) -> None:
        if self._writer is None:
            raise AmiLinkLost(f"AMI {self.peer}: no connection, not sent", sent=False)
        self._writer.write(encode(pending.headers))

    def _route(self, msg: AmiMessage | AmiBanner) -> None:
        if isinstance(msg, AmiBanner):
            log.warning("AMI %s: unexpected second banner %r", self.peer, msg.text)
            return
        aid = msg.action_id
        pending = self._pending.get(aid) if aid is not None else None
        if msg.event is None:
            if pending is None:
                log.info("AMI %s: response to unknown ActionID: %s", self.peer, msg.summary())
                return
            if pending.complete is None or msg.response != "Success":
                del self._pending[aid]  # type: ignore[arg-type]
            if not pending.future.done():
                pending.future.set_result(msg)
            return
        if pending is not None and pending.complete is not None and pending.done is not None:
            if msg.event == pending.complete:
                del self._pending[aid]  # type: ignore[arg-type]
                if not pending.done.done():
                    pending.done.set_result(pending.items)
            else:
                pending.items.append(msg)
            return
        self._put_event(msg)

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
                for fut in (pending.future, pending.done):
                    if fut is not None and not fut.done():
                        fut.set_exception(exc)
                        fut.exception()  # mark retrieved: nobody may be waiting any more
            del self._pending[aid]
        if include_resend:
            for pending in self._resend:
                exc = AmiLinkLost(f"AMI {self.peer}: {why}", sent=False)
                for fut in (pending.future, pending.done):
                    if fut is not None and not fut.done():
                        fut.set_exception(exc)
                        fut.exception()
            self._resend.clear()
