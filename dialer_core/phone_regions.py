"""Province and city of many phone numbers fast: region_of's answer, without re-parsing.

Geocoding a number (phonenumbers' geocoder and time zone data) reads only its E.164 digits,
its number type and its country; importing a million cases would otherwise look each one up
in full (parse, validate, format the number again, geocode). For a calling code of one country
with no mobile token, ``PhoneRegions.place`` walks the same prefix tables itself, from the
E.164 text already known, and turns a description into (province, city) once per distinct
description (a few thousand). Other calling codes — shared by several countries (+1, +7: the
country name depends on the whole number) or with a mobile token (+54) — and numbers that are
not geographical take phonenumbers' own lookups (``_place_of``), as ``region_of`` does.
"""

from __future__ import annotations

from bisect import bisect_left
from functools import cache

import phonenumbers
from phonenumbers import PhoneNumber, geocoder
from phonenumbers import timezone as pn_timezone
from phonenumbers.geodata import GEOCODE_DATA
from phonenumbers.tzdata import TIMEZONE_DATA

from dialer_core.compliance.region import ZoneUnknown, _place, region_of

_MAX_ENTRIES = 50_000  # bounded memory: descriptions are a few thousand in practice


class PhoneRegions:
    """(province, city) by description, for the numbers of single-country calling codes."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str, str], tuple[str, str]] = {}

    def place(self, number: PhoneNumber, ntype: int, country: str, e164: str) -> tuple[str, str]:
        """(province, city) of a valid number, "" when unknown; equal to region_of's."""
        found = self.direct(number.country_code, ntype, country, e164)
        return _place_of(number, ntype, country, e164) if found is None else found

    def direct(self, code: int, ntype: int, country: str, e164: str) -> tuple[str, str] | None:
        """``place`` from the prefix tables alone, or None when this number's code and type
        need phonenumbers' own lookups (then ``place`` with the PhoneNumber)."""
        if not _fast(ntype, code):
            return None
        digits = e164[1:]
        if not _tz_known(digits, _longest_key("tz", code)):
            return ("", "")
        description = _area(digits, _geo_sizes(code)) or _country_name(code)
        key = (country, description)
        found = self._memo.get(key)
        if found is None:
            province, city = _place(country, description)
            found = (province or "", city or "")
            if len(self._memo) < _MAX_ENTRIES:
                self._memo[key] = found
        return found


def _tz_known(digits: str, longest: int) -> bool:
    """Whether the time zone table has a zone for the number (its longest matching prefix
    names one that is not unknown): what region_of asks before geocoding."""
    zones = _longest_prefix(TIMEZONE_DATA, digits, longest)
    return zones is not None and _names_a_zone(zones)


@cache
def _names_a_zone(zones: tuple[str, ...]) -> bool:
    return not all(z == pn_timezone.UNKNOWN_TIMEZONE for z in zones)


def _longest_prefix(data: dict, digits: str, longest: int):  # noqa: ANN202 - the table's value
    """The entry of the longest prefix of ``digits`` in a phonenumbers prefix table, or None."""
    for size in range(min(longest, len(digits)), 0, -1):
        found = data.get(digits[:size])
        if found is not None:
            return found
    return None


def _area(digits: str, sizes: tuple[int, ...]) -> str:
    """phonenumbers' area description in English ("" when none), as
    description_for_valid_number finds it for a single-country code without a mobile token:
    the longest prefix of ``digits`` in the table that has one (``sizes``: the lengths of the
    code's keys, longest first)."""
    for size in sizes:
        entry = GEOCODE_DATA.get(digits[:size])
        if entry is not None:
            name = entry.get("en")
            if name is not None:
                return name
    return ""


@cache
def _geo_sizes(country_code: int) -> tuple[int, ...]:
    """The lengths of the geocoding keys that a number of this calling code can match (its
    code's digits and more, or a part of them), longest first."""
    text = str(country_code)
    keys = _sorted_keys("geo")
    first = bisect_left(keys, text)  # the keys starting with ``text``: one run (_longest_key)
    last = bisect_left(keys, text[:-1] + chr(ord(text[-1]) + 1), first)
    sizes = {len(key) for key in keys[first:last]}
    sizes |= {size for size in range(1, len(text)) if text[:size] in GEOCODE_DATA}
    return tuple(sorted(sizes, reverse=True))


@cache
def _fast(ntype: int, country_code: int) -> bool:
    """Numbers of this type and code take the direct lookups of ``PhoneRegions.place``."""
    return _shareable(country_code) and phonenumbers.is_number_type_geographical(
        ntype, country_code
    )


@cache
def _longest_key(table: str, country_code: int) -> int:
    """The longest key of a prefix table ("tz" or "geo") that a number of this calling code
    can match (every such key starts with its digits; shorter keys are tried anyway)."""
    text = str(country_code)
    keys = _sorted_keys(table)
    # The keys starting with ``text`` are one run of the sorted keys: from ``text`` itself up
    # to the first key past every continuation of it.
    first = bisect_left(keys, text)
    last = bisect_left(keys, text[:-1] + chr(ord(text[-1]) + 1), first)
    return max((len(key) for key in keys[first:last]), default=len(text))


@cache
def _sorted_keys(table: str) -> list[str]:
    """A prefix table's keys in order, sorted once (the geocoding table has ~290,000)."""
    return sorted(TIMEZONE_DATA if table == "tz" else GEOCODE_DATA)


@cache
def _country_name(country_code: int) -> str:
    """The description of a number of this code with no area (its country's name)."""
    (region,) = phonenumbers.region_codes_for_country_code(country_code)
    return geocoder._region_display_name(region, "en", None, None)


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


@cache
def _shareable(country_code: int) -> bool:
    """One country has this calling code and it has no mobile token."""
    return len(
        phonenumbers.region_codes_for_country_code(country_code)
    ) == 1 and not phonenumbers.country_mobile_token(country_code)
