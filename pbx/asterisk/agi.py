"""Sans-IO FastAGI codec for the server side (Asterisk connects to us).

Asterisk opens the TCP connection, writes the ``agi_*`` environment (``key: value`` lines ending
with a blank line), then waits for one command line at a time and answers each with one reply
line (a ``520`` usage reply spans several lines). A bare ``HANGUP`` line can arrive at any time
after the environment, also between a command and its reply. No sockets, no clock in here:
feed bytes with :meth:`AgiConnection.receive_data`, pull events with
:meth:`AgiConnection.next_event`, and get the bytes to write from
:meth:`AgiConnection.send_command`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

__all__ = [
    "NEED_DATA",
    "AgiConnection",
    "AgiEnvironment",
    "AgiHangupNotice",
    "AgiProtocolError",
    "AgiReply",
    "AgiStateError",
    "answer",
    "channel_status",
    "exec_",
    "get_data",
    "get_full_variable",
    "get_variable",
    "hangup",
    "quote",
    "set_variable",
    "stream_file",
    "verbose",
    "wait_for_digit",
]

DEFAULT_MAX_LINE: Final = 64 * 1024
DEFAULT_MAX_ENV_LINES: Final = 512


class _NeedData:
    """Sentinel type: the buffer holds no complete event yet."""

    _instance: _NeedData | None = None

    def __new__(cls) -> _NeedData:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()


class AgiProtocolError(Exception):
    """Asterisk (or whoever connected) sent bytes that are not FastAGI; names offset and bytes."""

    def __init__(self, message: str, offset: int, data: bytes) -> None:
        super().__init__(f"{message} at byte offset {offset}: {data[:120]!r}")
        self.offset = offset
        self.data = data


class AgiStateError(RuntimeError):
    """Our side misused the codec (command before the environment, two commands in flight)."""


@dataclass(frozen=True)
class AgiEnvironment:
    """The ``agi_*`` block Asterisk sends first; ``args`` are agi_arg_1..N in order."""

    variables: Mapping[str, str] = field(hash=False)
    args: tuple[str, ...] = ()

    @property
    def request(self) -> str:
        """``agi_request``, e.g. ``agi://127.0.0.1:4573/router``."""
        return self.variables.get("agi_request", "")

    @property
    def network_script(self) -> str:
        """``agi_network_script``: the path part of the agi:// URL, e.g. ``router``."""
        return self.variables.get("agi_network_script", "")

    @property
    def uniqueid(self) -> str:
        """``agi_uniqueid``: Asterisk's Uniqueid of the channel (the ChannelId if one was set)."""
        return self.variables.get("agi_uniqueid", "")

    @property
    def channel(self) -> str:
        """``agi_channel``: the channel name (may contain the dialed number; do not log it)."""
        return self.variables.get("agi_channel", "")


@dataclass(frozen=True)
class AgiReply:
    """One reply: ``200 result=1 (human)`` → code 200, result "1", data "human".

    ``endpos`` is set for STREAM FILE / RECORD FILE replies. For a ``520`` usage reply,
    ``data`` holds the usage text; for other non-200 codes it holds the message.
    """

    code: int
    result: str
    data: str
    endpos: int | None
    raw: str

    @property
    def dead_channel(self) -> bool:
        """True for ``511 Command Not Permitted on a dead channel``."""
        return self.code == 511


@dataclass(frozen=True)
class AgiHangupNotice:
    """The bare ``HANGUP`` line: Asterisk noticed that the channel hung up."""


AgiEvent = AgiEnvironment | AgiReply | AgiHangupNotice

_STATUS = re.compile(r"^(\d{3})([ -])(.*)$")
_ENDPOS = re.compile(r"(?:^| )endpos=(-?\d+)$")
_ARG_KEY = re.compile(r"^agi_arg_(\d+)$")


def _parse_200(code: int, text: str, raw: str) -> AgiReply:
    if not text.startswith("result="):
        raise ValueError("200 reply without result=")
    rest = text[len("result=") :]
    result, _, tail = rest.partition(" ")
    endpos: int | None = None
    m = _ENDPOS.search(tail)
    if m is not None:
        endpos = int(m.group(1))
        tail = tail[: m.start()]
    tail = tail.strip()
    data = tail[1:-1] if len(tail) >= 2 and tail[0] == "(" and tail[-1] == ")" else tail
    return AgiReply(code, result, data, endpos, raw)


class AgiConnection:
    """FastAGI state machine for our (server) side of one connection.

    ``next_event()`` returns the :class:`AgiEnvironment` once, then :class:`AgiReply` for each
    command sent with :meth:`send_command`, :class:`AgiHangupNotice` whenever Asterisk writes
    ``HANGUP``, or :data:`NEED_DATA`. Every byte is scanned once, so a peer trickling bytes one at
    a time costs O(n). Lines longer than ``max_line`` bytes raise :class:`AgiProtocolError`.
    """

    def __init__(
        self, *, max_line: int = DEFAULT_MAX_LINE, max_env_lines: int = DEFAULT_MAX_ENV_LINES
    ) -> None:
        self._buf = bytearray()
        self._start = 0  # start of the unconsumed part of _buf
        self._scanned = 0  # _buf index up to which no LF was found
        self._base = 0  # absolute stream offset of _buf[0]
        self._max_line = max_line
        self._max_env_lines = max_env_lines
        self._env_lines: list[tuple[str, str]] = []
        self._env: AgiEnvironment | None = None
        self._usage: list[str] | None = None  # lines of a 520 reply in progress
        self._usage_raw: list[str] = []
        self._pending: str | None = None  # the command whose reply is outstanding
        self._hung_up = False
        self._error: AgiProtocolError | None = None

    # ----- state -----------------------------------------------------------------------------
    @property
    def environment(self) -> AgiEnvironment | None:
        """The environment once it has been received, else None."""
        return self._env

    @property
    def hung_up(self) -> bool:
        """True once Asterisk sent the ``HANGUP`` line."""
        return self._hung_up

    @property
    def pending_command(self) -> str | None:
        """The command whose reply has not arrived yet, if any."""
        return self._pending

    # ----- input -----------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Append bytes read from the socket."""
        if self._start and self._start * 2 >= len(self._buf):
            del self._buf[: self._start]
            self._base += self._start
            self._scanned -= self._start
            self._start = 0
        self._buf += data

    def next_event(self) -> AgiEvent | _NeedData:
        """Return the next complete event, or NEED_DATA; raise AgiProtocolError on garbage."""
        if self._error is not None:
            raise self._error
        try:
            while True:
                line = self._next_line()
                if line is None:
                    return NEED_DATA
                event = self._handle_line(*line)
                if event is not None:
                    return event
        except AgiProtocolError as exc:
            self._error = exc
            raise

    def _next_line(self) -> tuple[str, int, bytes] | None:
        idx = self._buf.find(b"\n", max(self._scanned, self._start))
        if idx < 0:
            self._scanned = len(self._buf)
            if len(self._buf) - self._start > self._max_line:
                offset = self._base + self._start
                raise AgiProtocolError(
                    f"line longer than {self._max_line} bytes",
                    offset,
                    bytes(self._buf[self._start : self._start + 120]),
                )
            return None
        if idx - self._start > self._max_line:
            offset = self._base + self._start
            raise AgiProtocolError(
                f"line longer than {self._max_line} bytes",
                offset,
                bytes(self._buf[self._start : self._start + 120]),
            )
        raw = bytes(self._buf[self._start : idx])
        offset = self._base + self._start
        self._start = idx + 1
        self._scanned = self._start
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        # Values (caller names) are usually UTF-8; a stray byte must not drop a live call.
        return raw.decode("utf-8", errors="replace"), offset, raw

    def _handle_line(self, text: str, offset: int, raw: bytes) -> AgiEvent | None:
        if self._env is None:
            return self._env_line(text, offset, raw)
        if self._usage is not None:
            return self._usage_line(text)
        if text == "HANGUP":
            self._hung_up = True
            return AgiHangupNotice()
        m = _STATUS.match(text)
        if m is None:
            raise AgiProtocolError("expected a reply line or HANGUP", offset, raw)
        if self._pending is None:
            raise AgiProtocolError("reply with no command outstanding", offset, raw)
        code = int(m.group(1))
        if m.group(2) == "-":
            if code != 520:
                raise AgiProtocolError("continuation line for a code other than 520", offset, raw)
            self._usage = []
            self._usage_raw = [text]
            return None
        self._pending = None
        if code == 200:
            try:
                return _parse_200(code, m.group(3), text)
            except ValueError:
                raise AgiProtocolError("malformed 200 reply", offset, raw) from None
        return AgiReply(code, "", m.group(3), None, text)

    def _usage_line(self, text: str) -> AgiReply | None:
        assert self._usage is not None
        self._usage_raw.append(text)
        if text.startswith("520 "):
            usage = "\n".join(self._usage)
            raw = "\n".join(self._usage_raw)
            self._usage = None
            self._usage_raw = []
            self._pending = None
            return AgiReply(520, "", usage, None, raw)
        self._usage.append(text)
        return None

    def _env_line(self, text: str, offset: int, raw: bytes) -> AgiEnvironment | None:
        if text == "":
            if not self._env_lines:
                raise AgiProtocolError("empty agi_ environment", offset, raw)
            self._env = self._build_env()
            return self._env
        key, sep, value = text.partition(":")
        if not sep or not key.startswith("agi_") or " " in key:
            raise AgiProtocolError("expected an 'agi_name: value' line", offset, raw)
        if len(self._env_lines) >= self._max_env_lines:
            raise AgiProtocolError(
                f"agi_ environment longer than {self._max_env_lines} lines", offset, raw
            )
        self._env_lines.append((key, value[1:] if value.startswith(" ") else value))
        return None

    def _build_env(self) -> AgiEnvironment:
        variables: dict[str, str] = {}
        numbered: list[tuple[int, str]] = []
        for key, value in self._env_lines:
            variables[key] = value
            m = _ARG_KEY.match(key)
            if m is not None:
                numbered.append((int(m.group(1)), value))
        self._env_lines = []
        args = tuple(v for _, v in sorted(numbered))
        return AgiEnvironment(MappingProxyType(variables), args)

    # ----- output ----------------------------------------------------------------------------
    def send_command(self, text: str) -> bytes:
        """Return the bytes for one command line; one command may be outstanding at a time."""
        if self._env is None:
            raise AgiStateError("cannot send a command before the agi_ environment arrived")
        if self._pending is not None:
            raise AgiStateError(f"command {self._pending!r} is still waiting for its reply")
        if not text or "\n" in text or "\r" in text:
            raise ValueError(f"AGI command must be one non-empty line, got {text!r}")
        self._pending = text
        return text.encode("utf-8") + b"\n"


# ----- command formatting ----------------------------------------------------------------------
_BARE = re.compile(r'^[^\s"\\]+$')


def quote(value: str) -> str:
    """Double-quote an argument the way Asterisk's AGI parser unquotes it."""
    if "\n" in value or "\r" in value:
        raise ValueError(f"AGI argument cannot contain a line break: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _word(kind: str, value: str) -> str:
    if not _BARE.match(value):
        raise ValueError(f"{kind} must be one word without quotes or backslashes, got {value!r}")
    return value


def _maybe_quote(value: str) -> str:
    return value if _BARE.match(value) else quote(value)


def _ms(name: str, value: int) -> str:
    if value < 0:
        raise ValueError(f"{name} must be >= 0 ms, got {value}")
    return str(int(value))


def answer() -> str:
    """``ANSWER``."""
    return "ANSWER"


def hangup() -> str:
    """``HANGUP`` (our own hangup of the channel)."""
    return "HANGUP"


def channel_status() -> str:
    """``CHANNEL STATUS``: 6 = up; answers 511 on a dead channel."""
    return "CHANNEL STATUS"


def stream_file(name: str, escape_digits: str = "") -> str:
    """``STREAM FILE name "digits"``: play ``name`` (no extension), interruptible by digits."""
    return f"STREAM FILE {_word('sound file', name)} {quote(escape_digits)}"


def get_data(file: str, timeout_ms: int, max_digits: int) -> str:
    """``GET DATA file timeout max``: play ``file`` and collect up to ``max_digits`` digits."""
    if max_digits < 1:
        raise ValueError(f"max_digits must be >= 1, got {max_digits}")
    return f"GET DATA {_maybe_quote(file)} {_ms('timeout', timeout_ms)} {int(max_digits)}"


def wait_for_digit(timeout_ms: int) -> str:
    """``WAIT FOR DIGIT ms``."""
    return f"WAIT FOR DIGIT {_ms('timeout', timeout_ms)}"


def set_variable(name: str, value: str) -> str:
    """``SET VARIABLE name "value"``."""
    return f"SET VARIABLE {_word('variable name', name)} {quote(value)}"


def get_variable(name: str) -> str:
    """``GET VARIABLE name``."""
    return f"GET VARIABLE {_word('variable name', name)}"


def get_full_variable(expression: str) -> str:
    """``GET FULL VARIABLE ${EXPR}``: evaluate a dialplan expression."""
    return f"GET FULL VARIABLE {_maybe_quote(expression)}"


def exec_(app: str, args: str = "") -> str:
    """``EXEC App args``: args are quoted only when they contain blanks or quotes."""
    name = _word("application name", app)
    return f"EXEC {name} {_maybe_quote(args)}" if args else f"EXEC {name}"


def verbose(msg: str, level: int = 1) -> str:
    """``VERBOSE "message" level``: write to the Asterisk console/log."""
    if not 1 <= level <= 4:
        raise ValueError(f"verbose level must be 1..4, got {level}")
    return f"VERBOSE {quote(msg)} {level}"
