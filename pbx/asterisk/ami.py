"""Sans-IO codec for the Asterisk Manager Interface (AMI).

Feed bytes in, take complete messages out; turn header lists into bytes. No sockets, no clock.

Wire format: ``Key: value`` lines ending CRLF (bare LF accepted), a message ends at an empty
line. A client first receives one banner line (``Asterisk Call Manager/9.0.0``); a server parsing
actions uses ``AmiParser(expect_banner=False)``. Each message is decoded as UTF-8 only once it is
complete, so a multi-byte character split across TCP reads survives.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

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
_PREVIEW = 40  # bytes quoted in error messages


class AmiProtocolError(Exception):
    """The byte stream is not AMI; the link must be dropped (the parser cannot resynchronise)."""


@dataclass(frozen=True)
class AmiBanner:
    """The greeting line a manager server sends first, e.g. ``Asterisk Call Manager/9.0.0``."""

    text: str


@dataclass(frozen=True)
class AmiMessage:
    """One AMI message: ordered headers, duplicate keys allowed (several ``Variable:``)."""

    headers: tuple[tuple[str, str], ...]

    @cached_property
    def _first(self) -> dict[str, str]:
        index: dict[str, str] = {}
        for key, value in self.headers:
            index.setdefault(key.lower(), value)
        return index

    def get(self, key: str, default: str | None = None) -> str | None:
        """Value of the first header named ``key`` (case-insensitive), else ``default``."""
        return self._first.get(key.lower(), default)

    def get_all(self, key: str) -> list[str]:
        """Values of every header named ``key`` (case-insensitive), in wire order."""
        wanted = key.lower()
        return [v for k, v in self.headers if k.lower() == wanted]

    def __getitem__(self, key: str) -> str:
        try:
            return self._first[key.lower()]
        except KeyError:
            raise KeyError(f"AMI message has no header {key!r}: {self.summary()}") from None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._first

    @property
    def event(self) -> str | None:
        """Value of ``Event``, or None for responses and actions."""
        return self._first.get("event")

    @property
    def response(self) -> str | None:
        """Value of ``Response`` (Success, Error, Goodbye, Follows), or None."""
        return self._first.get("response")

    @property
    def action(self) -> str | None:
        """Value of ``Action`` (messages a client sends), or None."""
        return self._first.get("action")

    @property
    def action_id(self) -> str | None:
        """Value of ``ActionID``, or None."""
        return self._first.get("actionid")

    def summary(self) -> str:
        """A short description for logs: the kind and the ActionID (never all headers)."""
        for key in ("event", "response", "action"):
            if key in self._first:
                kind = f"{key.capitalize()} {self._first[key]}"
                break
        else:
            kind = "headers " + ",".join(k for k, _ in self.headers[:3])
        aid = self.action_id
        return f"{kind} (ActionID {aid})" if aid is not None else kind


def _preview(data: bytes | bytearray) -> str:
    head = bytes(data[:_PREVIEW])
    return repr(head) + ("..." if len(data) > _PREVIEW else "")


class AmiParser:
    """Incremental AMI parser: ``feed(bytes)`` then ``next_message()`` until it returns None.

    Work is O(n) in the bytes fed, however they are chunked: the search for the end of a
    message resumes where the previous search stopped. Messages are decoded as UTF-8 when
    complete; invalid bytes become U+FFFD and a warning is recorded in ``warnings``.
    """

    def __init__(
        self, expect_banner: bool = True, *, max_message_size: int = MAX_MESSAGE_SIZE
    ) -> None:
        self._buf = bytearray()
        self._start = 0  # index in _buf where the next message begins
        self._scan = 0  # index in _buf from which the terminator search resumes
        self._offset = 0  # stream offset of _buf[0]
        self._need_banner = expect_banner
        self._max = max_message_size
        self.warnings: deque[str] = deque(maxlen=100)
        self.warning_count = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a message."""
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
        if self._need_banner:
            return self._next_banner()
        buf = self._buf
        while True:
            match = _END.search(buf, self._scan)
            if match is None:
                self._scan = max(self._start, len(buf) - 2)
                if len(buf) - self._start > self._max:
                    raise self._error(
                        f"message exceeds {self._max} bytes without an empty line", self._start
                    )
                return None
            start = self._start
            line_end = match.start()  # the "\n" ending the last header line
            self._start = self._scan = match.end()
            if line_end - start > self._max:
                raise self._error(f"message exceeds {self._max} bytes", start)
            # Skip stray empty lines between messages (Asterisk never sends them; peers might).
            while start < line_end and buf[start] in b"\r\n":
                start += 1
            if start == line_end:
                continue
            return self._decode(bytes(buf[start:line_end]), start)

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
        lines = text.split("\r\n")
        if text.count("\n") == len(lines) - 1:  # CRLF only (what Asterisk sends)
            if lines[-1][-1:] == "\r":  # the "\r" ending the last line before the blank one
                lines[-1] = lines[-1][:-1]
            fast: list[tuple[str, str]] = []
            for line in lines:
                key, sep, value = line.partition(": ")
                if not sep:
                    break
                fast.append((key, value))
            else:
                return AmiMessage(tuple(fast))
        headers: list[tuple[str, str]] = []
        append = headers.append
        for line in text.split("\n"):
            if line[-1:] == "\r":
                line = line[:-1]
            key, sep, value = line.partition(": ")
            if sep:
                append((key, value))
            elif ":" in line:
                key, _, value = line.partition(":")
                append((key, value))
            else:
                append(("", line))
        if headers[0][0] == "":
            raise self._error("message does not start with a 'Key: value' line", start)
        return AmiMessage(tuple(headers))

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
