"""Build ``ComplianceRules`` from a campaign's ``[compliance]`` table over a preset.

Every key of a preset (``dialer_core/compliance/presets/<name>.toml``) can be overridden by the
campaign table; per-disposition redial tables merge key by key. Errors name the file, the key
and what was expected.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import fields
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from dialer_core.compliance.caps import ALL_DISPOSITIONS, CapRules
from dialer_core.compliance.holidays import CalendarError, HolidayCalendar, load_holidays
from dialer_core.compliance.hours import HoursError, WeeklyHours, parse_hours
from dialer_core.compliance.lawful import LAWFUL_KEYS
from dialer_core.compliance.redial import DEFAULT_REDIAL, RedialRule, RedialRules
from dialer_core.compliance.region import region_key
from dialer_core.compliance.rules import AbandonRules, ComplianceRules
from dialer_core.compliance.windows import WindowRules, zone
from dialer_core.config_errors import InputError

PRESETS = ("cn", "us", "uk")
_TOP = {
    "preset",
    "hours",
    "limit",
    "holidays",
    "region",
    "caps",
    "redial",
    "abandon",
    "lab_override",
    "region_clock",
}
_CAP_INTS = (
    "phone_day",
    "phone_7d",
    "phone_lifetime",
    "case_day",
    "case_7d",
    "case_lifetime",
    "debtor_day",
    "debtor_7d",
    "connected_case_day",
    "connected_case_7d",
    "connected_debtor_day",
    "connected_debtor_7d",
)
_CAP_KEYS = set(_CAP_INTS) | {
    "counted",
    "not_counted",
    "quiet_after_conversation",
    "quiet_key",
    "abandon_lockout",
    "machine_same_day",
}
_REDIAL_KEYS = {f.name for f in fields(RedialRule)}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ConfigError(InputError):
    """A compliance setting is invalid: ``file: key: expected ..., got ...``."""


def parse_duration(value: Any, where: str) -> timedelta:
    """ "90s", "10m", "2h", "1h30m", "7d", "1w" or a number of seconds."""
    if isinstance(value, bool):
        raise ConfigError(f'{where}: expected a duration like "10m", "2h" or "7d", got {value!r}')
    if isinstance(value, int | float) and value >= 0:
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip().lower()
        parts = _DURATION.findall(text)
        if parts and _DURATION.sub("", text).strip() == "":
            return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    raise ConfigError(f'{where}: expected a duration like "10m", "2h" or "7d", got {value!r}')


def load_preset(name: str) -> dict[str, Any]:
    """The raw table of a shipped preset."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    text = (
        resources.files("dialer_core.compliance")
        .joinpath(f"presets/{name}.toml")
        .read_text(encoding="utf-8")
    )
    return tomllib.loads(text)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if k == "hours" and isinstance(v, Mapping) and isinstance(out.get(k), str):
            out[k] = {"default": out[k]}  # a campaign table of days overrides days, not all
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _check_keys(table: Any, allowed: set[str], where: str) -> Mapping[str, Any]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: expected a table, got {table!r}")
    bad = sorted(set(table) - allowed)
    if bad:
        raise ConfigError(
            f"{where}.{bad[0]}: unknown key; expected one of {', '.join(sorted(allowed))}"
        )
    return table


def _weekly(value: Any, where: str) -> WeeklyHours:
    if not isinstance(value, str | Mapping):
        raise ConfigError(f'{where}: expected "HH:MM-HH:MM" or a table of days, got {value!r}')
    try:
        return WeeklyHours.from_table(value)
    except HoursError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _opt_int(value: Any, where: str) -> int | None:
    if value is False:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: expected a non-negative integer or false, got {value!r}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def _dispositions(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of disposition names, got {value!r}")
    bad = [v for v in value if v not in ALL_DISPOSITIONS]
    if bad:
        names = ", ".join(sorted(ALL_DISPOSITIONS))
        raise ConfigError(f"{where}: unknown disposition {bad[0]!r}; expected one of {names}")
    return frozenset(value)


def _caps(table: Any, where: str) -> CapRules:
    t = _check_keys(table, _CAP_KEYS, where)
    kw: dict[str, Any] = {k: _opt_int(t[k], f"{where}.{k}") for k in _CAP_INTS if k in t}
    if "counted" in t and "not_counted" in t:
        raise ConfigError(f"{where}.counted: give either counted or not_counted, not both")
    if "counted" in t:
        kw["counted"] = _dispositions(t["counted"], f"{where}.counted")
    if "not_counted" in t:
        kw["counted"] = ALL_DISPOSITIONS - _dispositions(t["not_counted"], f"{where}.not_counted")
    for key in ("quiet_after_conversation", "abandon_lockout"):
        if key in t:
            kw[key] = None if t[key] is False else parse_duration(t[key], f"{where}.{key}")
    if "quiet_after_conversation" in kw and kw["quiet_after_conversation"] is not None:
        q = kw["quiet_after_conversation"]
        if q.days < 1 or q != timedelta(days=q.days):
            raise ConfigError(f'{where}.quiet_after_conversation: expected whole days like "7d"')
    if "quiet_key" in t:
        if t["quiet_key"] not in ("case", "debtor"):
            raise ConfigError(
                f'{where}.quiet_key: expected "case" or "debtor", got {t["quiet_key"]!r}'
            )
        kw["quiet_key"] = t["quiet_key"]
    if "machine_same_day" in t:
        kw["machine_same_day"] = _bool(t["machine_same_day"], f"{where}.machine_same_day")
    return CapRules(**kw)


def _redial_rule(table: Any, where: str) -> RedialRule:
    t = _check_keys(table, _REDIAL_KEYS, where)
    kw: dict[str, Any] = {}
    if "delay" in t:
        kw["delay"] = parse_duration(t["delay"], f"{where}.delay")
    if "max_streak" in t:
        n = _opt_int(t["max_streak"], f"{where}.max_streak")
        if n == 0:
            raise ConfigError(f"{where}.max_streak: expected at least 1 or false, got 0")
        kw["max_streak"] = n
    for key in ("calling_hours_only", "next_phone", "stop_phone", "close_case"):
        if key in t:
            kw[key] = _bool(t[key], f"{where}.{key}")
    return RedialRule(**kw)


def _rule_table(rule: RedialRule) -> dict[str, Any]:
    t: dict[str, Any] = {f.name: getattr(rule, f.name) for f in fields(RedialRule)}
    t["delay"] = rule.delay.total_seconds()
    t["max_streak"] = False if rule.max_streak is None else rule.max_streak
    return t


def _redial(table: Any, where: str) -> RedialRules:
    t = _check_keys(table, ALL_DISPOSITIONS | {"default"}, where)
    rules = {k: _redial_rule(v, f"{where}.{k}") for k, v in t.items() if k != "default"}
    default = _redial_rule(t.get("default", {}), f"{where}.default")
    return RedialRules(rules, default)


def _abandon(table: Any, where: str) -> AbandonRules:
    t = _check_keys(table, {"target", "window", "prompt", "calendar_zone"}, where)
    kw: dict[str, Any] = {}
    if "target" in t:
        v = t["target"]
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 0.2:
            raise ConfigError(f"{where}.target: expected a fraction between 0 and 0.2, got {v!r}")
        kw["target"] = float(v)
    if "window" in t:
        kw["window_hours"] = parse_duration(t["window"], f"{where}.window").total_seconds() / 3600
    if "calendar_zone" in t:
        name = t["calendar_zone"]
        try:
            zone(name) if name else None
        except (KeyError, ValueError, TypeError):
            raise ConfigError(
                f'{where}.calendar_zone: expected an IANA zone like "Europe/London", got {name!r}'
            ) from None
        kw["calendar_zone"] = name
    if "prompt" in t:
        if not isinstance(t["prompt"], str) or not t["prompt"]:
            raise ConfigError(f"{where}.prompt: expected a prompt name, got {t['prompt']!r}")
        kw["prompt"] = t["prompt"]
    return AbandonRules(**kw)


def _lawful(table: Any, where: str) -> dict[str, Any]:
    return dict(_check_keys(table, LAWFUL_KEYS, where))


def _holidays(value: Any, where: str, base_dir: Path | None) -> HolidayCalendar:
    paths = [value] if isinstance(value, str) else value
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ConfigError(f"{where}: expected a file path or a list of paths, got {value!r}")
    cal = HolidayCalendar()
    for p in paths:
        path = Path(p)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            cal = cal + load_holidays(path)
        except CalendarError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return cal


def load_compliance(
    table: Mapping[str, Any] | None, source_name: str, base_dir: str | Path | None = None
) -> ComplianceRules:
    """Rules from a campaign's ``[compliance]`` table (None: defaults, no preset).

    ``source_name`` names the file in errors; relative holiday paths resolve against
    ``base_dir`` (default: the directory of ``source_name``).
    """
    src = f"{source_name}: compliance"
    t = _check_keys(table or {}, _TOP, src)
    preset = t.get("preset", "")
    if preset and preset not in PRESETS:
        raise ConfigError(f"{src}.preset: expected one of {', '.join(PRESETS)}, got {preset!r}")
    base: dict[str, Any] = {"redial": {k: _rule_table(v) for k, v in DEFAULT_REDIAL.items()}}
    if preset:
        base = _merge(base, load_preset(preset))
    over_caps = t.get("caps")
    if isinstance(over_caps, Mapping) and isinstance(base.get("caps"), Mapping):
        # counted and not_counted are two spellings of one setting: the campaign's replaces
        for key, other in (("counted", "not_counted"), ("not_counted", "counted")):
            if key in over_caps:
                base["caps"] = {k: v for k, v in base["caps"].items() if k != other}
    lab = _bool(t.get("lab_override", False), f"{src}.lab_override")
    merged = _merge(base, {k: v for k, v in t.items() if k not in ("preset", "lab_override")})
    bdir = Path(base_dir) if base_dir is not None else Path(source_name).parent

    hours = _weekly(merged.get("hours", "08:00-21:00"), f"{src}.hours")
    limit_raw = merged.get("limit", False)
    if limit_raw is False:
        limit = None
    elif isinstance(limit_raw, str):
        try:
            limit = parse_hours(limit_raw)
        except HoursError as exc:
            raise ConfigError(f"{src}.limit: {exc}") from None
    else:
        raise ConfigError(f'{src}.limit: expected "HH:MM-HH:MM" or false, got {limit_raw!r}')
    regions = merged.get("region", {})
    if not isinstance(regions, Mapping):
        raise ConfigError(f'{src}.region: expected tables like [compliance.region."CN/Guangdong"]')
    overrides = {}
    for key, sub in regions.items():
        where = f'{src}.region."{key}"'
        r = _check_keys(sub, {"hours"}, where)
        if "hours" not in r:
            raise ConfigError(f"{where}.hours: missing; expected the region's weekly hours")
        overrides[region_key(key)] = _weekly(r["hours"], f"{where}.hours")
    holidays = HolidayCalendar()
    if "holidays" in merged:
        holidays = _holidays(merged["holidays"], f"{src}.holidays", bdir)
    clocks_t = merged.get("region_clock", {})
    if not isinstance(clocks_t, Mapping):
        raise ConfigError(
            f'{src}.region_clock: expected a table like "CN/Xinjiang" = "Asia/Urumqi"'
        )
    clocks = {}
    for key, name in clocks_t.items():
        where = f'{src}.region_clock."{key}"'
        if not isinstance(name, str) or not name:
            raise ConfigError(f'{where}: expected an IANA zone like "Asia/Urumqi", got {name!r}')
        try:
            zone(name)
        except (KeyError, ValueError):
            raise ConfigError(f"{where}: unknown zone {name!r}; expected an IANA name") from None
        clocks[region_key(key)] = name
    window = WindowRules(hours, overrides, holidays, limit, clocks)
    return ComplianceRules(
        window=window,
        caps=_caps(merged.get("caps", {}), f"{src}.caps"),
        redial=_redial(merged.get("redial", {}), f"{src}.redial"),
        abandon=_abandon(merged.get("abandon", {}), f"{src}.abandon"),
        preset=preset,
        lawful=_lawful(merged.get("lawful", {}), f"{src}.lawful"),
        lab_override=lab,
    )


def load_compliance_file(path: str | Path) -> ComplianceRules:
    """Rules from the ``[compliance]`` table of a campaign TOML file."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    return load_compliance(doc.get("compliance"), str(p), p.parent)
