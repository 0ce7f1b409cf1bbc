"""Sans-IO FastAGI, Asterisk's side: write the ``agi_*`` block, read commands, write replies.

No sockets here. ``AgiClient.receive_data`` takes bytes from the script, ``next_command`` returns
each complete command line parsed the way res_agi parses it (blank-separated words, double
quotes group, backslash escapes the next character).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "AgiClient",
    "AgiClientError",
    "AgiCommand",
    "COMMANDS",
    "DEAD_511",
    "HANGUP_NOTICE",
    "env_block",
    "parse_command",
]

HANGUP_NOTICE = b"HANGUP\n"
DEAD_511 = "511 Command Not Permitted on a dead channel or intercept routine"
MAX_LINE = 64 * 1024

# The commands the sim implements, as word tuples (longest match wins).
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("ANSWER",),
    ("HANGUP",),
    ("NOOP",),
    ("VERBOSE",),
    ("EXEC",),
    ("SET", "VARIABLE"),
    ("GET", "VARIABLE"),
    ("GET", "FULL", "VARIABLE"),
    ("GET", "DATA"),
    ("STREAM", "FILE"),
    ("WAIT", "FOR", "DIGIT"),
    ("CHANNEL", "STATUS"),
)


class AgiClientError(Exception):
    """The script sent something that is not an AGI command line (names the bytes)."""


@dataclass(frozen=True)
class AgiCommand:
    """One command line: ``name`` is the matched command words ("" if unknown)."""

    name: str
    args: tuple[str, ...]
    raw: str


def env_block(pairs: Iterable[tuple[str, str]]) -> bytes:
    """The ``agi_key: value`` lines and the blank line that ends them."""
    lines = []
    for key, value in pairs:
        if "\n" in key or "\n" in value:
            raise ValueError(f"AGI environment {key}: value contains a line break")
        lines.append(f"{key}: {value}\n")
    lines.append("\n")
    return "".join(lines).encode("utf-8")


def split_words(line: str) -> list[str]:
    """Split like res_agi's parse_args: blanks separate, quotes group, backslash escapes."""
    words: list[str] = []
    cur: list[str] = []
    in_word = quoted = escaped = False
    for ch in line:
        if escaped:
            cur.append(ch)
            escaped = False
            in_word = True
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
            in_word = True
        elif ch in " \t" and not quoted:
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
        else:
            cur.append(ch)
            in_word = True
    if in_word:
        words.append("".join(cur))
    return words


def parse_command(line: str) -> AgiCommand:
    """Match a command line against ``COMMANDS`` (case-insensitive, longest match)."""
    words = split_words(line)
    upper = [w.upper() for w in words]
    best: tuple[str, ...] = ()
    for cmd in COMMANDS:
        if tuple(upper[: len(cmd)]) == cmd and len(cmd) > len(best):
            best = cmd
    return AgiCommand(" ".join(best), tuple(words[len(best) :]) if best else tuple(words), line)


class AgiClient:
    """Line framing for the Asterisk end of one FastAGI connection."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scan = 0
        self.offset = 0  # stream offset of _buf[0], for error messages

    def receive_data(self, data: bytes) -> None:
        self._buf += data

    def next_command(self) -> AgiCommand | None:
        """The next complete command line, or None if more bytes are needed."""
        nl = self._buf.find(b"\n", self._scan)
        if nl < 0:
            self._scan = len(self._buf)
            if len(self._buf) > MAX_LINE:
                raise AgiClientError(
                    f"AGI stream offset {self.offset}: command line longer than {MAX_LINE} bytes: "
                    f"{bytes(self._buf[:40])!r}..."
                )
            return None
        raw = bytes(self._buf[:nl])
        del self._buf[: nl + 1]
        self.offset += nl + 1
        self._scan = 0
        try:
            text = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            raise AgiClientError(
                f"AGI stream offset {self.offset - nl - 1 + exc.start}: invalid UTF-8 in command "
                f"{raw[:40]!r}"
            ) from None
        if not text.strip():
            return self.next_command()
        return parse_command(text)

    @staticmethod
    def reply(line: str) -> bytes:
        """One reply line, e.g. ``200 result=0``."""
        return line.encode("utf-8") + b"\n"
