"""Where a phone number is: country, province, city and time zones, from ``phonenumbers``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import geocoder, timezone

_UNKNOWN_ZONE = "Etc/Unknown"


@dataclass(frozen=True)
class Region:
    country: str  # ISO 3166 alpha-2, "" if unknown
    province: str  # English name, e.g. "Guangdong"; "" if unknown
    city: str  # English name, e.g. "Guangzhou"; "" if unknown
    time_zones: tuple[str, ...]  # IANA zones; empty if unknown, several for e.g. some US numbers


@lru_cache(maxsize=65536)
def region_of(e164: str) -> Region:
    """Region of an E.164 number; unknown parts are empty, never guessed."""
    try:
        num = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return Region("", "", "", ())
    country = phonenumbers.region_code_for_number(num) or ""
    zones = tuple(z for z in timezone.time_zones_for_number(num) if z != _UNKNOWN_ZONE)
    place = geocoder.description_for_number(num, "en")
    province = city = ""
    if country == "CN" and place:
        parts = [p.strip() for p in place.split(",")]
        city, province = (parts[0], parts[-1]) if len(parts) > 1 else (parts[0], parts[0])
    elif place and country in ("US", "CA"):
        parts = [p.strip() for p in place.split(",")]
        city, province = parts[0], parts[-1] if len(parts) > 1 else ""
    elif place:
        city = place
    return Region(country, province, city, zones)


def mask(e164: str) -> str:
    """A phone number safe for logs: country code and last 4 digits only."""
    if len(e164) <= 6:
        return "***"
    return f"{e164[:3]}{'*' * (len(e164) - 7)}{e164[-4:]}"
