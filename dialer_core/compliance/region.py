"""Where a callee is: country, province, city and candidate time zones from the E.164 number.

Backed by ``phonenumbers`` (geocoder in English, timezone module). A number whose zone cannot be
determined gives ``ZoneUnknown``; the rules never guess a zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as pn_timezone
from phonenumbers.tzdata import TIMEZONE_DATA

from dialer_core.compliance.model import mask

# Mainland China, Hong Kong, Macau, Taiwan: English (geocoder) name → Chinese short name.
CN_PROVINCES: dict[str, str] = {
    "Anhui": "安徽",
    "Beijing": "北京",
    "Chongqing": "重庆",
    "Fujian": "福建",
    "Gansu": "甘肃",
    "Guangdong": "广东",
    "Guangxi": "广西",
    "Guizhou": "贵州",
    "Hainan": "海南",
    "Hebei": "河北",
    "Heilongjiang": "黑龙江",
    "Henan": "河南",
    "Hubei": "湖北",
    "Hunan": "湖南",
    "Inner Mongolia": "内蒙古",
    "Jiangsu": "江苏",
    "Jiangxi": "江西",
    "Jilin": "吉林",
    "Liaoning": "辽宁",
    "Ningxia": "宁夏",
    "Qinghai": "青海",
    "Shaanxi": "陕西",
    "Shandong": "山东",
    "Shanghai": "上海",
    "Shanxi": "山西",
    "Sichuan": "四川",
    "Tianjin": "天津",
    "Tibet": "西藏",
    "Xinjiang": "新疆",
    "Yunnan": "云南",
    "Zhejiang": "浙江",
    "Hong Kong": "香港",
    "Macau": "澳门",
    "Taiwan": "台湾",
}
_CN_BY_ZH = {zh: en for en, zh in CN_PROVINCES.items()}
_CN_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "特别行政区", "省", "市")

US_STATES: dict[str, str] = {
    "Alabama": "AL",
    "Alaska": "AK",
    "Arizona": "AZ",
    "Arkansas": "AR",
    "California": "CA",
    "Colorado": "CO",
    "Connecticut": "CT",
    "Delaware": "DE",
    "Florida": "FL",
    "Georgia": "GA",
    "Hawaii": "HI",
    "Idaho": "ID",
    "Illinois": "IL",
    "Indiana": "IN",
    "Iowa": "IA",
    "Kansas": "KS",
    "Kentucky": "KY",
    "Louisiana": "LA",
    "Maine": "ME",
    "Maryland": "MD",
    "Massachusetts": "MA",
    "Michigan": "MI",
    "Minnesota": "MN",
    "Mississippi": "MS",
    "Missouri": "MO",
    "Montana": "MT",
    "Nebraska": "NE",
    "Nevada": "NV",
    "New Hampshire": "NH",
    "New Jersey": "NJ",
    "New Mexico": "NM",
    "New York": "NY",
    "North Carolina": "NC",
    "North Dakota": "ND",
    "Ohio": "OH",
    "Oklahoma": "OK",
    "Oregon": "OR",
    "Pennsylvania": "PA",
    "Rhode Island": "RI",
    "South Carolina": "SC",
    "South Dakota": "SD",
    "Tennessee": "TN",
    "Texas": "TX",
    "Utah": "UT",
    "Vermont": "VT",
    "Virginia": "VA",
    "Washington": "WA",
    "West Virginia": "WV",
    "Wisconsin": "WI",
    "Wyoming": "WY",
    "Washington D.C.": "DC",
}
_US_ABBREVS = frozenset(US_STATES.values())

_ET, _CT, _MT, _PT = "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"
# Every zone in force somewhere in each state (an address's state, when its zone is not given).
US_STATE_ZONES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        ("CT", "DE", "DC", "GA", "ME", "MD", "MA", "NH", "NJ", "NY", "NC", "OH", "PA", "RI"),
        (_ET,),
    ),
    **dict.fromkeys(("SC", "VT", "VA", "WV"), (_ET,)),
    **dict.fromkeys(("AL", "AR", "IL", "IA", "LA", "MN", "MS", "MO", "OK", "WI"), (_CT,)),
    **dict.fromkeys(("CO", "MT", "NM", "UT", "WY"), (_MT,)),
    **dict.fromkeys(("CA", "WA"), (_PT,)),
    "AK": ("America/Anchorage", "America/Adak"),
    "AZ": ("America/Phoenix",),
    "HI": ("Pacific/Honolulu",),
    "FL": (_ET, _CT),
    "IN": ("America/Indiana/Indianapolis", _CT),
    "KY": (_ET, _CT),
    "MI": ("America/Detroit", _CT),
    "TN": (_ET, _CT),
    "KS": (_CT, _MT),
    "NE": (_CT, _MT),
    "ND": (_CT, _MT),
    "SD": (_CT, _MT),
    "TX": (_CT, _MT),
    "ID": ("America/Boise", _PT),
    "NV": (_PT, _MT),
    "OR": (_PT, "America/Boise"),
}


@dataclass(frozen=True)
class Region:
    """The callee's region. ``zones`` holds every candidate IANA zone (one for most numbers)."""

    country: str  # ISO 3166 alpha-2, e.g. "CN"
    province: str | None  # "Guangdong", "CA" (US state code), or None when unknown
    city: str | None
    zones: tuple[str, ...]

    @property
    def tz(self) -> str | None:
        """The zone when it is unique, else None."""
        return self.zones[0] if len(self.zones) == 1 else None

    def keys(self) -> tuple[str, ...]:
        """Override keys from most to least specific: ``CN/Guangdong/Shenzhen``, ... ``CN``."""
        out = []
        if self.province and self.city:
            out.append(f"{self.country}/{self.province}/{self.city}")
        if self.province:
            out.append(f"{self.country}/{self.province}")
        out.append(self.country)
        return tuple(out)


@dataclass(frozen=True)
class ZoneUnknown:
    """The callee's zone could not be determined: do not dial, report."""

    number: str  # masked
    reason: str


def province_key(name: str) -> str:
    """Canonical province name: "广东省", "广东" and "guangdong" all give "Guangdong"."""
    text = name.strip()
    for suffix in _CN_SUFFIXES:
        if text.endswith(suffix) and text[: -len(suffix)] in _CN_BY_ZH:
            text = text[: -len(suffix)]
            break
    if text in _CN_BY_ZH:
        return _CN_BY_ZH[text]
    for en in CN_PROVINCES:
        if en.lower() == text.lower():
            return en
    for state, abbrev in US_STATES.items():
        if state.lower() == text.lower() or abbrev == text.upper():
            return abbrev
    return text


def region_key(text: str) -> str:
    """Canonical override key: "cn/广东省" → "CN/Guangdong", "US/california" → "US/CA"."""
    parts = [p.strip() for p in text.split("/")]
    parts[0] = parts[0].upper()
    if len(parts) > 1:
        parts[1] = province_key(parts[1])
    return "/".join(parts)


def _place(country: str, description: str) -> tuple[str | None, str | None]:
    if not description:
        return None, None
    parts = [p.strip() for p in description.split(",")]
    if country == "CN":
        if parts[-1] not in CN_PROVINCES:
            return None, None  # "China": a national range, province unknown
        return parts[-1], parts[0]  # municipalities: province == city ("Beijing")
    if country == "US":
        last = parts[-1]
        state = US_STATES.get(last) or (last if last in _US_ABBREVS else None)
        city = parts[0] if len(parts) > 1 else None
        return state, city
    if len(parts) > 1:
        return parts[-1], parts[0]
    return None, parts[0]


@lru_cache(maxsize=1024)
def area_code_zones(npa: str) -> tuple[str, ...]:
    """Every zone any exchange of the NANP area code ``npa`` is in (423: Eastern and Central)."""
    prefix = "1" + npa
    found: set[str] = set()
    for key, zones in TIMEZONE_DATA.items():
        if key.startswith(prefix) or prefix.startswith(key) and len(key) > 1:
            found.update(zones)
    found.discard(pn_timezone.UNKNOWN_TIMEZONE)
    return tuple(sorted(found))


@lru_cache(maxsize=65536)
def region_of(e164: str, extra_zones: tuple[str, ...] = ()) -> Region | ZoneUnknown:
    """The region of an E.164 number, or ZoneUnknown when its zone cannot be determined.

    ``extra_zones`` are zones known from elsewhere (the debtor's address); they are added to the
    candidates, never substituted, so a call must suit every place the callee may be. A NANP
    number (+1) whose area code spans zones (423, 850, 208, 907 ...) counts every zone of the
    area code unless an address zone is known; then the exchange's zones and the address's.
    """
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException as exc:
        return ZoneUnknown(mask(e164), f"not an E.164 number: {exc}")
    if not phonenumbers.is_valid_number(parsed):
        return ZoneUnknown(mask(e164), "not a valid number for its country")
    country = phonenumbers.region_code_for_number(parsed)
    zones = tuple(
        z for z in pn_timezone.time_zones_for_number(parsed) if z != pn_timezone.UNKNOWN_TIMEZONE
    )
    if not zones:
        return ZoneUnknown(mask(e164), f"no time zone known for this {country} number")
    if parsed.country_code == 1 and not extra_zones:
        npa = phonenumbers.national_significant_number(parsed)[:3]
        zones = tuple(sorted(set(zones) | set(area_code_zones(npa))))
    # Imported here: the geocoder's place names take ~0.8 s to load, and every command that
    # reads a campaign file imports this module while only placing a number reads them.
    from phonenumbers import geocoder

    province, city = _place(country, geocoder.description_for_number(parsed, "en"))
    merged = tuple(sorted(set(zones) | set(extra_zones)))
    return Region(country=country or "", province=province, city=city, zones=merged)
