"""Outbound ESL: FreeSWITCH connects to us (``socket 127.0.0.1:8084 async full``) per call.

:class:`OutboundServer` accepts those connections and hands each answered channel to a handler
as an :class:`EslSession` (a pbx.session.CallSession), the same handlers FastAGI runs.

Session protocol (recorded from FreeSWITCH 1.10.12, ``tests/fixtures/freeswitch/outbound``):
``connect`` (the reply is the channel data as URL-encoded headers), ``myevents [json]``,
``linger``; then each application runs as ``sendmsg`` / ``call-command: execute`` with
``event-lock: true``. The socket is async, so ``+OK`` only means "queued": the application's
result is the ``CHANNEL_EXECUTE_COMPLETE`` event (``Application-Response``), matched here to
our commands in order by application name. ``CHANNEL_HANGUP`` (or a disconnect notice, or EOF)
marks the callee gone: every pending and later call raises CallerHungUp.

The socket has no authentication: connections are admitted only from peers on the
:class:`~pbx.peer_gate.PeerGate` allow-list (loopback by default) while fewer than its cap are
open, and each session's parser holds at most :data:`SESSION_MAX_HEADER_BYTES` of headers and
:data:`SESSION_MAX_BODY_BYTES` of body. A callee who hangs up while the session is being set up
ends it quietly (logged), like a hang-up at any later point.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from pbx.freeswitch.callcenter import qualified_queue
from pbx.freeswitch.esl import (
    API_RESPONSE,
    COMMAND_REPLY,
    DISCONNECT_NOTICE,
    EslEvent,
    EslMessage,
    EslParser,
    EslProtocolError,
    encode_api,
    encode_connect,
    encode_exit,
    encode_linger,
    encode_myevents,
    encode_sendmsg_execute,
    encode_sendmsg_hangup,
)
from pbx.peer_gate import PeerGate
from pbx.session import CallerHungUp, CallSession, amd_status, recording_file

log = logging.getLogger(__name__)

Handler = Callable[[CallSession], Awaitable[None]]
# The DTMF digit that takes a caller out of a mod_callcenter queue at the 2-second deadline
# (``cc_exit_keys``): ordinary phones cannot send it; a caller who did would only leave early.
CC_EXIT_KEY = "D"
SESSION_MAX_HEADER_BYTES = 256 * 1024  # the connect reply (all channel variables) is ~10 KiB
SESSION_MAX_BODY_BYTES = 1024 * 1024  # one channel's events: a few KiB each


class EslSessionError(Exception):
    """The outbound session failed (protocol error, FreeSWITCH -ERR, timeout)."""


@dataclass
class _Execute:
    app: str
    future: asyncio.Future[EslEvent]


@dataclass
class _State:
    replies: deque[asyncio.Future[EslMessage]] = field(default_factory=deque)
    executes: deque[_Execute] = field(default_factory=deque)
    digits: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    lingered: asyncio.Event = field(default_factory=asyncio.Event)
    completed: asyncio.Event = field(default_factory=asyncio.Event)  # HANGUP_COMPLETE seen
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class EslSession:
    """One answered channel over an outbound ESL socket; implements pbx.session.CallSession."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        event_format: str = "json",
        linger: bool = True,
        sound_extension: str = ".wav",
        command_timeout: float = 10.0,
        time_scale: float = 1.0,
        recordings_dir: str = "",
    ) -> None:
        self._reader = reader
        self._time_scale = time_scale  # PBX seconds per loop second (a simulated PBX's scale)
        self._recordings_dir = recordings_dir.rstrip("/")  # "" = FreeSWITCH's own
        self._writer = writer
        self._parser = EslParser(SESSION_MAX_HEADER_BYTES, SESSION_MAX_BODY_BYTES)
        self._format = event_format
        self._linger = linger
        self._ext = sound_extension
        self._timeout = command_timeout
        self._s = _State()
        self._link_lost = False  # the socket closed before FreeSWITCH reported the hangup
        self._data: dict[str, str] = {}
        self._terminators: str | None = None
        self._seq = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self.uuid = ""
        self.call_id = ""
        self.variables: dict[str, str] = {}
        self.hangup_cause = ""

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """``connect`` (read the channel data), ``myevents``, ``linger``; start the reader."""
        self._writer.write(encode_connect())
        reply = await asyncio.wait_for(self._read_one(), self._timeout)
        if not reply.is_connect_reply:
            raise EslSessionError(f"outbound connect: unexpected reply {reply.headers[:3]!r}")
        self._data = dict(reply.channel_data)
        self.uuid = self._data.get("Unique-ID", "")
        self.call_id = self._data.get("variable_pacedial_call_id") or self.uuid
        self.variables = {k[9:]: v for k, v in self._data.items() if k.startswith("variable_")}
        self._terminators = self._data.get("variable_playback_terminators")
        self._task = asyncio.create_task(self._read_loop(), name=f"esl-outbound-{self.call_id}")
        await self._command(encode_myevents(self._format), "myevents")
        if self._linger:
            await self._command(encode_linger(), "linger")

    async def finish(self, grace: float = 5.0) -> None:
        """After the handler: hang up if still up, wait for the final events, ``exit``."""
        s = self._s
        if not s.closed.is_set():
            if not s.hung_up.is_set():
                with contextlib.suppress(CallerHungUp, EslSessionError):
                    await self.hangup()
            if self._linger:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._linger_done(), grace)
                with contextlib.suppress(EslSessionError, CallerHungUp):
                    self._writer.write(encode_exit())
                    await asyncio.wait_for(s.closed.wait(), grace)
        self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def abort(self) -> None:
        """Close the socket at once and stop the reader (a session that never got going)."""
        self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _linger_done(self) -> None:
        await self._s.lingered.wait()
        await self._s.completed.wait()

    # --- CallSession -----------------------------------------------------------------------

    @property
    def hung_up(self) -> bool:
        return self._s.hung_up.is_set()

    @property
    def link_lost(self) -> bool:
        """True when the socket closed before FreeSWITCH reported the hangup (a hangup event
        or the disconnect notice): FreeSWITCH died or the network broke."""
        return self._link_lost

    @property
    def channel_data(self) -> Mapping[str, str]:
        """The latest channel data (connect reply, refreshed from every event)."""
        return self._data

    async def answer(self) -> None:
        """Answer the channel (a no-op for an originated leg that is already up)."""
        await self.execute("answer")

    async def play(self, prompt: str, interrupt_digits: str = "") -> str:
        """``playback``; the digit in ``interrupt_digits`` that stopped it, or ""."""
        if interrupt_digits and self._terminators != interrupt_digits:
            await self.set_variable("playback_terminators", interrupt_digits)
        elif not interrupt_digits and self._terminators not in (None, "none"):
            await self.set_variable("playback_terminators", "none")
        done = await self._execute_event("playback", self._sound(prompt))
        used = done.get("variable_playback_terminator_used") or ""
        return used if used and used in interrupt_digits else ""

    async def read_digits(self, prompt: str, max_digits: int, timeout: float) -> str:
        """``play_and_get_digits``: up to ``max_digits`` DTMF digits, "" on timeout."""
        var = f"pacedial_digits_{next(self._seq)}"
        args = (
            f"1 {max_digits} 1 {int(timeout * 1000)} # {self._sound(prompt)} "
            f"silence_stream://250 {var} \\d+"
        )
        done = await self._execute_event("play_and_get_digits", args)
        return done.get(f"variable_{var}") or ""

    async def wait_digit(self, timeout: float) -> str:
        """The next DTMF digit (from ``DTMF`` events), "" on timeout."""
        if self.hung_up:
            raise CallerHungUp(self.call_id)
        get = asyncio.ensure_future(self._s.digits.get())
        gone = asyncio.ensure_future(self._s.hung_up.wait())
        try:
            done, _ = await asyncio.wait(
                {get, gone}, timeout=timeout, return_when="FIRST_COMPLETED"
            )
        finally:
            gone.cancel()
            if not get.done():
                get.cancel()
        if get in done:
            return get.result()
        if gone in done:
            raise CallerHungUp(self.call_id)
        return ""

    async def set_variable(self, name: str, value: str) -> None:
        """``set name=value`` on the channel."""
        await self.execute("set", f"{name}={value}")
        self._data[f"variable_{name}"] = value
        if name == "playback_terminators":
            self._terminators = value

    async def get_variable(self, name: str) -> str | None:
        """A channel variable: from the latest channel data, else ``uuid_getvar``."""
        known = self._data.get(f"variable_{name}")
        if known is not None:
            return known
        if self.hung_up:
            raise CallerHungUp(self.call_id)
        reply = await self._command(encode_api(f"uuid_getvar {self.uuid} {name}"), "api")
        value = reply.text.strip()
        return None if value in ("_undef_", "") or value.startswith("-ERR") else value

    async def execute(self, application: str, args: str = "") -> str:
        """Run a dialplan application; its ``Application-Response``."""
        done = await self._execute_event(application, args)
        return done.get("Application-Response") or ""

    async def start_recording(self, name: str) -> str:
        """``record_session <dir>/<name>.wav`` (both directions, until the call ends); the
        absolute path FreeSWITCH writes.

        A relative name would be written under ``sound_prefix``, not the recordings directory
        (``outbound_record_session_paths.txt``), so the path is always absolute: the site's
        ``recordings_dir``, else FreeSWITCH's own (``global_getvar recordings_dir``).
        """
        folder = self._recordings_dir
        if not folder:
            reply = await self._command(encode_api("global_getvar recordings_dir"), "api")
            folder = reply.text.strip().rstrip("/")
            if not folder.startswith("/"):
                raise EslSessionError(
                    f"call {self.call_id}: FreeSWITCH has no recordings_dir ({folder!r}): set "
                    "[freeswitch] recordings_dir in the site file"
                )
        path = f"{folder}/{recording_file(name)}"
        await self._execute_event("record_session", path)
        return path

    async def detect_machine(self) -> tuple[str, str]:
        """mod_amd's ``amd`` application, then its ``amd_result`` / ``amd_cause`` variables.

        A hang-up while ``amd`` listens gives ``("HANGUP", "")``; a channel already hung up
        raises CallerHungUp.
        """
        if self.hung_up:
            raise CallerHungUp(self.call_id)
        try:
            await self._execute_event("amd")
            status = await self.get_variable("amd_result")
            cause = await self.get_variable("amd_cause") or ""
        except CallerHungUp:
            return "HANGUP", ""
        return amd_status(status), cause

    async def enqueue(self, queue: str, timeout: float) -> bool:
        """``callcenter <queue>`` (a qualified name, ``collectors@default``); True when an agent
        took the call, returned once the conversation is over; False when none did within
        ``timeout`` seconds (the caller is out of the queue and the session keeps control).

        As the captures show (``outbound_callcenter_*.txt``): callcenter completes at the
        agent's answer (``cc_agent_bridged=true``), before the conversation, and mod_callcenter
        then bridges the call away from the socket, so this waits for the hang-up. The deadline
        is ``cc_exit_keys`` plus ``uuid_recv_dtmf`` (``EXIT_WITH_KEY``, ~20 ms): ``uuid_break``
        and ``sendmsg`` are ignored while callcenter waits, ``max-wait-time`` is per queue and
        coarse, ``uuid_transfer`` ends the session. A caller who hangs up while queued gives
        False with ``hung_up`` set.
        """
        if timeout <= 0:
            return False
        await self.set_variable("cc_exit_keys", CC_EXIT_KEY)
        run = asyncio.ensure_future(self._execute_event("callcenter", qualified_queue(queue)))
        try:
            try:
                done = await asyncio.wait_for(asyncio.shield(run), timeout / self._time_scale)
            except TimeoutError:
                with contextlib.suppress(EslSessionError, CallerHungUp):
                    await self._command(
                        encode_api(f"uuid_recv_dtmf {self.uuid} {CC_EXIT_KEY}"), "api"
                    )
                done = await asyncio.wait_for(run, self._timeout)
        except (CallerHungUp, TimeoutError):
            return False
        if (done.get("variable_cc_agent_bridged") or "").lower() != "true":
            return False
        await self._s.hung_up.wait()  # the agent conversation, bridged by mod_callcenter
        return True

    async def hangup(self) -> None:
        """``sendmsg`` ``call-command: hangup`` (NORMAL_CLEARING)."""
        if self.hung_up:
            return
        await self._command(encode_sendmsg_hangup("NORMAL_CLEARING"), "hangup")
        self._s.hung_up.set()

    # --- internals -------------------------------------------------------------------------

    def _sound(self, prompt: str) -> str:
        if "://" in prompt or "." in prompt.rsplit("/", 1)[-1]:
            return prompt
        return prompt + self._ext

    async def _execute_event(self, app: str, args: str = "") -> EslEvent:
        if self.hung_up:
            raise CallerHungUp(self.call_id)
        future: asyncio.Future[EslEvent] = asyncio.get_running_loop().create_future()
        pending = _Execute(app, future)
        self._s.executes.append(pending)
        try:
            await self._command(encode_sendmsg_execute(app, args), f"execute {app}")
            return await future
        finally:
            with contextlib.suppress(ValueError):
                self._s.executes.remove(pending)

    async def _command(self, raw: bytes, what: str) -> EslMessage:
        if self._s.closed.is_set():
            raise CallerHungUp(self.call_id)
        future: asyncio.Future[EslMessage] = asyncio.get_running_loop().create_future()
        self._s.replies.append(future)
        self._writer.write(raw)
        try:
            reply = await asyncio.wait_for(future, self._timeout)
        except TimeoutError:
            raise EslSessionError(f"call {self.call_id}: {what}: no reply") from None
        if reply.content_type == COMMAND_REPLY and reply.reply_text.startswith("-ERR"):
            if self.hung_up:
                raise CallerHungUp(self.call_id)
            raise EslSessionError(
                f"call {self.call_id}: {what}: FreeSWITCH said {reply.reply_text!r}"
            )
        return reply

    async def _read_one(self) -> EslMessage:
        while (message := self._parser.next_message()) is None:
            data = await self._reader.read(65536)
            if not data:
                raise EslSessionError("outbound socket closed before the connect reply")
            self._parser.feed(data)
        return message

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                self._parser.feed(data)
                while (message := self._parser.next_message()) is not None:
                    self._route(message)
        except (EslProtocolError, OSError) as exc:
            log.error("call %s: outbound ESL: %s", self.call_id, exc)
        finally:
            self._link_lost = not self._s.hung_up.is_set()
            self._gone(closed=True)

    def _route(self, message: EslMessage) -> None:
        ctype = message.content_type
        if ctype in (COMMAND_REPLY, API_RESPONSE):
            if self._s.replies:
                future = self._s.replies.popleft()
                if not future.done():
                    future.set_result(message)
            return
        if ctype == DISCONNECT_NOTICE:
            if message.header("Content-Disposition") == "linger":
                self._s.lingered.set()
            self._gone(closed=False)
            return
        event = message.event
        if event is not None:
            self._on_event(event)

    def _on_event(self, event: EslEvent) -> None:
        if event.unique_id and event.unique_id != self.uuid:
            return
        for key, value in event.headers.items():
            if key.startswith("variable_"):
                self._data[key] = value
        name = event.name
        if name == "CHANNEL_EXECUTE_COMPLETE":
            app = event.get("Application") or ""
            for pending in self._s.executes:
                if pending.app == app and not pending.future.done():
                    pending.future.set_result(event)
                    break
        elif name == "DTMF":
            digit = event.get("DTMF-Digit") or ""
            if digit and digit != CC_EXIT_KEY:  # our own queue exit is not the caller's key
                self._s.digits.put_nowait(digit)
        elif name in ("CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"):
            self.hangup_cause = event.get("Hangup-Cause") or self.hangup_cause
            if name == "CHANNEL_HANGUP_COMPLETE":
                self._s.completed.set()
            self._gone(closed=False)

    def _gone(self, *, closed: bool) -> None:
        s = self._s
        s.hung_up.set()
        for pending in s.executes:
            if not pending.future.done():
                pending.future.set_exception(CallerHungUp(self.call_id))
        if closed:
            s.closed.set()
            s.lingered.set()
            s.completed.set()
            while s.replies:
                future = s.replies.popleft()
                if not future.done():
                    future.set_exception(CallerHungUp(self.call_id))


class OutboundServer:
    """Accept FreeSWITCH's outbound-socket connections and run ``handler`` per call."""

    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 8084,
        *,
        event_format: str = "json",
        linger: bool = True,
        sound_extension: str = ".wav",
        command_timeout: float = 10.0,
        gate: PeerGate | None = None,
        time_scale: float = 1.0,
        recordings_dir: str = "",
    ) -> None:
        self.handler = handler
        self.gate = gate or PeerGate()
        self.refused = 0  # connections closed at once: peer not allowed, or at the cap
        self.host = host
        self.port = port
        self._opts = {
            "event_format": event_format,
            "linger": linger,
            "sound_extension": sound_extension,
            "command_timeout": command_timeout,
            "time_scale": time_scale,
            "recordings_dir": recordings_dir,
        }
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen; ``port`` 0 picks a free port (read it back from ``self.port``)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("outbound ESL server listening on %s:%d", self.host, self.port)

    async def close(self) -> None:
        """Stop listening and cancel running sessions."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._sessions):
            task.cancel()
        for task in list(self._sessions):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        why = self.gate.refusal(writer.get_extra_info("peername"), len(self._sessions))
        if why:
            self.refused += 1
            log.warning("outbound ESL connection refused: %s", why)
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        session = EslSession(reader, writer, **self._opts)  # type: ignore[arg-type]
        try:
            try:
                await session.start()
            except CallerHungUp:
                log.info("call %s: callee hung up during session setup", session.call_id or "?")
                await session.finish(grace=1.0)
                return
            except (EslSessionError, EslProtocolError, OSError, TimeoutError) as exc:
                log.error("outbound ESL session setup failed: %s", exc)
                await session.abort()
                return
            try:
                await self.handler(session)
            except CallerHungUp:
                log.info("call %s: caller hung up during the session", session.call_id)
            except Exception:
                log.exception("call %s: answered-call handler failed", session.call_id)
            await session.finish()
        finally:
            self._sessions.discard(task)
