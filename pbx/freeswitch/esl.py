"""Sans-IO codec for the FreeSWITCH Event Socket (ESL), inbound and outbound.

Framing (mod_event_socket, FreeSWITCH 1.10): a header block of ``Key: Value`` lines ended by a
blank line (bare LF, never CRLF), then exactly ``Content-Length`` bytes of body when that header
is present. Bodies need not end with LF (``text/event-json`` bodies never do), so bodies are cut
by length only. No sockets and no clock here: feed bytes with :meth:`EslParser.feed`, take
complete messages with :meth:`EslParser.next_message`, and build commands with the ``encode_*``
functions.

Duplicate headers: ``CHANNEL_HANGUP_COMPLETE`` carries ``Hangup-Cause`` twice (a duplicate key in
``event json``, a repeated line in ``event plain``). In every recorded capture both copies hold the
same value; the first one is the header FreeSWITCH puts on the event when it is created, so every
parser here keeps the **first** occurrence of a repeated key and ignores later ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from urllib.parse import unquote

from pbx import json_limits

# Content types FreeSWITCH sends on an event socket.
AUTH_REQUEST = "auth/request"
COMMAND_REPLY = "command/reply"
API_RESPONSE = "api/response"
EVENT_JSON = "text/event-json"
EVENT_PLAIN = "text/event-plain"
DISCONNECT_NOTICE = "text/disconnect-notice"
RUDE_REJECTION = "text/rude-rejection"

MAX_HEADER_BYTES = 256 * 1024  # the outbound `connect` reply (all channel data) is ~10 KiB
MAX_BODY_BYTES = 32 * 1024 * 1024  # `show channels as json` with thousands of rows


class EslProtocolError(Exception):
    """The peer sent bytes that are not ESL; ``offset`` is where in the stream they start."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"ESL protocol error at byte {offset}: {message}")
        self.offset = offset


def _first_wins(pairs: Iterable[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


@dataclass(frozen=True)
class EslEvent:
    """One FreeSWITCH event: its name, its headers (first occurrence wins) and inner body.

    ``body`` is the event's own body, e.g. ``+OK <uuid>\\n`` or ``-ERR USER_BUSY\\n`` of a
    ``BACKGROUND_JOB`` (``_body`` in JSON, the inner Content-Length block in plain).
    """

    name: str
    headers: Mapping[str, str]
    body: str = ""

    def get(self, key: str, default: str | None = None) -> str | None:
        """The header value, or ``default`` when absent."""
        return self.headers.get(key, default)

    @property
    def unique_id(self) -> str | None:
        return self.headers.get("Unique-ID")


@dataclass(frozen=True)
class EslMessage:
    """One framed ESL message: raw header pairs in wire order and the body bytes."""

    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def header(self, name: str, default: str | None = None) -> str | None:
        """First value of header ``name`` (raw, as on the wire), or ``default``."""
        for key, value in self.headers:
            if key == name:
                return value
        return default

    @property
    def content_type(self) -> str:
        return self.header("Content-Type", "") or ""

    @property
    def is_connect_reply(self) -> bool:
        """The outbound-socket ``connect`` reply: channel data as URL-encoded headers, no body."""
        return self.content_type == COMMAND_REPLY and self.header("Event-Name") is not None

    @property
    def reply_text(self) -> str:
        """``Reply-Text`` of a command/reply (URL-decoded and stripped for the connect reply)."""
        raw = self.header("Reply-Text", "") or ""
        return unquote(raw).strip() if self.is_connect_reply else raw

    @property
    def ok(self) -> bool:
        """True when a command/reply or api/response says ``+OK`` (api bodies: not ``-ERR``)."""
        if self.content_type == API_RESPONSE:
            return not self.body.startswith(b"-ERR")
        return self.reply_text.startswith("+OK")

    @cached_property
    def channel_data(self) -> Mapping[str, str]:
        """URL-decoded headers of a connect reply (first occurrence wins)."""
        out: dict[str, str] = {}
        for key, value in self.headers:
            out.setdefault(key, unquote(value))
        return MappingProxyType(out)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced, for error messages)."""
        return self.body.decode("utf-8", errors="replace")

    @cached_property
    def event(self) -> EslEvent | None:
        """The event carried by a ``text/event-json`` / ``text/event-plain`` message, else None.

        Raises EslProtocolError (offset 0 of the body) when the body is not a valid event.
        """
        ctype = self.content_type
        if ctype == EVENT_JSON:
            return parse_event_json(self.body)
        if ctype == EVENT_PLAIN:
            return parse_event_plain(self.body)
        return None


def parse_event_json(body: bytes) -> EslEvent:
    """Decode an ``event json`` body; ``_body`` becomes :attr:`EslEvent.body`."""
    # json.loads keeps the *last* duplicate; only the known duplicate (Hangup-Cause) pays for
    # the slower first-wins hook.
    hook = _first_wins if body.count(b'"Hangup-Cause"') > 1 else None
    try:
        obj = json_limits.loads(body, object_pairs_hook=hook)
    except json_limits.JsonLimitError as exc:
        raise EslProtocolError(f"event-json body: {exc}", 0) from None
    if not isinstance(obj, dict):
        raise EslProtocolError("event-json body is not a JSON object", 0)
    inner = obj.pop("_body", "")
    headers = obj
    if not all(type(v) is str for v in obj.values()):
        headers = {k: v if isinstance(v, str) else json.dumps(v) for k, v in obj.items()}
    name = headers.get("Event-Name")
    if not name:
        raise EslProtocolError("event-json body has no Event-Name", 0)
    return EslEvent(name, MappingProxyType(headers), inner if isinstance(inner, str) else "")


def parse_event_plain(body: bytes) -> EslEvent:
    """Decode an ``event plain`` body: URL-encoded header lines, blank line, inner body."""
    end = body.find(b"\n\n")
    block, rest = (body, b"") if end < 0 else (body[:end], body[end + 2 :])
    headers: dict[str, str] = {}
    pos = 0
    for line in block.split(b"\n"):
        if line:
            key, value = _split_header(line, pos)
            headers.setdefault(key, unquote(value))
        pos += len(line) + 1
    inner = b""
    length = headers.get("Content-Length")
    if length is not None:
        size = _parse_length(length, end + 2)
        if size > len(rest):
            raise EslProtocolError(f"inner Content-Length {size} > {len(rest)} bytes left", end)
        inner = rest[:size]
    name = headers.get("Event-Name")
    if not name:
        raise EslProtocolError("event-plain body has no Event-Name", 0)
    return EslEvent(name, MappingProxyType(headers), inner.decode("utf-8", errors="replace"))


def _split_header(line: bytes, offset: int) -> tuple[str, str]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EslProtocolError(f"header line is not UTF-8: {line[:80]!r}", offset) from exc
    key, sep, value = text.partition(":")
    if not sep or not key or key != key.strip():
        raise EslProtocolError(f"not a 'Key: Value' header line: {line[:80]!r}", offset)
    return key, value[1:] if value.startswith(" ") else value


def _parse_length(value: str, offset: int) -> int:
    if not value.isdigit() or not value.isascii() or len(value) > 12:
        raise EslProtocolError(f"bad Content-Length {value[:20]!r}", offset)
    return int(value)


class EslParser:
    """Incremental ESL framer: ``feed(bytes)``, then ``next_message()`` until it returns None.

    Each byte is scanned for the end of a header block at most once, so input arriving one byte
    at a time costs O(n). After an EslProtocolError the parser is unusable (drop the link).
    """

    def __init__(
        self, max_header_bytes: int = MAX_HEADER_BYTES, max_body_bytes: int = MAX_BODY_BYTES
    ) -> None:
        self._buf = bytearray()
        self._consumed = 0  # stream offset of _buf[0]
        self._scan_from = 0  # no header terminator starts before this index of _buf
        self._headers: tuple[tuple[str, str], ...] | None = None
        self._body_len = 0
        self._max_header = max_header_bytes
        self._max_body = max_body_bytes
        self._failed: EslProtocolError | None = None
        self._command_mode = False

    def feed(self, data: bytes) -> None:
        """Append bytes received from the socket."""
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned in a message."""
        return len(self._buf)

    def next_message(self) -> EslMessage | None:
        """The next complete message, or None when more bytes are needed."""
        if self._failed is not None:
            raise self._failed
        try:
            return self._next()
        except EslProtocolError as exc:
            self._failed = exc
            raise

    def _next(self) -> EslMessage | None:
        if self._headers is None:
            # Tolerate stray blank lines between messages.
            skip = 0
            while skip < len(self._buf) and self._buf[skip] == 0x0A:
                skip += 1
            if skip:
                self._drop(skip)
            end = self._buf.find(b"\n\n", self._scan_from)
            if end < 0:
                self._scan_from = max(0, len(self._buf) - 1)
                if len(self._buf) > self._max_header:
                    raise EslProtocolError(
                        f"header block longer than {self._max_header} bytes", self._consumed
                    )
                return None
            if end > self._max_header:
                raise EslProtocolError(
                    f"header block longer than {self._max_header} bytes", self._consumed
                )
            self._headers = self._parse_block(end)
            self._drop(end + 2)
            length = next((v for k, v in self._headers if k == "Content-Length"), None)
            self._body_len = 0 if length is None else _parse_length(length, self._consumed)
            if self._body_len > self._max_body:
                raise EslProtocolError(
                    f"Content-Length {self._body_len} exceeds {self._max_body}", self._consumed
                )
        if len(self._buf) < self._body_len:
            return None
        body = bytes(self._buf[: self._body_len])
        self._drop(self._body_len)
        message = EslMessage(self._headers, body)
        self._headers = None
        return message

    def _parse_block(self, end: int) -> tuple[tuple[str, str], ...]:
        pairs: list[tuple[str, str]] = []
        start = 0
        if self._command_mode:
            nl = self._buf.find(b"\n", 0, end)
            stop = end if nl < 0 else nl
            line = bytes(self._buf[:stop])
            try:
                pairs.append(("", line.decode("utf-8")))
            except UnicodeDecodeError:
                msg = f"command is not UTF-8: {line[:80]!r}"
                raise EslProtocolError(msg, self._consumed) from None
            start = stop + 1
        while start < end:
            nl = self._buf.find(b"\n", start, end)
            stop = end if nl < 0 else nl
            pairs.append(_split_header(bytes(self._buf[start:stop]), self._consumed + start))
            start = stop + 1
        return tuple(pairs)

    def _drop(self, n: int) -> None:
        del self._buf[:n]  # CPython bytearray deletes from the front in O(1) amortized
        self._consumed += n
        self._scan_from = 0


class EslCommandParser(EslParser):
    """The other direction, for servers (tests, simulated PBX): commands our side writes.

    Each message's first pair is ``("", <command line>)``; ``sendmsg`` / ``bgapi`` header lines
    follow as ordinary pairs. Use :func:`command_line` to read it.
    """

    def __init__(self, max_header_bytes: int = MAX_HEADER_BYTES) -> None:
        super().__init__(max_header_bytes, MAX_BODY_BYTES)
        self._command_mode = True


def command_line(message: EslMessage) -> str:
    """The command line of a message from :class:`EslCommandParser` (``api status``...)."""
    return message.headers[0][1] if message.headers and message.headers[0][0] == "" else ""


# --- encoders: one command line (or a sendmsg block), terminated by a blank line ---------------


def _arg(value: str, what: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError(f"ESL {what} must not contain a newline: {value[:60]!r}")
    return value


def encode_command(line: str) -> bytes:
    """Any one-line command (``api ...``, ``exit``...) as bytes."""
    return f"{_arg(line, 'command')}\n\n".encode()


def encode_auth(password: str) -> bytes:
    """``auth <password>``."""
    return encode_command(f"auth {_arg(password, 'password')}")


def encode_event_subscription(names: Iterable[str], fmt: str = "json") -> bytes:
    """``event json|plain NAME ...`` (a narrow subscription; never ``ALL`` by default)."""
    if fmt not in ("json", "plain"):
        raise ValueError(f"ESL event format must be json or plain, got {fmt!r}")
    listed = [_arg(n, "event name") for n in names]
    if not listed or any(not n or " " in n for n in listed):
        raise ValueError(f"ESL event names must be non-empty words: {listed!r}")
    return encode_command(f"event {fmt} {' '.join(listed)}")


def encode_api(command: str) -> bytes:
    """``api <command>``: blocking on FreeSWITCH's side, use for quick queries only."""
    return encode_command(f"api {command}")


def encode_bgapi(command: str, job_uuid: str | None = None) -> bytes:
    """``bgapi <command>`` with our own ``Job-UUID`` header so results match our call id."""
    head = f"bgapi {_arg(command, 'bgapi command')}\n"
    if job_uuid:
        head += f"Job-UUID: {_arg(job_uuid, 'Job-UUID')}\n"
    return (head + "\n").encode()


def encode_sendmsg_execute(
    app: str, arg: str = "", *, uuid: str | None = None, event_lock: bool = True
) -> bytes:
    """``sendmsg [uuid]`` with ``call-command: execute`` for dialplan application ``app``."""
    lines = [f"sendmsg {_arg(uuid, 'uuid')}" if uuid else "sendmsg", "call-command: execute"]
    lines.append(f"execute-app-name: {_arg(app, 'application')}")
    if arg:
        lines.append(f"execute-app-arg: {_arg(arg, 'application argument')}")
    if event_lock:
        lines.append("event-lock: true")
    return ("\n".join(lines) + "\n\n").encode()


def encode_sendmsg_hangup(cause: str = "NORMAL_CLEARING", *, uuid: str | None = None) -> bytes:
    """``sendmsg [uuid]`` with ``call-command: hangup``."""
    head = f"sendmsg {_arg(uuid, 'uuid')}" if uuid else "sendmsg"
    return f"{head}\ncall-command: hangup\nhangup-cause: {_arg(cause, 'cause')}\n\n".encode()


def encode_connect() -> bytes:
    """Outbound socket: ask for the channel data."""
    return b"connect\n\n"


def encode_myevents(fmt: str = "plain") -> bytes:
    """Outbound socket: events of this channel only (``myevents`` = plain, or ``json``)."""
    if fmt == "plain":
        return b"myevents\n\n"
    if fmt == "json":
        return b"myevents json\n\n"
    raise ValueError(f"ESL myevents format must be plain or json, got {fmt!r}")


def encode_linger() -> bytes:
    """Outbound socket: keep the socket open after hangup until we send ``exit``."""
    return b"linger\n\n"


def encode_exit() -> bytes:
    """Close the session (FreeSWITCH answers ``+OK bye`` and a disconnect notice)."""
    return b"exit\n\n"
