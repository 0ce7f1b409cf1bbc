"""Province and city of many phone numbers fast: region_of's answer, shared by number prefix.

Geocoding a number (phonenumbers' geocoder and time zone data) reads only its first
``GEOCODE_LONGEST_PREFIX`` digits, its number type and its country; importing a million cases
would otherwise look each one up in full (parse, validate, geocode). A number's answer is
computed from the type and country already known (``_place_of``: phonenumbers' own lookups,
the same answer as ``region_of``); numbers that share all three share it, so it is kept and
reused. Calling codes where that does not hold — shared by several countries (+1, +7: the
country name depends on the whole number) or with a mobile token (+54) — are never kept.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumber, geocoder
from phonenumbers import timezone as pn_timezone
from phonenumbers.geodata import GEOCODE_LONGEST_PREFIX
from phonenumbers.tzdata import TIMEZONE_LONGEST_PREFIX

from dialer_core.compliance.region import ZoneUnknown, _place, region_of

_PREFIX = max(GEOCODE_LONGEST_PREFIX, TIMEZONE_LONGEST_PREFIX)
_MAX_ENTRIES = 50_000  # bounded memory (~25 MB): a miss costs one prefix lookup, not a parse


class PhoneRegions:
    """Memo of (province, city) by (prefix, number type, country) for single-country codes."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str, int, str], tuple[str, str]] = {}

    def place(self, number: PhoneNumber, ntype: int, country: str, e164: str) -> tuple[str, str]:
        """(province, city) of a valid number, "" when unknown; equal to region_of's."""
        shared = _shareable(number.country_code)
        key = (e164[1 : 1 + _PREFIX], ntype, country)
        if shared:
            found = self._memo.get(key)
            if found is not None:
                return found
        place = _place_of(number, ntype, country, e164)
        if shared and len(self._memo) < _MAX_ENTRIES:
            self._memo[key] = place
        return place


def _place_of(number: PhoneNumber, ntype: int, country: str, e164: str) -> tuple[str, str]:
    """region_of's province and city without parsing and validating the number again.

    Geographical numbers (fixed lines, and mobiles where they are geographical, as in China)
    take phonenumbers' own lookups with the type already known; others ask region_of."""
    if not phonenumbers.is_number_type_geographical(ntype, number.country_code):
        region = region_of(e164)
        if isinstance(region, ZoneUnknown):
            return ("", "")
        return (region.province or "", region.city or "")
    zones = pn_timezone.time_zones_for_geographical_number(number)
    if all(z == pn_timezone.UNKNOWN_TIMEZONE for z in zones):
        return ("", "")
    province, city = _place(country, geocoder.description_for_valid_number(number, "en"))
    return (province or "", city or "")


def _shareable(country_code: int) -> bool:
    return len(
        phonenumbers.region_codes_for_country_code(country_code)
    ) == 1 and not phonenumbers.country_mobile_token(country_code)
