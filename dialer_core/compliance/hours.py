"""Daily calling hours: parsing "08:00-12:00,13:00-21:00" and the per-weekday table."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from dialer_core.config_errors import InputError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

Intervals = tuple[tuple[int, int], ...]  # [start, end) in minutes after local midnight


class HoursError(InputError):
    """A calling-hours string could not be parsed; the message says what was expected."""


def parse_hours(text: str) -> Intervals:
    """Parse "08:00-21:00" or "08:00-12:00,13:00-21:00"; "" or "closed" means no hours.

    Intervals are sorted, non-empty, non-overlapping and within 00:00-24:00.
    """
    if text.strip().lower() in ("", "closed"):
        return ()
    out: list[tuple[int, int]] = []
    for part in text.split(","):
        m = _RANGE.match(part)
        if not m:
            raise HoursError(f'expected "HH:MM-HH:MM" (comma separated) or "closed", got {part!r}')
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if m1 > 59 or m2 > 59 or h1 > 23 or h2 > 24 or (h2 == 24 and m2 != 0):
            raise HoursError(f"time out of range in {part.strip()!r}")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if end <= start:
            raise HoursError(f"end must be after start in {part.strip()!r} (no overnight ranges)")
        out.append((start, end))
    out.sort()
    for (_, e1), (s2, _) in zip(out, out[1:], strict=False):
        if s2 < e1:
            raise HoursError(f"overlapping ranges in {text!r}")
    return tuple(out)


def format_hours(intervals: Intervals) -> str:
    """The inverse of parse_hours."""
    if not intervals:
        return "closed"
    return ",".join(f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in intervals)


@dataclass(frozen=True)
class WeeklyHours:
    """Calling hours for each weekday, Monday first."""

    days: tuple[Intervals, Intervals, Intervals, Intervals, Intervals, Intervals, Intervals]

    def on(self, weekday: int) -> Intervals:
        """Hours on a weekday (0 = Monday)."""
        return self.days[weekday]

    @classmethod
    def every_day(cls, text: str) -> WeeklyHours:
        """The same hours on all seven days."""
        iv = parse_hours(text)
        return cls((iv,) * 7)

    @classmethod
    def from_table(cls, table: str | Mapping[str, str]) -> WeeklyHours:
        """From "08:00-21:00" or {"default": "...", "sat": "...", "sun": "closed"}.

        Raises HoursError naming the weekday key on a bad value or an unknown key.
        """
        if isinstance(table, str):
            return cls.every_day(table)
        unknown = set(table) - set(WEEKDAYS) - {"default"}
        if unknown:
            raise HoursError(
                f"unknown day key {sorted(unknown)[0]!r}; expected one of "
                f"default, {', '.join(WEEKDAYS)}"
            )
        days = []
        for day in WEEKDAYS:
            raw = table.get(day, table.get("default", "closed"))
            if not isinstance(raw, str):
                raise HoursError(f'{day}: expected a string like "08:00-21:00", got {raw!r}')
            try:
                days.append(parse_hours(raw))
            except HoursError as exc:
                raise HoursError(f"{day}: {exc}") from None
        return cls(tuple(days))  # type: ignore[arg-type]
