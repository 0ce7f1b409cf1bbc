"""The runner's view of its caller IDs: calls per number per local day, and resting numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from dialer_core.callerid.config import CallerIdConfig
from dialer_core.callerid.presence import CallerIdChoice, NoCallerId, choose_caller_id
from dialer_core.compliance.region import Region, ZoneUnknown, region_of


def _day_of(number: str, at: datetime) -> date:
    """The calendar day at ``at`` where the caller number lives (its daily cap's day)."""
    region = region_of(number)
    zone = "UTC" if isinstance(region, ZoneUnknown) or region.tz is None else region.tz
    return at.astimezone(ZoneInfo(zone)).date()


@dataclass
class CallerIdBook:
    """Which number to present next; fed with every launch and the health verdicts."""

    config: CallerIdConfig
    fallback: str = ""  # the campaign's single caller ID when it has no pool
    used: dict[tuple[str, date], int] = field(default_factory=dict)
    resting: set[str] = field(default_factory=set)

    def note(self, number: str, at: datetime) -> None:
        """A call was launched presenting ``number``."""
        if number:
            key = (number, _day_of(number, at))
            self.used[key] = self.used.get(key, 0) + 1

    def pick(self, region: Region | ZoneUnknown, at: datetime) -> CallerIdChoice | NoCallerId:
        """The number for a callee in ``region`` (city → province → default pool)."""
        if not self.config.numbers:
            return CallerIdChoice(self.fallback, "campaign", 0)
        if isinstance(region, ZoneUnknown):
            return NoCallerId("callee region unknown")
        today = {
            n.number: self.used.get((n.number, _day_of(n.number, at)), 0)
            for n in self.config.numbers
        }
        return choose_caller_id(
            region, self.config.numbers, today, self.config.daily_cap, frozenset(self.resting)
        )
