"""Caller-ID pools and health thresholds from a campaign's ``[callerid]`` table.

[callerid]
daily_cap = 300
numbers = [
  { number = "+862088880001", province = "Guangdong", city = "Guangzhou" },
  { number = "+861088880001", default = true },
]
[callerid.health]
min_calls = 50
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import phonenumbers

from dialer_core.callerid.health import HealthRules
from dialer_core.callerid.presence import CallerNumber
from dialer_core.compliance.config import ConfigError
from dialer_core.compliance.region import province_key

_NUMBER_KEYS = {"number", "country", "province", "city", "default"}


@dataclass(frozen=True)
class CallerIdConfig:
    """A campaign's caller-ID pool, per-number daily cap and health thresholds."""

    numbers: tuple[CallerNumber, ...] = ()
    daily_cap: int | None = None
    health: HealthRules = field(default_factory=HealthRules)


def _number(entry: Any, where: str) -> CallerNumber:
    if not isinstance(entry, Mapping):
        raise ConfigError(f'{where}: expected a table like {{ number = "+86..." }}')
    bad = sorted(set(entry) - _NUMBER_KEYS)
    if bad:
        raise ConfigError(
            f"{where}.{bad[0]}: unknown key; expected {', '.join(sorted(_NUMBER_KEYS))}"
        )
    raw = entry.get("number")
    try:
        parsed = phonenumbers.parse(raw, None) if isinstance(raw, str) else None
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        raise ConfigError(
            f'{where}.number: expected an E.164 number like "+862088880001", got {raw!r}'
        )
    number = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    for key in ("country", "province", "city"):
        if key in entry and not isinstance(entry[key], str):
            raise ConfigError(f"{where}.{key}: expected a string, got {entry[key]!r}")
    default = entry.get("default", False)
    if not isinstance(default, bool):
        raise ConfigError(f"{where}.default: expected true or false, got {default!r}")
    province = entry.get("province")
    country = entry.get("country") or phonenumbers.region_code_for_number(parsed) or ""
    return CallerNumber(
        number=number,
        country=country.upper(),
        province=province_key(province) if province else None,
        city=entry.get("city"),
        default=default,
    )


def load_callerid(table: Mapping[str, Any] | None, source_name: str) -> CallerIdConfig:
    """Parse ``[callerid]``; errors name the file, the key and what was expected."""
    src = f"{source_name}: callerid"
    t = table or {}
    bad = sorted(set(t) - {"numbers", "daily_cap", "health"})
    if bad:
        raise ConfigError(f"{src}.{bad[0]}: unknown key; expected numbers, daily_cap, health")
    entries = t.get("numbers", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{src}.numbers: expected an array of tables")
    numbers = tuple(_number(e, f"{src}.numbers[{i}]") for i, e in enumerate(entries))
    seen: set[str] = set()
    for i, n in enumerate(numbers):
        if n.number in seen:
            raise ConfigError(f"{src}.numbers[{i}].number: {n.number} is listed twice")
        seen.add(n.number)
    cap = t.get("daily_cap", False)
    if cap is not False and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise ConfigError(f"{src}.daily_cap: expected a positive integer or false, got {cap!r}")
    h = t.get("health", {})
    allowed = {f.name for f in fields(HealthRules)}
    if not isinstance(h, Mapping) or set(h) - allowed:
        key = sorted(set(h) - allowed)[0] if isinstance(h, Mapping) else ""
        raise ConfigError(f"{src}.health.{key}: unknown key; expected {', '.join(sorted(allowed))}")
    for key, value in h.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{src}.health.{key}: expected a non-negative number, got {value!r}")
    return CallerIdConfig(numbers, None if cap is False else cap, HealthRules(**h))
