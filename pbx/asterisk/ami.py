"""Sans-IO codec for the Asterisk Manager Interface (AMI).

Feed bytes in, take complete messages out; turn header lists into bytes. No sockets, no clock.

Wire format: ``Key: value`` lines ending CRLF (bare LF accepted), a message ends at an empty
line. A client first receives one banner line (``Asterisk Call Manager/9.0.0``); a server parsing
actions uses ``AmiParser(expect_banner=False)``. Each message is decoded as UTF-8 only once it is
complete, so a multi-byte character split across TCP reads survives.

Speed: everything received up to the last ``\\r\\n\\r\\n`` is decoded in one call (a message
boundary is always a UTF-8 boundary) and cut into messages with ``str.split``; a message's
header lines are split only when first read (``AmiMessage.headers``, ``get``, ...). Batches
with bare LF, stray empty lines, invalid UTF-8 or a bad first line take the message-by-message
path, which gives the same messages and errors.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "AmiBanner",
    "AmiMessage",
    "AmiParser",
    "AmiProtocolError",
    "MAX_MESSAGE_SIZE",
    "encode",
]

MAX_MESSAGE_SIZE = 1024 * 1024  # one AMI message (or the banner line), in bytes
_BANNER_MARK = "Call Manager/"
_END = re.compile(rb"\n\r?\n")  # end of the last header line + the empty line
_CRLF2 = b"\r\n\r\n"
_CONTENT = re.compile(rb"[^\r\n]")  # the first byte of a message (after stray empty lines)
_PREVIEW = 40  # bytes quoted in error messages


class AmiProtocolError(Exception):
    """The byte stream is not AMI; the link must be dropped (the parser cannot resynchronise)."""


@dataclass(frozen=True)
class AmiBanner:
    """The greeting line a manager server sends first, e.g. ``Asterisk Call Manager/9.0.0``."""

    text: str


def _split_lines(lines: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """``Key: value`` lines → header pairs; ``Key:value`` is accepted, a line without ``:``
    (command output) is kept under the key ``""``."""
    headers: list[tuple[str, str]] = []
    append = headers.append
    for line in lines:
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
            if not sep:
                key, value = "", line
        append((key, value))
    return tuple(headers)


def _split_text(text: str) -> tuple[tuple[str, str], ...]:
    """Headers of a message's text whose lines all end CRLF (the parser's fast path)."""
    headers: list[tuple[str, str]] = []
    append = headers.append
    for line in text.split("\r\n"):
        key, sep, value = line.partition(": ")
        if not sep:  # rare: "Key:value" or command output
            return _split_lines(text.split("\r\n"))
        append((key, value))
    return tuple(headers)


_UNSPLIT = object()  # ``_lookup``: the text alone cannot tell, the headers must be split


_MARKS: dict[str, tuple[str, str]] = {}  # lower-case key -> (key + ":", CRLF + key + ":")


def _lookup(text: str, low: str, key: str) -> str | None | object:
    """Value of the first header ``key`` (lower case) of an unsplit ASCII message, None when
    there is none, or ``_UNSPLIT`` when only splitting the lines can tell.

    ``low`` is ``text.lower()`` (same offsets: ASCII). A line whose key is ``key`` starts with
    ``key:``, so the first such line in ``low`` is the first candidate; it is accepted only if
    splitting it as ``_split_lines`` would gives that key (``Key: v`` or ``Key:v``).
    """
    marks = _MARKS.get(key)
    if marks is None:
        if not key or ":" in key or "\r" in key or "\n" in key:
            return _UNSPLIT
        if len(_MARKS) >= 256:
            _MARKS.clear()
        marks = _MARKS[key] = (key + ":", "\r\n" + key + ":")
    if low.startswith(marks[0]):
        at = 0
    else:
        at = low.find(marks[1])
        if at < 0:
            return None
        at += 2
    end = text.find("\r\n", at)
    if end < 0:
        end = len(text)
    colon = at + len(key)
    if text.startswith(": ", colon):
        return text[colon + 2 : end]
    if text.find(": ", colon, end) >= 0:
        return _UNSPLIT  # "Key:x: y": its key is "Key:x"
    return text[colon + 1 : end]


class AmiMessage:
    """One AMI message: ordered headers, duplicate keys allowed (several ``Variable:``).

    Immutable by convention. Equal (and hashing equal) when the headers are equal. A message
    from the parser keeps its text: its ``Event`` is read at parse time, a header asked for by
    name is found in the text (a search, no split) and the lines are split into headers only
    when all of them are wanted (``headers``, ``get_all``, equality) or the text is not plain
    ASCII.
    """

    __slots__ = ("_h", "_index", "_low", "_event")

    _h: tuple[tuple[str, str], ...] | str  # the headers, or the message text not yet split
    _index: dict[str, str] | None
    _low: str | None  # the unsplit ASCII text in lower case ("" when not usable)
    _event: str | None | object  # Event's value, None (none) or _UNSPLIT (not read yet)

    def __init__(self, headers: Iterable[tuple[str, str]]) -> None:
        self._h = headers if type(headers) is tuple else tuple(headers)
        self._index = None
        self._low = None
        self._event = _UNSPLIT

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Every ``(key, value)`` in wire order."""
        headers = self._h
        if type(headers) is str:
            headers = self._h = _split_text(headers)
        return headers  # type: ignore[return-value]

    @property
    def _first(self) -> dict[str, str]:
        index = self._index
        if index is None:
            # Reversed, so that the first occurrence of a key wins.
            index = self._index = {k.lower(): v for k, v in reversed(self.headers)}
        return index

    def _value(self, key: str) -> str | None:
        """Value of the first header ``key`` (already lower case), or None."""
        if self._index is None:
            text = self._h
            if type(text) is str:
                low = self._low
                if low is None:
                    low = self._low = text.lower() if text.isascii() else ""
                if low:
                    found = _lookup(text, low, key)
                    if found is not _UNSPLIT:
                        return found  # type: ignore[return-value]
        return self._first.get(key)

    def get(self, key: str, default: str | None = None) -> str | None:
        """Value of the first header named ``key`` (case-insensitive), else ``default``."""
        value = self._value(key.lower())
        return default if value is None else value

    def get_all(self, key: str) -> list[str]:
        """Values of every header named ``key`` (case-insensitive), in wire order."""
        wanted = key.lower()
        return [v for k, v in self.headers if k.lower() == wanted]

    def __getitem__(self, key: str) -> str:
        value = self._value(key.lower())
        if value is None:
            raise KeyError(f"AMI message has no header {key!r}: {self.summary()}")
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._value(key.lower()) is not None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AmiMessage):
            return NotImplemented
        return self.headers == other.headers

    def __hash__(self) -> int:
        return hash(self.headers)

    def __repr__(self) -> str:
        return f"AmiMessage(headers={self.headers!r})"

    @property
    def event(self) -> str | None:
        """Value of ``Event``, or None for responses and actions."""
        event = self._event
        if event is _UNSPLIT:
            event = self._event = self._value("event")
        return event  # type: ignore[return-value]

    @property
    def response(self) -> str | None:
        """Value of ``Response`` (Success, Error, Goodbye, Follows), or None."""
        return self._value("response")

    @property
    def action(self) -> str | None:
        """Value of ``Action`` (messages a client sends), or None."""
        return self._value("action")

    @property
    def action_id(self) -> str | None:
        """Value of ``ActionID``, or None."""
        return self._value("actionid")

    def summary(self) -> str:
        """A short description for logs: the kind and the ActionID (never all headers)."""
        for key in ("event", "response", "action"):
            value = self._value(key)
            if value is not None:
                kind = f"{key.capitalize()} {value}"
                break
        else:
            kind = "headers " + ",".join(k for k, _ in self.headers[:3])
        aid = self.action_id
        return f"{kind} (ActionID {aid})" if aid is not None else kind


_new_message = object.__new__


def _preview(data: bytes | bytearray) -> str:
    head = bytes(data[:_PREVIEW])
    return repr(head) + ("..." if len(data) > _PREVIEW else "")


class AmiParser:
    """Incremental AMI parser: ``feed(bytes)`` then ``next_message()`` until it returns None.

    Work is O(n) in the bytes fed, however they are chunked: searches for the end of a message
    resume where the previous search stopped. Events named in ``skip_events`` (the consumer
    never reads them) are dropped as they are framed, before a message is built; ``skipped``
    counts them. Messages are decoded as UTF-8 when complete;
    invalid bytes become U+FFFD and a warning is recorded in ``warnings``. Messages complete
    before a protocol error are returned first; then ``next_message()`` raises the error, again
    on every call.
    """

    def __init__(
        self,
        expect_banner: bool = True,
        *,
        max_message_size: int = MAX_MESSAGE_SIZE,
        skip_events: frozenset[str] = frozenset(),
    ) -> None:
        self._buf = bytearray()
        self.skip_events = skip_events
        self.skipped = 0
        self._start = 0  # index in _buf of the first byte not yet parsed into a message
        self._scan = 0  # no message end lies wholly in _buf[_start:_scan]: searches resume here
        self._offset = 0  # stream offset of _buf[0]
        self._need_banner = expect_banner
        self._max = max_message_size
        self._ready: deque[AmiMessage] = deque()
        self._failure: AmiProtocolError | None = None
        self.warnings: deque[str] = deque(maxlen=100)
        self.warning_count = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet parsed into a message."""
        return len(self._buf) - self._start

    def feed(self, data: bytes) -> None:
        """Append received bytes (any chunking, including one byte at a time)."""
        if self._start and (self._start >= 65536 or self._start == len(self._buf)):
            # Drop consumed bytes in large steps so compaction stays amortised O(1) per byte.
            del self._buf[: self._start]
            self._offset += self._start
            self._scan -= self._start
            self._start = 0
        self._buf += data

    def take_warnings(self) -> list[str]:
        """Return and clear the recorded decoding warnings."""
        out = list(self.warnings)
        self.warnings.clear()
        return out

    def next_message(self) -> AmiMessage | AmiBanner | None:
        """The next complete message (or the banner), or None if more data is needed."""
        ready = self._ready
        if ready:
            return ready.popleft()
        if self._failure is not None:
            raise self._failure
        if self._need_banner:
            return self._next_banner()
        self._parse()
        if ready:
            return ready.popleft()
        if self._failure is not None:
            raise self._failure
        return None

    def messages(self, data: bytes = b"") -> list[AmiMessage | AmiBanner]:
        """Feed ``data`` and return every message that is now complete."""
        if data:
            self.feed(data)
        out: list[AmiMessage | AmiBanner] = []
        while (msg := self.next_message()) is not None:
            out.append(msg)
        return out

    def __iter__(self) -> Iterator[AmiMessage | AmiBanner]:
        while (msg := self.next_message()) is not None:
            yield msg

    def _next_banner(self) -> AmiBanner | None:
        buf = self._buf
        nl = buf.find(b"\n", self._scan)
        if nl < 0:
            self._scan = len(buf)
            if len(buf) - self._start > self._max:
                raise self._error("banner line too long", self._start)
            return None
        raw = bytes(buf[self._start : nl])
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        if _BANNER_MARK not in text:
            raise self._error("expected an 'Asterisk Call Manager/x.y.z' banner", self._start)
        self._start = self._scan = nl + 1
        self._need_banner = False
        return AmiBanner(text)

    def _parse(self) -> None:
        """Queue every message complete in the buffer (or record the protocol error)."""
        buf = self._buf
        while True:
            self._skip_empty_lines()
            start = self._start
            lo = max(start, self._scan - 3)  # a b"\r\n\r\n" may straddle _scan
            end = buf.rfind(_CRLF2, lo)
            if end >= 0 and end + 1 - start > self._max:
                # Keep a batch within the size limit, so every message in it is too.
                end = buf.rfind(_CRLF2, lo, start + self._max + 3)
            if end < 0 or not self._parse_batch(start, end):
                # Bare-LF ends after the last CRLF one, an oversize message, or a batch the
                # fast path refused: the message-by-message path settles it.
                self._parse_each()
                return

    def _parse_batch(self, start: int, end: int) -> bool:
        """Queue the messages in ``_buf[start:end]`` (``end`` is a b"\\r\\n\\r\\n") if they are
        plain CRLF messages in valid UTF-8; False (nothing queued) otherwise."""
        try:
            text = self._buf[start:end].decode("utf-8")
        except UnicodeDecodeError:
            return False
        if (
            not text
            or text[-1] == "\n"  # a stray empty line after the last message
            or text.count("\n") != text.count("\r\n")  # a bare LF: lines or ends to re-cut
        ):
            return False
        batch: list[AmiMessage] = []
        append = batch.append
        new = _new_message
        skip = self.skip_events
        skipped = 0
        for part in text.split("\r\n\r\n"):
            first_end = part.find("\r\n")
            if part.startswith("Event: "):
                # Most messages are events that start with their Event line: read it now,
                # without splitting the message (routing and filtering need nothing else).
                event: str | object = part[7:first_end] if first_end >= 0 else part[7:]
                if event in skip:
                    skipped += 1
                    continue
            # The first line must have a key; a part starting with CR has a stray empty line.
            elif part.find(":", 0, first_end if first_end >= 0 else len(part)) <= 0 or (
                part[0] == "\r"
            ):
                return False
            else:
                event = _UNSPLIT
            msg = new(AmiMessage)
            msg._h = part
            msg._index = msg._low = None
            msg._event = event
            append(msg)
        self.skipped += skipped
        self._ready.extend(batch)
        self._start = self._scan = end + 4
        return True

    def _parse_each(self) -> None:
        """Message by message: find each end (CRLF or bare LF), decode, split the lines."""
        buf = self._buf
        while True:
            self._skip_empty_lines()
            match = _END.search(buf, self._scan)
            if match is None:
                self._scan = max(self._start, len(buf) - 2)
                if len(buf) - self._start > self._max:
                    self._failure = self._error(
                        f"message exceeds {self._max} bytes without an empty line", self._start
                    )
                return
            start = self._start
            line_end = match.start()  # the "\n" ending the last header line
            if line_end - start > self._max:
                self._failure = self._error(f"message exceeds {self._max} bytes", start)
                return
            self._start = self._scan = match.end()
            # Skip stray empty lines between messages (Asterisk never sends them; peers might).
            while start < line_end and buf[start] in b"\r\n":
                start += 1
            if start == line_end:
                continue
            try:
                msg = self._decode(bytes(buf[start:line_end]), start)
            except AmiProtocolError as exc:
                self._failure = exc
                return
            # Skipped as the batch path skips: the first line is "Event: <a skipped name>".
            if (
                self.skip_events
                and buf.startswith(b"Event: ", start)
                and msg.headers[0][1] in self.skip_events
            ):
                self.skipped += 1
            else:
                self._ready.append(msg)

    def _skip_empty_lines(self) -> None:
        """Drop CR/LF bytes before the next message in one search, so that a flood of empty
        lines costs no more than the same bytes of real messages (a message never starts with
        CR or LF)."""
        start = self._start
        buf = self._buf
        if start < len(buf) and buf[start] in b"\r\n":
            found = _CONTENT.search(buf, start)
            self._start = len(buf) if found is None else found.start()
            self._scan = max(self._scan, self._start)

    def _decode(self, raw: bytes, start: int) -> AmiMessage:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            text = raw.decode("utf-8", errors="replace")
            self.warning_count += 1
            self.warnings.append(
                f"invalid UTF-8 at stream offset {self._offset + start + exc.start} "
                f"({_preview(raw[exc.start :])}); replaced with U+FFFD"
            )
        # Lines end at LF; a CR before it belongs to the line end (CRLF or bare LF alike).
        lines = [line[:-1] if line[-1:] == "\r" else line for line in text.split("\n")]
        headers = _split_lines(lines)
        if not headers[0][0]:
            raise self._error("message does not start with a 'Key: value' line", start)
        return AmiMessage(headers)

    def _error(self, what: str, index: int) -> AmiProtocolError:
        data = self._buf[index:]
        return AmiProtocolError(
            f"AMI stream offset {self._offset + index}: {what}: {_preview(data)}"
        )


def encode(headers: Iterable[tuple[str, str]]) -> bytes:
    """Serialise one message: ``Key: value`` lines with CRLF and the terminating empty line.

    Raises ValueError for CR/LF in a key or value (header injection), a key that is empty or
    contains ':', and for a message without headers.
    """
    parts: list[str] = []
    for key, value in headers:
        if not key or ":" in key or "\r" in key or "\n" in key:
            raise ValueError(f"AMI header key {key!r}: must be non-empty, without ':', CR or LF")
        if "\r" in value or "\n" in value:
            raise ValueError(
                f"AMI header {key}: value contains CR or LF (header injection refused): {value!r}"
            )
        parts.append(f"{key}: {value}\r\n")
    if not parts:
        raise ValueError("AMI message needs at least one header")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8")
