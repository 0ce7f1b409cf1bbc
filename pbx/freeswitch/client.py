"""Asyncio inbound ESL client: auth, a narrow ``event json`` subscription, bgapi, watchdog.

One reader task per connection feeds :class:`~pbx.freeswitch.esl.EslParser` and routes what it
gets: ``command/reply`` and ``api/response`` resolve the oldest pending command (FreeSWITCH
answers in command order), events go to a bounded queue read through :meth:`EslClient.events`.
A watchdog aborts the link when no ``HEARTBEAT`` arrived for ``heartbeat_timeout`` seconds
(FreeSWITCH sends one every 20 s). A supervisor reconnects with exponential backoff.

Nothing is ever re-sent after a reconnect: a command whose reply was lost fails with
:class:`EslLinkLost` (``sent=True``) and the caller reconciles (``show channels as json``,
``uuid_exists``); a command issued while the link is down fails at once (``sent=False``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from pbx import json_limits
from pbx.freeswitch.esl import (
    API_RESPONSE,
    AUTH_REQUEST,
    COMMAND_REPLY,
    DISCONNECT_NOTICE,
    RUDE_REJECTION,
    EslEvent,
    EslMessage,
    EslParser,
    EslProtocolError,
    encode_api,
    encode_auth,
    encode_bgapi,
    encode_command,
    encode_event_subscription,
)

log = logging.getLogger(__name__)

# What the driver needs; CHANNEL_PROGRESS_MEDIA stands in for ringing when early media flows.
DEFAULT_EVENTS: tuple[str, ...] = (
    "CHANNEL_CREATE",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_ANSWER",
    "CHANNEL_HANGUP_COMPLETE",
    "BACKGROUND_JOB",
    "HEARTBEAT",
    # mod_callcenter agent states and agent pick-ups; CUSTOM takes subclasses, so it is last.
    "CUSTOM",
    "callcenter::info",
)


class EslError(Exception):
    """Base class for ESL client errors."""


class EslAuthError(EslError):
    """FreeSWITCH refused the login (wrong password, ACL rude rejection)."""


class EslCommandError(EslError):
    """FreeSWITCH answered a command with ``-ERR``; ``reply`` is its own text."""

    def __init__(self, message: str, reply: str) -> None:
        super().__init__(message)
        self.reply = reply


class EslLinkLost(EslError):
    """The link is down. ``sent`` says whether the command may have reached FreeSWITCH."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


@dataclass(frozen=True)
class LinkUp:
    """The link is (again) authenticated and subscribed; ``reconnected`` after an outage."""

    reconnected: bool


@dataclass(frozen=True)
class LinkDown:
    """The link dropped; events until the next LinkUp are lost for good."""

    reason: str


@dataclass(frozen=True)
class ApiResult:
    """An ``api`` answer placed in the event stream at its exact position (reconciliation)."""

    tag: str
    body: str


ClientItem = EslEvent | LinkUp | LinkDown | ApiResult


@dataclass
class _Pending:
    future: asyncio.Future[EslMessage]
    what: str  # command verb, for errors (never the arguments: they hold phone numbers)
    echo: str | None = None


class _Link:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = EslParser()
        self.pending: deque[_Pending] = deque()
        self.last_heartbeat = asyncio.get_running_loop().time()
        self.closing = False
        self.tasks: list[asyncio.Task[None]] = []

    def abort(self) -> None:
        self.closing = True
        self.writer.transport.abort()


class EslClient:
    """One inbound ESL connection to FreeSWITCH (``mod_event_socket``, port 8021)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8021,
        password: str = "ClueCon",
        *,
        events: Iterable[str] = DEFAULT_EVENTS,
        heartbeat_timeout: float = 60.0,
        connect_timeout: float = 5.0,
        command_timeout: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        queue_size: int = 10_000,
        seed: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._password = password
        self.subscription = tuple(events)
        self.heartbeat_timeout = heartbeat_timeout
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._rng = random.Random(seed)
        self._queue: asyncio.Queue[ClientItem | None] = asyncio.Queue(queue_size)
        self._link: _Link | None = None
        self._link_gone: asyncio.Event | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closed = False
        self.connects = 0  # successful logins, for tests and metrics

    @property
    def peer(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._link is not None and not self._link.closing

    async def connect(self) -> None:
        """Connect, authenticate and subscribe; raise EslAuthError/EslError naming the host."""
        if self._supervisor is not None:
            return
        self._closed = False
        await self._open()
        self._queue.put_nowait(LinkUp(reconnected=False))
        self._supervisor = asyncio.create_task(self._supervise(), name=f"esl-{self.peer}")

    async def close(self) -> None:
        """Say ``exit``, close the link, stop reconnecting and end :meth:`events`."""
        self._closed = True
        link = self._link
        if link is not None and not link.closing:
            with contextlib.suppress(EslError, OSError):
                await asyncio.wait_for(self._request(encode_command("exit"), "exit"), 1.0)
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        if self._link is not None:
            await self._teardown(self._link, "client closed")
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    async def events(self) -> AsyncIterator[ClientItem]:
        """Events (HEARTBEAT excluded), link changes and echoed api results, in wire order."""
        while (item := await self._queue.get()) is not None:
            yield item

    async def api(self, command: str, *, echo: str | None = None) -> str:
        """``api <command>`` (blocks FreeSWITCH's side: quick queries only); the body text.

        With ``echo``, the answer is also put into :meth:`events` as ``ApiResult(echo, body)``
        right after the events FreeSWITCH sent before it.
        """
        reply = await self._request(encode_api(command), f"api {command.split(' ')[0]}", echo)
        return reply.text

    async def bgapi(self, command: str, job_uuid: str) -> str:
        """``bgapi <command>`` with our ``Job-UUID``; returns FreeSWITCH's ``+OK`` reply text.

        The result arrives later as a BACKGROUND_JOB event with the same Job-UUID.
        """
        verb = command.split(" ")[0]
        reply = await self._request(encode_bgapi(command, job_uuid), f"bgapi {verb}")
        if not reply.ok:
            raise EslCommandError(
                f"{self.peer}: bgapi {verb} refused: FreeSWITCH said {reply.reply_text!r}",
                reply.reply_text,
            )
        return reply.reply_text

    async def show_channels(self) -> list[dict[str, str]]:
        """Rows of ``show channels as json`` (``[]`` for ``{"row_count": 0}``)."""
        return parse_show_channels(await self.api("show channels as json"), self.peer)

    async def uuid_exists(self, uuid: str) -> bool:
        """True when FreeSWITCH still has a channel with this uuid."""
        return (await self.api(f"uuid_exists {uuid}")).strip() == "true"

    # --- connection management -------------------------------------------------------------

    async def _open(self) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.connect_timeout
            )
        except (OSError, TimeoutError) as exc:
            raise EslError(f"{self.peer}: cannot connect to FreeSWITCH ESL: {exc!r}") from exc
        link = _Link(reader, writer)
        try:
            await asyncio.wait_for(self._handshake(link), self.connect_timeout)
        except BaseException:
            link.abort()
            raise
        self._link = link
        self._link_gone = asyncio.Event()
        link.tasks = [
            asyncio.create_task(self._read_loop(link), name=f"esl-read-{self.peer}"),
            asyncio.create_task(self._watchdog(link), name=f"esl-watchdog-{self.peer}"),
        ]
        self.connects += 1
        log.info(
            "ESL %s: connected, subscribed to %d event types", self.peer, len(self.subscription)
        )

    async def _handshake(self, link: _Link) -> None:
        try:
            first = await self._recv(link)
            if first.content_type == RUDE_REJECTION:
                raise EslAuthError(f"{self.peer}: FreeSWITCH rejected us (ACL): {first.text!r}")
            if first.content_type != AUTH_REQUEST:
                raise EslError(f"{self.peer}: expected auth/request, got {first.content_type!r}")
            link.writer.write(encode_auth(self._password))
            reply = await self._recv(link)
            if reply.content_type != COMMAND_REPLY or not reply.ok:
                said = reply.reply_text or reply.content_type
                raise EslAuthError(f"{self.peer}: ESL auth failed: FreeSWITCH said {said!r}")
            link.writer.write(encode_event_subscription(self.subscription, "json"))
            reply = await self._recv(link)
            if not reply.ok:
                raise EslError(
                    f"{self.peer}: event subscription refused: FreeSWITCH said {reply.reply_text!r}"
                )
        except (OSError, EslProtocolError, asyncio.IncompleteReadError) as exc:
            raise EslError(f"{self.peer}: ESL handshake failed: {exc!r}") from exc

    async def _recv(self, link: _Link) -> EslMessage:
        while (message := link.parser.next_message()) is None:
            data = await link.reader.read(65536)
            if not data:
                raise EslError(f"{self.peer}: FreeSWITCH closed the connection during login")
            link.parser.feed(data)
        return message

    async def _supervise(self) -> None:
        delay = self.backoff_initial
        while not self._closed:
            assert self._link_gone is not None
            await self._link_gone.wait()
            if self._closed:
                return
            while not self._closed:
                # Jitter from a seeded generator spreads reconnects of several dialers.
                await asyncio.sleep(delay * (0.5 + self._rng.random() / 2))
                try:
                    await self._open()
                except EslError as exc:
                    log.warning("ESL %s: reconnect failed: %s", self.peer, exc)
                    delay = min(self.backoff_max, delay * 2)
                    continue
                delay = self.backoff_initial
                await self._queue.put(LinkUp(reconnected=True))
                break

    async def _teardown(self, link: _Link, why: str) -> None:
        if self._link is not link:
            return
        self._link = None
        link.abort()
        while link.pending:
            pending = link.pending.popleft()
            if not pending.future.done():
                pending.future.set_exception(
                    EslLinkLost(f"{self.peer}: {pending.what}: link lost ({why})", sent=True)
                )
        current = asyncio.current_task()
        for task in link.tasks:
            if task is not current:
                task.cancel()
        if not self._closed:
            log.warning("ESL %s: link down: %s", self.peer, why)
            await self._queue.put(LinkDown(why))
        if self._link_gone is not None:
            self._link_gone.set()

    async def _read_loop(self, link: _Link) -> None:
        why = "FreeSWITCH closed the connection"
        try:
            while True:
                data = await link.reader.read(65536)
                if not data:
                    break
                link.parser.feed(data)
                while (message := link.parser.next_message()) is not None:
                    await self._route(link, message)
        except EslProtocolError as exc:
            why = str(exc)
            log.error("ESL %s: %s; reconnecting", self.peer, exc)
        except OSError as exc:
            why = repr(exc)
        except Exception as exc:  # whatever a peer sends, the link must never go blind
            why = f"reader failed: {exc!r}"
            log.exception("ESL %s: reader failed; reconnecting", self.peer)
        await self._teardown(link, why)

    async def _route(self, link: _Link, message: EslMessage) -> None:
        ctype = message.content_type
        if ctype in (COMMAND_REPLY, API_RESPONSE):
            if not link.pending:
                log.warning("ESL %s: unexpected %s", self.peer, ctype)
                return
            pending = link.pending.popleft()
            if pending.echo is not None and ctype == API_RESPONSE:
                await self._queue.put(ApiResult(pending.echo, message.text))
            if not pending.future.done():
                pending.future.set_result(message)
            return
        event = message.event
        if event is not None:
            if event.name == "HEARTBEAT":
                link.last_heartbeat = asyncio.get_running_loop().time()
                return
            await self._queue.put(event)
            return
        if ctype == DISCONNECT_NOTICE:
            log.info("ESL %s: disconnect notice: %s", self.peer, message.text.strip())
        elif ctype == RUDE_REJECTION:
            log.error("ESL %s: rude rejection: %s", self.peer, message.text.strip())

    async def _watchdog(self, link: _Link) -> None:
        loop = asyncio.get_running_loop()
        while True:
            silent = loop.time() - link.last_heartbeat
            if silent >= self.heartbeat_timeout:
                break
            await asyncio.sleep(self.heartbeat_timeout - silent)
        await self._teardown(link, f"no HEARTBEAT for {self.heartbeat_timeout:g} s")

    async def _request(self, raw: bytes, what: str, echo: str | None = None) -> EslMessage:
        link = self._link
        if link is None or link.closing:
            raise EslLinkLost(f"{self.peer}: {what}: not connected (not sent)", sent=False)
        future: asyncio.Future[EslMessage] = asyncio.get_running_loop().create_future()
        link.pending.append(_Pending(future, what, echo))
        link.writer.write(raw)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.command_timeout)
        except TimeoutError:
            # Replies are matched by order: one missing reply desynchronises the link.
            await self._teardown(link, f"{what}: no reply within {self.command_timeout:g} s")
            raise EslLinkLost(f"{self.peer}: {what}: no reply", sent=True) from None


def parse_show_channels(body: str, where: str = "show channels") -> list[dict[str, str]]:
    """Rows of a ``show channels as json`` answer; raises EslError naming the host."""
    text = body.strip()
    if text.startswith("-ERR"):
        raise EslError(f"{where}: show channels failed: FreeSWITCH said {text!r}")
    try:
        data = json_limits.loads(text)
    except json_limits.JsonLimitError as exc:
        raise EslError(f"{where}: show channels answer: {exc}") from None
    rows = data.get("rows", []) if isinstance(data, dict) else []
    return [{str(k): str(v) for k, v in row.items()} for row in rows if isinstance(row, dict)]
