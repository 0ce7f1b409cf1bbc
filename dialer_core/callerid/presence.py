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


TIERS = ("city", "province", "default")


def tier_of(region: Region, n: CallerNumber) -> str | None:
    """The most local tier ``n`` belongs to for a callee in ``region`` (None: not eligible).

    The one definition the chooser picks by and the audit judges by: a number of the callee's
    city, else of its province (a province-wide number, or another city's when the city has
    none left), else a default-pool number.
    """
    local = not n.country or n.country.upper() == region.country
    if local and _same(n.province, region.province):
        if n.city is not None and region.city is not None and n.city.lower() == region.city.lower():
            return "city"
        return "province"
    return "default" if n.default else None


def _tiers(region: Region, numbers: Sequence[CallerNumber]) -> list[tuple[str, list[CallerNumber]]]:
    """Each tier's numbers; a number is in every tier from its most local one down (a city
    number is also a province number), the default pool holds the ``default`` numbers."""
    rank = {t: i for i, t in enumerate(TIERS)}
    out: list[tuple[str, list[CallerNumber]]] = []
    for tier in TIERS:
        pool = []
        for n in numbers:
            own = tier_of(region, n)
            if own is None:
                continue
            if tier == "default" and n.default or tier != "default" and rank[own] <= rank[tier]:
                pool.append(n)
        out.append((tier, pool))
    return out


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

    Right means one of our numbers in a tier the chooser may pick for the callee
    (``tier_of``): the same city, the same province, or the default pool.
    """
    if not presented:
        return "no caller ID was presented"
    ours = next((n for n in numbers if n.number == presented), None)
    if ours is None:
        return f"caller ID {presented} is not in the campaign's pool"
    if tier_of(region, ours) is not None:
        return None
    if ours.country and ours.country.upper() != region.country:
        return f"caller ID {presented} is local to {ours.country}, callee is in {region.country}"
    return f"caller ID {presented} is local to {ours.province}, callee in {region.province}"
