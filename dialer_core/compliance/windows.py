"""Calling windows in the callee's local time, across every candidate zone.

A region with several candidate zones (a US number that may be in several zones, or a zone
known from the debtor's address) is open only when the window is open in every zone
(Regulation F, 12 CFR 1006.6(b)(1)(i)). Local times that do not exist or occur twice on a DST
change are resolved conservatively: window starts take the later instant, ends the earlier.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dialer_core.compliance.holidays import HolidayCalendar
from dialer_core.compliance.hours import Intervals, WeeklyHours
from dialer_core.compliance.model import Allowed, Decision, Denied, require_utc
from dialer_core.compliance.region import Region

HORIZON_DAYS = 400  # how far next_open / add_calling_hours look before giving up
SPAN_CACHE_SIZE = 50_000  # (zone, region, day) entries kept per WindowRules before a reset
_CHUNK = timedelta(days=8)

Span = tuple[datetime, datetime]  # [start, end) in UTC


@dataclass(frozen=True)
class WindowRules:
    """When calls may be placed, in the callee's local time.

    ``hours``: the campaign's weekly hours; ``overrides``: weekly hours per region key
    ("CN/Guangdong", "US/CA", "CN"), the most specific key wins; ``holidays``: days closed or
    with reduced hours; ``limit``: the legal envelope every day's hours are clipped to (None:
    no envelope), so no override or holiday can widen the window past it; ``clocks``: a
    regional clock per region key ("CN/Xinjiang" → "Asia/Urumqi"): the window must be open on
    it as well as on the number's official zone.
    """

    hours: WeeklyHours
    overrides: Mapping[str, WeeklyHours] = field(default_factory=dict)
    holidays: HolidayCalendar = field(default_factory=HolidayCalendar)
    limit: Intervals | None = None
    clocks: Mapping[str, str] = field(default_factory=dict)
    # (zone, region, local day) -> that day's open spans in UTC. The rules are frozen, so a
    # day's spans never change; caching them spares two zone conversions per window edge on
    # every check and every redial computation.
    _day_spans: dict[tuple[str, Region, date], tuple[Span, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def zones_of(self, region: Region) -> tuple[str, ...]:
        """The region's candidate zones plus its regional clock, if the rules give one."""
        lowered = {k.lower(): v for k, v in self.clocks.items()}
        names = region.keys()
        extra = [lowered[k.lower()] for k in names if k.lower() in lowered]
        return region.zones if not extra else tuple(sorted({*region.zones, extra[0]}))

    def hours_on(self, region: Region, day: date) -> Intervals:
        """The intervals (minutes after local midnight) open on ``day`` for ``region``."""
        keys = region.keys()
        special = self.holidays.hours_on(day, keys)
        if special is None:
            weekly = self.hours
            lowered = {k.lower(): v for k, v in self.overrides.items()}
            for key in keys:
                if key.lower() in lowered:
                    weekly = lowered[key.lower()]
                    break
            special = weekly.on(day.weekday())
        return special if self.limit is None else intersect_minutes(special, self.limit)


def _intersect(a, b) -> list:
    """Intersection of two sorted lists of disjoint (start, end) intervals of any ordered type."""
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        s, e = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if s < e:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def intersect_minutes(a: Intervals, b: Intervals) -> Intervals:
    """Intersection of two sorted interval lists (minutes)."""
    return tuple(_intersect(a, b))


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """A cached ZoneInfo (raises ZoneInfoNotFoundError for unknown names)."""
    return ZoneInfo(name)


def _local_to_utc(day: date, minute: int, zi: ZoneInfo, is_start: bool) -> datetime:
    if minute >= 1440:
        day, minute = day + timedelta(days=1), minute - 1440
    naive = datetime.combine(day, time(minute // 60, minute % 60))
    a = naive.replace(tzinfo=zi, fold=0).astimezone(UTC)
    b = naive.replace(tzinfo=zi, fold=1).astimezone(UTC)
    return max(a, b) if is_start else min(a, b)


@lru_cache(maxsize=4096)
def _utc_spans(zone_name: str, day: date, hours: Intervals) -> tuple[Span, ...]:
    """Local ``hours`` of ``day`` in one zone as UTC spans (many regions share them)."""
    zi = zone(zone_name)
    return tuple(
        (_local_to_utc(day, s_min, zi, True), _local_to_utc(day, e_min, zi, False))
        for s_min, e_min in hours
    )


def _day_spans(zone_name: str, region: Region, rules: WindowRules, day: date) -> tuple[Span, ...]:
    """The UTC spans open on local ``day`` in one zone (cached per rules, zone, region, day)."""
    cache = rules._day_spans
    key = (zone_name, region, day)
    spans = cache.get(key)
    if spans is None:
        spans = _utc_spans(zone_name, day, rules.hours_on(region, day))
        if len(cache) >= SPAN_CACHE_SIZE:
            cache.clear()
        cache[key] = spans
    return spans


def _zone_spans(zone_name: str, region: Region, rules: WindowRules, lo: datetime, hi: datetime):
    """Open spans in one zone that overlap [lo, hi), clipped to it, in order."""
    zi = zone(zone_name)
    day = lo.astimezone(zi).date() - timedelta(days=1)
    last = hi.astimezone(zi).date() + timedelta(days=1)
    out: list[Span] = []
    while day <= last:
        for s, e in _day_spans(zone_name, region, rules, day):
            s, e = max(s, lo), min(e, hi)
            if s < e:
                out.append((s, e))
        day += timedelta(days=1)
    return out


def open_spans(region: Region, rules: WindowRules, lo: datetime, hi: datetime) -> list[Span]:
    """UTC spans within [lo, hi) when the window is open in every candidate zone."""
    spans: list[Span] | None = None
    for name in rules.zones_of(region):
        z = _zone_spans(name, region, rules, lo, hi)
        spans = z if spans is None else _intersect(spans, z)
        if not spans:
            return []
    return spans or []


def _spans_from(
    region: Region, rules: WindowRules, start: datetime, days: int = HORIZON_DAYS
) -> Iterator[Span]:
    """Open spans from ``start`` onwards, chunk by chunk, up to ``days`` ahead.

    A span crossing a chunk seam comes out as two touching spans.
    """
    end_all = start + timedelta(days=days)
    lo = start
    while lo < end_all:
        hi = min(lo + _CHUNK, end_all)
        yield from open_spans(region, rules, lo, hi)
        lo = hi


def window_check(region: Region, now: datetime, rules: WindowRules) -> Decision:
    """Allowed when ``now`` is inside the window in every candidate zone, else Denied with the
    next opening (``retry_at`` None when nothing opens within HORIZON_DAYS)."""
    require_utc(now)
    for s, e in open_spans(region, rules, now, now + timedelta(minutes=1)):
        if s <= now < e:
            return Allowed()
    nxt = next_open(region, now, rules)
    where = region.keys()[0]
    all_zones = rules.zones_of(region)
    more = len(all_zones) - 3
    zones = ", ".join(all_zones[:3]) + (f" +{more} more" if more > 0 else "")
    return Denied("window", f"outside calling hours for {where} ({zones})", nxt)


def next_open(region: Region, now: datetime, rules: WindowRules) -> datetime | None:
    """The first instant ≥ ``now`` at which the window is open in every zone, or None."""
    require_utc(now)
    for s, _ in _spans_from(region, rules, now):
        return max(s, now)
    return None


def open_until(region: Region, now: datetime, rules: WindowRules) -> datetime | None:
    """When the window open at ``now`` closes (looking at most 16 days ahead), or None when
    it is closed at ``now``."""
    require_utc(now)
    end: datetime | None = None
    for s, e in _spans_from(region, rules, now, days=16):
        if end is None:
            if s > now:
                return None
        elif s != end:
            break
        end = e
    return end


def add_calling_hours(
    start: datetime, delay: timedelta, region: Region, rules: WindowRules
) -> datetime | None:
    """``start`` plus ``delay`` counting only time inside the window (None past the horizon).

    A result that would fall exactly on a window's close moves to the next opening.
    """
    require_utc(start, "start")
    remaining = delay
    for s, e in _spans_from(region, rules, start):
        cur = max(s, start)
        if remaining < e - cur:
            return cur + remaining
        remaining -= e - cur
    return None
