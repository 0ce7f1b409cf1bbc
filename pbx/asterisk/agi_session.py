"""AgiSession: the pbx.session.CallSession of one FastAGI connection.

One reader task feeds the sans-IO codec and routes what Asterisk writes: each reply resolves the
future of the one command in flight, a ``HANGUP`` line marks the call hung up at once. Commands
are serialized with a lock and each waits under a timeout, so a stuck PBX cannot hold a handler
forever; after a timeout the reply stream can no longer be trusted and the session is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass

from pbx.asterisk import agi
from pbx.asterisk.agi import AgiConnection, AgiEnvironment, AgiHangupNotice, AgiReply
from pbx.session import CallerHungUp, amd_status, recording_file

__all__ = [
    "CALL_ID_VARIABLE",
    "QUEUE_NOT_CONNECTED",
    "AgiCommandError",
    "AgiCommandTimeout",
    "AgiSession",
    "AgiSessionClosed",
    "AgiTimeouts",
]

log = logging.getLogger(__name__)

CALL_ID_VARIABLE = "PACEDIAL_CALL_ID"
# QUEUESTATUS values meaning "left the queue without talking to an agent".
QUEUE_NOT_CONNECTED = frozenset(
    {"TIMEOUT", "FULL", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL", "WITHDRAW"}
)
_READ_SIZE = 16 * 1024


@dataclass(frozen=True)
class AgiTimeouts:
    """Upper bounds (seconds) on waiting for one reply.

    ``command``: ANSWER, SET/GET VARIABLE, VERBOSE, HANGUP, CHANNEL STATUS.
    ``media``: STREAM FILE and EXEC (their length is unknown); GET DATA and WAIT FOR DIGIT get
    ``command`` plus their own digit timeouts (plus ``media`` for GET DATA's prompt).
    ``queue``: EXEC Queue, which returns only after the agent conversation.
    """

    command: float = 30.0
    media: float = 300.0
    queue: float = 4 * 3600.0


class AgiCommandError(Exception):
    """Asterisk rejected a command (510 unknown, 520 bad syntax, or another non-200 code)."""

    def __init__(self, call_id: str, command: str, reply: AgiReply) -> None:
        super().__init__(f"call {call_id}: AGI command {command!r} failed: {reply.raw!r}")
        self.command = command
        self.reply = reply


class AgiCommandTimeout(TimeoutError):
    """No reply within the guard time; the session has been closed."""

    def __init__(self, call_id: str, command: str, timeout: float) -> None:
        super().__init__(f"call {call_id}: no reply to AGI {command!r} within {timeout:g} s")
        self.command = command


class AgiSessionClosed(ConnectionError):
    """The FastAGI connection is closed (by Asterisk, by a timeout, or by a protocol error)."""


class AgiSession:
    """A CallSession over one FastAGI connection (see docs/fastagi.md for the exact rules)."""

    def __init__(
        self,
        conn: AgiConnection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        timeouts: AgiTimeouts | None = None,
    ) -> None:
        env = conn.environment
        if env is None:
            raise ValueError("AgiSession needs a connection whose agi_ environment has arrived")
        self.env: AgiEnvironment = env
        self.variables: dict[str, str] = dict(env.variables)
        self.call_id: str = env.args[0] if env.args and env.args[0] else env.uniqueid
        self.timeouts = timeouts or AgiTimeouts()
        self._conn = conn
        self._reader = reader
        self._writer = writer
        self._lock = asyncio.Lock()
        self._pending: asyncio.Future[AgiReply] | None = None
        self._hung_up = False
        self._link_lost = False  # the socket ended before Asterisk reported the hangup
        self._closed: BaseException | None = None
        self._enqueued = False
        self._reader_task = asyncio.create_task(
            self._read_loop(), name=f"agi-reader-{env.uniqueid}"
        )

    # ----- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Fetch the call id from PACEDIAL_CALL_ID (fallback: agi_arg_1, then agi_uniqueid)."""
        value = await self.get_variable(CALL_ID_VARIABLE)
        if value:
            self.call_id = value
        elif not (self.env.args and self.env.args[0]):
            log.warning(
                "call %s: neither %s nor agi_arg_1 is set; using agi_uniqueid as call id",
                self.call_id,
                CALL_ID_VARIABLE,
            )

    async def close(self, timeout: float = 2.0) -> None:
        """Stop the reader and close the socket (idempotent)."""
        self._fail(AgiSessionClosed(f"call {self.call_id}: FastAGI session closed"))
        self._reader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader_task
        self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), timeout)

    @property
    def hung_up(self) -> bool:
        """True once Asterisk reported the hangup (HANGUP line, 511, result=-1) or we hung up."""
        return self._hung_up

    @property
    def link_lost(self) -> bool:
        """True when the FastAGI socket ended with no HANGUP line, 511 or result=-1 before it:
        Asterisk died or the network broke (a hung-up channel is always reported first, and a
        command in flight always answered, ``agi_queue_hangup_in_queue.txt``)."""
        return self._link_lost

    # ----- reader ----------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        try:
            while True:
                # Drain first: bytes that came with the environment are already buffered.
                while (event := self._conn.next_event()) is not agi.NEED_DATA:
                    if isinstance(event, AgiHangupNotice):
                        self._hung_up = True
                    elif isinstance(event, AgiReply):
                        fut, self._pending = self._pending, None
                        if fut is not None and not fut.done():
                            fut.set_result(event)
                data = await self._reader.read(_READ_SIZE)
                if not data:
                    # Asterisk closes the FastAGI socket once the channel is gone.
                    self._link_lost = not self._hung_up
                    self._hung_up = True
                    self._fail(AgiSessionClosed(f"call {self.call_id}: Asterisk closed FastAGI"))
                    return
                self._conn.receive_data(data)
        except agi.AgiProtocolError as exc:
            log.warning("call %s: FastAGI protocol error: %s", self.call_id, exc)
            self._fail(AgiSessionClosed(f"call {self.call_id}: {exc}"))
            self._writer.close()
        except (ConnectionError, OSError) as exc:
            self._link_lost = not self._hung_up
            self._hung_up = True
            self._fail(AgiSessionClosed(f"call {self.call_id}: FastAGI connection lost: {exc}"))

    def _fail(self, exc: BaseException) -> None:
        if self._closed is None:
            self._closed = exc
        fut, self._pending = self._pending, None
        if fut is not None and not fut.done():
            fut.set_exception(exc)

    # ----- command core ----------------------------------------------------------------------
    async def command(self, text: str, timeout: float | None = None) -> AgiReply:
        """Send one raw AGI command and return its reply (one command in flight at a time)."""
        guard = self.timeouts.command if timeout is None else timeout
        async with self._lock:
            if self._closed is not None:
                if self._hung_up:
                    raise CallerHungUp(f"call {self.call_id}: connection closed after hangup")
                raise AgiSessionClosed(str(self._closed))
            fut: asyncio.Future[AgiReply] = asyncio.get_running_loop().create_future()
            self._pending = fut
            try:
                self._writer.write(self._conn.send_command(text))
                async with asyncio.timeout(guard):
                    await self._writer.drain()
                    return await fut
            except TimeoutError:
                self._fail(AgiCommandTimeout(self.call_id, text, guard))
                self._writer.close()
                raise AgiCommandTimeout(self.call_id, text, guard) from None
            except AgiSessionClosed:
                if self._hung_up:
                    raise CallerHungUp(f"call {self.call_id}: hung up during {text!r}") from None
                raise
            except (ConnectionError, OSError) as exc:
                self._hung_up = True
                self._fail(AgiSessionClosed(f"call {self.call_id}: write failed: {exc}"))
                raise CallerHungUp(f"call {self.call_id}: connection lost during {text!r}") from exc

    def _require_live(self, what: str) -> None:
        if self._hung_up:
            raise CallerHungUp(f"call {self.call_id}: caller hung up before {what}")

    def _checked(self, text: str, reply: AgiReply) -> AgiReply:
        if reply.dead_channel:
            self._hung_up = True
            raise CallerHungUp(f"call {self.call_id}: {text!r} answered 511 (dead channel)")
        if reply.code != 200:
            raise AgiCommandError(self.call_id, text, reply)
        return reply

    async def _live_command(self, text: str, timeout: float | None = None) -> AgiReply:
        self._require_live(text)
        return self._checked(text, await self.command(text, timeout))

    def _hangup_result(self, text: str, reply: AgiReply) -> None:
        if reply.result == "-1":
            self._hung_up = True
            raise CallerHungUp(f"call {self.call_id}: {text!r} returned result=-1 (hung up)")

    def _digit(self, text: str, reply: AgiReply) -> str:
        """Map ``result=<ASCII code>`` to the digit, 0 to ""."""
        try:
            code = int(reply.result)
        except ValueError:
            raise AgiCommandError(self.call_id, text, reply) from None
        return chr(code) if 0 < code < 0x110000 else ""

    # ----- CallSession -----------------------------------------------------------------------
    async def answer(self) -> None:
        """ANSWER the channel."""
        text = agi.answer()
        self._hangup_result(text, await self._live_command(text))

    async def play(self, prompt: str, interrupt_digits: str = "") -> str:
        """STREAM FILE; return the interrupting digit or "".

        ``result=-1`` with ``endpos`` > 0 means playback was cut by a hangup. ``result=-1
        endpos=0`` is also what a missing sound file gives, so a CHANNEL STATUS probe decides:
        a dead channel raises CallerHungUp, a live one logs the missing prompt and returns "".
        """
        text = agi.stream_file(prompt, interrupt_digits)
        reply = await self._live_command(text, self.timeouts.media)
        if reply.result != "-1":
            return self._digit(text, reply)
        if self._hung_up or (reply.endpos or 0) > 0:
            self._hung_up = True
            raise CallerHungUp(f"call {self.call_id}: hung up during {text!r}")
        status = await self._live_command(agi.channel_status())
        self._hangup_result("CHANNEL STATUS", status)
        if self._hung_up:
            raise CallerHungUp(f"call {self.call_id}: hung up during {text!r}")
        log.warning("call %s: sound file %r could not be played", self.call_id, prompt)
        return ""

    async def read_digits(self, prompt: str, max_digits: int, timeout: float) -> str:
        """GET DATA; return the digits entered ("" on timeout)."""
        timeout_ms = _to_ms(timeout)
        text = agi.get_data(prompt, timeout_ms, max_digits)
        guard = self.timeouts.media + self.timeouts.command + max_digits * timeout_ms / 1000
        reply = await self._live_command(text, guard)
        self._hangup_result(text, reply)
        return reply.result

    async def wait_digit(self, timeout: float) -> str:
        """WAIT FOR DIGIT; return the digit or "" on timeout."""
        timeout_ms = _to_ms(timeout)
        text = agi.wait_for_digit(timeout_ms)
        reply = await self._live_command(text, self.timeouts.command + timeout_ms / 1000)
        self._hangup_result(text, reply)
        return self._digit(text, reply)

    async def set_variable(self, name: str, value: str) -> None:
        """SET VARIABLE (works on a dead channel too)."""
        text = agi.set_variable(name, value)
        self._checked(text, await self.command(text))
        self.variables[name] = value

    async def get_variable(self, name: str) -> str | None:
        """GET VARIABLE; None if unset (works on a dead channel too)."""
        text = agi.get_variable(name)
        reply = self._checked(text, await self.command(text))
        if reply.result != "1":
            return None
        self.variables[name] = reply.data
        return reply.data

    async def get_full_variable(self, expression: str) -> str | None:
        """GET FULL VARIABLE: evaluate a dialplan expression such as ``${CHANNEL}``."""
        text = agi.get_full_variable(expression)
        reply = self._checked(text, await self.command(text))
        return reply.data if reply.result == "1" else None

    async def verbose(self, message: str, level: int = 1) -> None:
        """VERBOSE to the Asterisk log (works on a dead channel too)."""
        text = agi.verbose(message, level)
        self._checked(text, await self.command(text))

    async def channel_status(self) -> int:
        """CHANNEL STATUS (6 = up); CallerHungUp on a dead channel."""
        text = agi.channel_status()
        reply = await self._live_command(text)
        self._hangup_result(text, reply)
        try:
            return int(reply.result)
        except ValueError:
            raise AgiCommandError(self.call_id, text, reply) from None

    async def execute(self, application: str, args: str = "") -> str:
        """EXEC an application; return its raw result (-2: application not found)."""
        text = agi.exec_(application, args)
        return (await self._live_command(text, self.timeouts.media)).result

    async def start_recording(self, name: str) -> str:
        """``EXEC MixMonitor <name>.wav``: the whole call, robot dialog included (no ``b``
        option, which would record only while bridged to an agent); returns the file name
        Asterisk writes in its monitor directory."""
        path = recording_file(name)
        await self.execute("MixMonitor", path)
        return path

    async def detect_machine(self) -> tuple[str, str]:
        """``EXEC AMD``, then AMDSTATUS / AMDCAUSE (readable on a dead channel too).

        A hang-up while AMD listens gives ``("HANGUP", cause)``, as app_amd reports it; a
        channel already hung up raises CallerHungUp.
        """
        self._require_live("AMD")
        try:
            await self.execute("AMD")
        except CallerHungUp:
            if self._closed is not None:  # the FastAGI socket is gone: nothing to read back
                return "HANGUP", ""
        status = await self.get_variable("AMDSTATUS")
        cause = await self.get_variable("AMDCAUSE") or ""
        return ("HANGUP" if self._hung_up and not status else amd_status(status)), cause

    async def enqueue(self, queue: str, timeout: float) -> bool:
        """Offer the call to an Asterisk queue; True if an agent talked to the caller.

        Sends ``EXEC Queue <queue>,,,,<s>`` with ``s`` the whole seconds within ``timeout``
        (app_queue's timeout is whole seconds; under 1 s left: False without queueing, so the
        deadline is never passed), then reads QUEUESTATUS (readable on a
        dead channel). A status in QUEUE_NOT_CONNECTED → False. Unset (or CONTINUE) → the queue
        either connected an agent or the caller hung up while waiting; MEMBERINTERFACE (set by
        app_queue on connect, needs ``setinterfacevar = yes``) tells them apart: set → True.
        """
        self._require_live(f"Queue({queue})")
        seconds = math.floor(timeout + 1e-9)
        if seconds < 1:
            return False
        if self._enqueued:  # a second Queue() must not see the first one's variables
            await self.set_variable("QUEUESTATUS", "")
            await self.set_variable("MEMBERINTERFACE", "")
        self._enqueued = True
        text = agi.exec_("Queue", f"{_word_arg(queue)},,,,{seconds}")
        try:
            reply = await self.command(text, self.timeouts.queue + seconds)
        except CallerHungUp:
            return False
        if reply.dead_channel or reply.result == "-1":
            self._hung_up = True
        elif reply.code != 200:
            raise AgiCommandError(self.call_id, text, reply)
        try:
            status = await self.get_variable("QUEUESTATUS")
            if status and status in QUEUE_NOT_CONNECTED:
                return False
            return bool(await self.get_variable("MEMBERINTERFACE"))
        except CallerHungUp:
            return False

    async def hangup(self) -> None:
        """HANGUP the channel; a no-op once the call is already hung up."""
        if self._hung_up:
            return
        try:
            reply = await self.command(agi.hangup())
        except CallerHungUp:
            return
        self._hung_up = True
        if reply.code not in (200, 511):
            raise AgiCommandError(self.call_id, agi.hangup(), reply)


def _to_ms(seconds: float) -> int:
    if seconds < 0 or math.isnan(seconds):
        raise ValueError(f"timeout must be >= 0 seconds, got {seconds}")
    return round(seconds * 1000)


def _word_arg(queue: str) -> str:
    if not queue or any(c in queue for c in ', "\\\n\r'):
        raise ValueError(f"queue name must be one word without commas or quotes, got {queue!r}")
    return queue
