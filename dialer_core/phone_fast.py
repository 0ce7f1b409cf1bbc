"""Well-formed phone numbers without phonenumbers' general parser: the same answers, faster.

``phonenumbers.parse`` accepts any text (punctuation, letters, extensions, RFC 3966, dialling
prefixes) and most of an import's time went into it. A cases file is mostly bare digits: a
national number ("13812345678") or E.164 ("+8613812345678"). For those ``fast_parse`` builds
the PhoneNumber that ``phonenumbers.parse`` would, following its steps; whenever the digits
could take one of its special turns (an international dialling prefix, the region's own
country code written without '+', a national prefix or carrier code, a leading zero, a
calling code shared by several countries or of no country) it answers None and the caller
takes the general parser. ``number_type`` is phonenumbers' type test with each region's
patterns compiled once.
"""

from __future__ import annotations

import re
from functools import cache

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumber, PhoneNumberType
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE, SUPPORTED_REGIONS

_DIGITS = re.compile(r"\+?[0-9]{3,20}")
_MIN_NSN, _MAX_NSN = 2, 17  # phonenumbers' bounds on a national significant number
_MAX_CC_DIGITS = 3


class _Desc:
    """One PhoneNumberDesc: its possible lengths and its pattern, compiled."""

    __slots__ = ("lengths", "pattern")

    def __init__(self, desc: object) -> None:
        self.lengths = frozenset(getattr(desc, "possible_length", None) or ())
        text = getattr(desc, "national_number_pattern", None)
        self.pattern = re.compile(text) if text else None

    def matches(self, nsn: str) -> bool:
        """phonenumbers' _is_number_matching_desc."""
        if self.lengths and len(nsn) not in self.lengths:
            return False
        return self.pattern is not None and self.pattern.fullmatch(nsn) is not None


_ORDERED_TYPES = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)


class FastRegion:
    """What the fast path needs of one region's metadata."""

    def __init__(self, metadata: PhoneMetadata) -> None:
        self.code = metadata.id  # ISO 3166 alpha-2: region_code_for_number's answer
        self.country_code = metadata.country_code
        self.cc_text = str(metadata.country_code)
        self.idd = re.compile(metadata.international_prefix or "NonMatch")
        prefix = metadata.national_prefix_for_parsing
        self.national_prefix = re.compile(prefix) if prefix else None
        self.general = _Desc(metadata.general_desc)
        self.special = [
            (_Desc(getattr(metadata, name)), kind)
            for name, kind in _ORDERED_TYPES
            if getattr(metadata, name) is not None
        ]
        self.fixed = _Desc(metadata.fixed_line) if metadata.fixed_line is not None else None
        self.mobile = _Desc(metadata.mobile) if metadata.mobile is not None else None
        self.same_mobile_and_fixed = metadata.same_mobile_and_fixed_line_pattern
        self._typed: dict[int, re.Pattern[str]] = {}

    def starts_with_national_prefix(self, digits: str) -> bool:
        return self.national_prefix is not None and self.national_prefix.match(digits) is not None

    def number_type(self, nsn: str) -> int:
        """phonenumbers' _number_type_helper: the general pattern, then one match of the
        patterns that allow this length, in phonenumbers' order (``_by_length``)."""
        if not self.general.matches(nsn):
            return PhoneNumberType.UNKNOWN
        size = len(nsn)
        found = self._typed.get(size)
        if found is None:
            found = self._typed[size] = self._by_length(size)
        match = found.fullmatch(nsn)
        if match is None:
            return PhoneNumberType.UNKNOWN
        kind = int(match.lastgroup[1:])  # type: ignore[index]  # the alternatives are named
        if kind == PhoneNumberType.FIXED_LINE and (
            self.same_mobile_and_fixed or (self.mobile is not None and self.mobile.matches(nsn))
        ):
            return PhoneNumberType.FIXED_LINE_OR_MOBILE
        return kind

    def _by_length(self, size: int) -> re.Pattern[str]:
        """One pattern whose first matching alternative (named ``t<type>``) is the type that
        _number_type_helper answers for a number of ``size`` digits its general desc allows:
        the special types in order, fixed line (then mobile is asked apart), mobile."""
        options = [(desc, kind) for desc, kind in self.special]
        if self.fixed is not None:
            options.append((self.fixed, PhoneNumberType.FIXED_LINE))
        if not self.same_mobile_and_fixed and self.mobile is not None:
            options.append((self.mobile, PhoneNumberType.MOBILE))
        parts = [
            f"(?P<t{kind}>{desc.pattern.pattern})"
            for desc, kind in options
            if desc.pattern is not None and (not desc.lengths or size in desc.lengths)
        ]
        return re.compile("|".join(parts)) if parts else _NO_TYPE


_NO_TYPE = re.compile(r"(?!)")  # no type allows this length


@cache
def _region(code: str) -> FastRegion | None:
    """A geographic region that alone has its calling code, else None (general path)."""
    if code not in SUPPORTED_REGIONS:
        return None
    metadata = PhoneMetadata.metadata_for_region(code, None)
    if metadata is None or len(COUNTRY_CODE_TO_REGION_CODE.get(metadata.country_code, ())) != 1:
        return None
    return FastRegion(metadata)


def _calling_code(digits: str) -> tuple[int, str]:
    """phonenumbers' _extract_country_code: the shortest known code at the start, or 0."""
    for size in range(1, _MAX_CC_DIGITS + 1):
        code = int(digits[:size])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            return code, digits[size:]
    return 0, digits


def fast_parse(text: str, default_region: str) -> PhoneNumber | None:
    """``phonenumbers.parse(text, default_region)`` for bare digits (3-20 ASCII digits,
    maybe after a "+"); None when ``text`` needs the general parser."""
    found = fast_digits(text, default_region)
    if found is None:
        return None
    region, nsn = found
    return PhoneNumber(country_code=region.country_code, national_number=int(nsn))


def fast_digits(text: str, default_region: str) -> tuple[FastRegion, str] | None:
    """What ``fast_parse`` finds, before it builds the PhoneNumber: the number's region (the
    only one of its calling code) and its national significant number (no leading zero), or
    None when ``text`` needs the general parser."""
    if _DIGITS.fullmatch(text) is None:
        return None
    if text[0] == "+":
        digits = text[1:]
        if digits[0] == "0":
            return None
        code, nsn = _calling_code(digits)
        regions = COUNTRY_CODE_TO_REGION_CODE.get(code, ())
        region = _region(regions[0]) if len(regions) == 1 else None
    else:
        region = _region(default_region)
        if region is None or region.idd.match(text) or text.startswith(region.cc_text):
            return None
        nsn = text
    if (
        region is None
        or not _MIN_NSN <= len(nsn) <= _MAX_NSN
        or nsn[0] == "0"
        or region.starts_with_national_prefix(nsn)
    ):
        return None
    return region, nsn


def number_type(number: PhoneNumber) -> int:
    """``phonenumbers.number_type``; patterns compiled once for single-country codes."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(number.country_code, ())
    region = _region(regions[0]) if len(regions) == 1 else None
    if region is None or number.italian_leading_zero:
        return phonenumbers.number_type(number)
    return region.number_type(str(number.national_number))
