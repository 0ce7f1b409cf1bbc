"""Load the recorded PBX transcripts in tests/fixtures/ back into raw bytes.

Each non-comment line is ``<seconds> <C>|S>> <line>``; lines are re-terminated with the
protocol's end of line (CRLF for AMI, LF for AGI and ESL) unless marked ``[[EOL=..]]``, and
the Python escapes the recorder used (``\\\\``, ``\\xNN``, ``\\x20``) are undone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
_LINE = re.compile(r"^(\d+\.\d+) (C>|S>) ?(.*)$")
_EOL_MARK = re.compile(r"\[\[EOL=([^\]]*)\]\]$")
_EOLS = {"none": b"", "LF": b"\n", "CRLF": b"\r\n", "CR": b"\r"}


@dataclass(frozen=True)
class Chunk:
    """One recorded line with its terminator: who wrote it, when, and the exact bytes."""

    t: float
    direction: str  # "C" (client / dialer / script) or "S" (server / PBX)
    data: bytes


def _unescape(text: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "\\":
                out += b"\\"
                i += 2
                continue
            if nxt == "x" and i + 3 < len(text) + 0:
                out.append(int(text[i + 2 : i + 4], 16))
                i += 4
                continue
        out += ch.encode("utf-8")
        i += 1
    return bytes(out)


def load(relpath: str) -> list[Chunk]:
    """Parse a transcript file (path relative to tests/fixtures) into chunks."""
    path = FIXTURES / relpath
    default_eol = b"\r\n" if "/ami/" in f"/{relpath}" else b"\n"
    chunks: list[Chunk] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw or raw.startswith("#"):
            continue
        m = _LINE.match(raw)
        if m is None:
            raise ValueError(f"{relpath}: unparseable transcript line {raw!r}")
        body = m.group(3)
        eol = default_eol
        mark = _EOL_MARK.search(body)
        if mark:
            eol = _EOLS.get(mark.group(1), mark.group(1).encode())
            # The marker is written after one separating space (a real trailing space in the
            # data would have been escaped as \x20).
            body = body[: mark.start()].removesuffix(" ")
        chunks.append(Chunk(float(m.group(1)), m.group(2)[0], _unescape(body) + eol))
    return chunks


def stream(relpath: str, direction: str) -> bytes:
    """All bytes one side wrote, concatenated in order ("S" = PBX, "C" = our side)."""
    return b"".join(c.data for c in load(relpath) if c.direction == direction)


def files(kind: str) -> list[str]:
    """Transcript paths under a fixture folder, e.g. ``asterisk/ami``."""
    return sorted(f"{kind}/{p.name}" for p in (FIXTURES / kind).glob("*.txt"))
