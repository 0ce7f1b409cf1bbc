"""Holiday calendars: dates with no calling (or reduced hours), optionally per region.

File format (TOML)::

    [[holiday]]
    date = 2025-10-01          # a TOML date
    end = 2025-10-08           # optional, inclusive
    name = "National Day"
    regions = ["CN"]           # optional: "CN", "CN/Guangdong", "US/CA" ...; default everywhere
    hours = "10:00-18:00"      # optional: reduced hours instead of closed
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from dialer_core.compliance.hours import HoursError, Intervals, parse_hours
from dialer_core.compliance.region import region_key
from dialer_core.config_errors import InputError

_KEYS = {"date", "end", "name", "regions", "hours"}
_MAX_SPAN_DAYS = 366


class CalendarError(InputError):
    """A holiday calendar is invalid; the message names the file, the entry and the key."""


@dataclass(frozen=True)
class Holiday:
    """One holiday (``start``..``end`` inclusive, callee-local dates)."""

    start: date
    end: date
    name: str
    regions: tuple[str, ...] = ()  # empty: everywhere
    hours: Intervals = ()  # empty: closed all day

    def applies(self, day: date, region_keys: Iterable[str]) -> bool:
        """True when this holiday covers ``day`` for a callee with these region keys."""
        if not self.start <= day <= self.end:
            return False
        if not self.regions:
            return True
        wanted = {r.lower() for r in self.regions}
        return any(k.lower() in wanted for k in region_keys)


@dataclass(frozen=True)
class HolidayCalendar:
    """A set of holidays; the first one matching a day and region wins."""

    holidays: tuple[Holiday, ...] = ()

    def hours_on(self, day: date, region_keys: Sequence[str]) -> Intervals | None:
        """The hours on a holiday (empty when closed), or None when ``day`` is no holiday."""
        for h in self.holidays:
            if h.applies(day, region_keys):
                return h.hours
        return None

    def __add__(self, other: HolidayCalendar) -> HolidayCalendar:
        return HolidayCalendar(self.holidays + other.holidays)


def parse_holidays(data: Mapping[str, Any], source: str) -> HolidayCalendar:
    """Build a calendar from a parsed TOML document; errors name ``source`` and the entry."""
    unknown = set(data) - {"holiday"}
    if unknown:
        raise CalendarError(f"{source}: unknown key {sorted(unknown)[0]!r}; expected [[holiday]]")
    entries = data.get("holiday", [])
    if not isinstance(entries, list):
        raise CalendarError(f"{source}: holiday: expected an array of tables ([[holiday]])")
    out = []
    for i, entry in enumerate(entries):
        where = f"{source}: holiday[{i}]"
        if not isinstance(entry, dict):
            raise CalendarError(f"{where}: expected a table")
        bad = set(entry) - _KEYS
        if bad:
            expected = ", ".join(sorted(_KEYS))
            raise CalendarError(f"{where}: unknown key {sorted(bad)[0]!r}; expected {expected}")
        start = entry.get("date")
        if not isinstance(start, date) or hasattr(start, "hour"):
            raise CalendarError(f"{where}.date: expected a TOML date (2025-10-01), got {start!r}")
        end = entry.get("end", start)
        if not isinstance(end, date) or hasattr(end, "hour"):
            raise CalendarError(f"{where}.end: expected a TOML date, got {end!r}")
        if end < start or end - start > timedelta(days=_MAX_SPAN_DAYS):
            raise CalendarError(f"{where}.end: expected a date from {start} up to a year later")
        name = entry.get("name", "")
        if not isinstance(name, str):
            raise CalendarError(f"{where}.name: expected a string, got {name!r}")
        regions = entry.get("regions", [])
        if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
            raise CalendarError(f'{where}.regions: expected a list of strings like ["CN"]')
        hours_raw = entry.get("hours", "closed")
        if not isinstance(hours_raw, str):
            raise CalendarError(f"{where}.hours: expected a string, got {hours_raw!r}")
        try:
            hours = parse_hours(hours_raw)
        except HoursError as exc:
            raise CalendarError(f"{where}.hours: {exc}") from None
        keys = tuple(region_key(r) for r in regions)
        out.append(Holiday(start, end, name, keys, hours))
    return HolidayCalendar(tuple(out))


def load_holidays(path: str | Path) -> HolidayCalendar:
    """Read a holiday calendar TOML file; errors name the file."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise CalendarError(f"{p}: cannot read holiday calendar: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CalendarError(f"{p}: invalid TOML: {exc}") from None
    return parse_holidays(data, str(p))
