"""Local-presence caller ID: present a number from the callee's region, least used first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

from dialer_core.compliance.region import Region, province_key


@dataclass(frozen=True)
class CallerNumber:
    """One outbound number of ours, tagged with the region it is local to.

    ``province``/``city`` use the geocoder's English names ("Guangdong", "Shenzhen"; US state
    codes "CA"); ``default`` puts it in the fallback pool.
    """

    number: str
    country: str = ""
    province: str | None = None
    city: str | None = None
    default: bool = False


@dataclass(frozen=True)
class CallerIdChoice:
    """The number to present and the tier it came from ("city", "province" or "default")."""

    number: str
    tier: str
    used_today: int


@dataclass(frozen=True)
class NoCallerId:
    """No number is available (all capped or resting): do not call."""

    reason: str


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and province_key(a).lower() == province_key(b).lower()


def _tiers(region: Region, numbers: Sequence[CallerNumber]) -> list[tuple[str, list[CallerNumber]]]:
    def local(n: CallerNumber) -> bool:
        return not n.country or n.country.upper() == region.country

    city = [
        n
        for n in numbers
        if local(n)
        and _same(n.province, region.province)
        and n.city is not None
        and region.city is not None
        and n.city.lower() == region.city.lower()
    ]
    province = [n for n in numbers if local(n) and _same(n.province, region.province)]
    default = [n for n in numbers if n.default]
    return [("city", city), ("province", province), ("default", default)]


def choose_caller_id(
    region: Region,
    numbers: Sequence[CallerNumber],
    used_today: Mapping[str, int],
    daily_cap: int | None,
    resting: Set[str] = frozenset(),
) -> CallerIdChoice | NoCallerId:
    """The least-used non-resting number under ``daily_cap`` from the most local tier that has
    one (city → province → default); ties go to the lowest number so the choice is stable."""
    for tier, pool in _tiers(region, numbers):
        ok = [
            n
            for n in pool
            if n.number not in resting
            and (daily_cap is None or used_today.get(n.number, 0) < daily_cap)
        ]
        if ok:
            best = min(ok, key=lambda n: (used_today.get(n.number, 0), n.number))
            return CallerIdChoice(best.number, tier, used_today.get(best.number, 0))
    return NoCallerId(
        f"no caller ID for {region.keys()[0]}: every city, province and default number is "
        "resting or at its daily cap"
    )


def presence_mismatch(
    region: Region, presented: str, numbers: Sequence[CallerNumber]
) -> str | None:
    """Why ``presented`` was a wrong caller ID for a callee in ``region`` (audit), or None.

    Right means: one of our numbers, and either local to the callee's province (and city when
    it has one) or in the default pool.
    """
    ours = next((n for n in numbers if n.number == presented), None)
    if ours is None:
        return f"caller ID {presented} is not in the campaign's pool"
    if ours.default:
        return None
    if ours.country and ours.country.upper() != region.country:
        return f"caller ID {presented} is local to {ours.country}, callee is in {region.country}"
    if not _same(ours.province, region.province):
        return f"caller ID {presented} is local to {ours.province}, callee in {region.province}"
    if ours.city and region.city and ours.city.lower() != region.city.lower():
        return f"caller ID {presented} is local to {ours.city}, callee in {region.city}"
    return None
