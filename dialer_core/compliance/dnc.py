"""Do-not-call lists: exact E.164 numbers and prefix patterns ("+86138*"), CSV import.

CSV format: a header row naming a ``number`` (or ``phone``) column, optional ``reason`` and
``scope`` columns; numbers in E.164 (or national form with ``default_region``); a pattern ends
with ``*``. Bad rows are reported as (line, column, reason) and skipped, never guessed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers

from dialer_core.config_errors import InputError, RowError

_PATTERN = re.compile(r"^\+[1-9]\d{0,14}\*$")
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_NUMBER_COLUMNS = ("number", "phone", "e164")


class DncError(InputError):
    """A DNC entry is invalid."""


@dataclass(frozen=True)
class DncEntry:
    """One DNC entry: an exact E.164 number or a ``+digits*`` prefix pattern."""

    pattern: str
    source: str = ""  # which list: "global", a campaign name, a file name
    reason: str = ""

    @property
    def is_prefix(self) -> bool:
        return self.pattern.endswith("*")


@dataclass(frozen=True)
class DncImport:
    """The result of parsing a DNC CSV file: good entries and per-row errors."""

    entries: tuple[DncEntry, ...]
    errors: tuple[RowError, ...]


class DncList:
    """An immutable set of DNC entries with O(number length) lookup.

    Exact numbers live in a dict; prefixes in a dict keyed by the digits before ``*``; a lookup
    tries the number itself and each of its at most 15 prefixes.
    """

    def __init__(self, entries: Iterable[DncEntry] = (), version: int | None = None) -> None:
        self.version = version  # the database's DNC change counter it was loaded at, if any
        self._exact: dict[str, DncEntry] = {}
        self._prefix: dict[str, DncEntry] = {}
        for e in entries:
            if _PATTERN.match(e.pattern):
                self._prefix.setdefault(e.pattern[:-1], e)
            elif _E164.match(e.pattern):
                self._exact.setdefault(e.pattern, e)
            else:
                raise DncError(f"DNC entry {e.pattern!r}: expected +digits or +digits*")
        self._lengths = sorted({len(p) for p in self._prefix}, reverse=True)

    @classmethod
    def of(cls, *patterns: str, source: str = "") -> DncList:
        """A list from bare patterns (tests, config)."""
        return cls(DncEntry(p, source) for p in patterns)

    def __len__(self) -> int:
        return len(self._exact) + len(self._prefix)

    def entries(self) -> tuple[DncEntry, ...]:
        """Every entry, exact numbers first."""
        return tuple(self._exact.values()) + tuple(self._prefix.values())

    def match(self, e164: str) -> DncEntry | None:
        """The entry blocking ``e164`` (exact first, then the longest prefix), or None."""
        hit = self._exact.get(e164)
        if hit is not None:
            return hit
        for n in self._lengths:
            if n <= len(e164):
                hit = self._prefix.get(e164[:n])
                if hit is not None:
                    return hit
        return None

    def matches(self, e164: str) -> bool:
        """True when ``e164`` is on the list (exactly or by prefix)."""
        return self.match(e164) is not None

    def __or__(self, other: DncList) -> DncList:
        """Union of two lists (e.g. global | campaign); the left entry wins on duplicates."""
        return DncList(self.entries() + other.entries())


def normalize_number(text: str, default_region: str | None = None) -> str:
    """An E.164 number or ``+digits*`` pattern from user input; raises DncError saying why."""
    raw = re.sub(r"[\s\-().]", "", text)
    if not raw:
        raise DncError("empty number")
    if "*" in raw[:-1]:
        raise DncError(f"pattern {text.strip()!r}: '*' may only end a pattern")
    if not re.fullmatch(r"\+?\d+\*?", raw):
        raise DncError(f"{text.strip()!r}: expected digits with an optional + and trailing *")
    if raw.endswith("*"):
        if not _PATTERN.match(raw):
            raise DncError(f"pattern {text.strip()!r}: expected + then 1-15 digits then *")
        return raw
    try:
        parsed = phonenumbers.parse(raw, None if raw.startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        hint = "" if raw.startswith("+") or default_region else " (no +, no default region)"
        raise DncError(f"{text.strip()!r} is not a phone number{hint}: {exc}") from None
    if not phonenumbers.is_possible_number(parsed):
        raise DncError(f"{text.strip()!r} has an impossible length for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def parse_dnc_csv(text: str, source: str, default_region: str | None = None) -> DncImport:
    """Parse a DNC CSV document; rows with errors are listed (line, column, reason)."""
    rows = csv.reader(io.StringIO(text))
    errors: list[RowError] = []
    entries: list[DncEntry] = []
    header: list[str] | None = None
    num_col = reason_col = -1
    for row in rows:
        line = rows.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if header is None:
            header = [c.strip().lower().lstrip("\ufeff") for c in row]
            cols = [i for i, c in enumerate(header) if c in _NUMBER_COLUMNS]
            if not cols:
                names = " / ".join(_NUMBER_COLUMNS)
                msg = f"header must name a column {names}, got {row!r}"
                errors.append(RowError(line, "-", msg))
                return DncImport((), tuple(errors))
            num_col = cols[0]
            reason_col = header.index("reason") if "reason" in header else -1
            continue
        if num_col >= len(row):
            errors.append(RowError(line, header[num_col], "missing value"))
            continue
        try:
            pattern = normalize_number(row[num_col], default_region)
        except DncError as exc:
            errors.append(RowError(line, header[num_col], str(exc)))
            continue
        reason = row[reason_col].strip() if 0 <= reason_col < len(row) else ""
        entries.append(DncEntry(pattern, source, reason))
    if header is None:
        errors.append(RowError(1, "-", "empty file: expected a header row with a number column"))
    return DncImport(tuple(entries), tuple(errors))
