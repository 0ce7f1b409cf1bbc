"""A report period: whole local days in one time zone, and that zone's UTC offsets over it.

Pure functions. The report's SQL turns an attempt's UTC start into a local day and hour by
adding the offset in force at that instant (found with ``width_bucket`` over the transition
instants computed here), which is several times cheaper per row than ``AT TIME ZONE``.

The report reads its attempts in slices of whole local days (``day_slices``), one statement per
slice on its own connection, and first bins each attempt into ``bin_seconds``-long intervals
that never straddle a local hour or an offset change, so only the bins need the offset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dialer_core.config_errors import InputError


class PeriodError(InputError):
    """The period or zone asked for cannot be used (the message says which and why)."""


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC covering date_from..date_to (inclusive) in zone ``tz``."""

    date_from: date
    date_to: date
    tz: str
    start: datetime
    end: datetime
    # Offsets (seconds east of UTC) in force from each instant on; the first is ``start``.
    since: tuple[datetime, ...]
    offsets: tuple[float, ...]


def _offset(zone: ZoneInfo, at: datetime) -> float:
    delta = at.astimezone(zone).utcoffset()
    return delta.total_seconds() if delta is not None else 0.0


def _transition(zone: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The first second in (lo, hi] whose offset differs from lo's (one change inside)."""
    before = _offset(zone, lo)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid <= lo:
            break
        if _offset(zone, mid) == before:
            lo = mid
        else:
            hi = mid
    return hi


def local_period(date_from: date, date_to: date, tz: str) -> Period:
    """The UTC bounds of the local days date_from..date_to and the zone's offsets within."""
    if date_to < date_from:
        raise PeriodError(f"report period: end {date_to} is before start {date_from}")
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PeriodError(f"report time zone: unknown zone {tz!r}") from exc
    start = datetime.combine(date_from, time(0), zone).astimezone(UTC)
    end = datetime.combine(date_to + timedelta(days=1), time(0), zone).astimezone(UTC)
    since, offsets = [start], [_offset(zone, start)]
    step = timedelta(hours=1)  # zones change offset at most a few times a year
    t = start
    while t < end:
        nxt = min(t + step, end)
        if _offset(zone, nxt) != offsets[-1]:
            at = _transition(zone, t, nxt)
            since.append(at)
            offsets.append(_offset(zone, at))
        t = nxt
    return Period(date_from, date_to, tz, start, end, tuple(since), tuple(offsets))


def _local_midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(tz)).astimezone(UTC)


def day_slices(period: Period, parts: int) -> tuple[tuple[datetime, datetime], ...]:
    """The period cut into at most ``parts`` contiguous [start, end) runs of whole local days.

    Each day (and so each agent-day) falls in exactly one slice; the days are shared out as
    evenly as possible, earlier slices taking the remainder.
    """
    days = (period.date_to - period.date_from).days + 1
    count = max(1, min(parts, days))
    base, extra = divmod(days, count)
    bounds = [period.start]
    first = period.date_from
    for i in range(count - 1):
        first = first + timedelta(days=base + (1 if i < extra else 0))
        bounds.append(_local_midnight(first, period.tz))
    bounds.append(period.end)
    return tuple(zip(bounds[:-1], bounds[1:], strict=True))


def bin_seconds(period: Period) -> int:
    """The longest bin (dividing an hour) whose edges, counted from ``period.start``, include
    every local hour boundary and every offset change of the period.

    3600 for any zone whose offsets are whole hours apart (almost all); 1800 for a zone with a
    half-hour shift, and so on.
    """
    origin = int(period.start.timestamp())
    step = 3600
    for since, offset in zip(period.since, period.offsets, strict=True):
        step = math.gcd(
            step, (origin + int(offset)) % 3600, int((since - period.start).total_seconds())
        )
    return step
