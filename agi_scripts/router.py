"""Route an answered call to the robot or a human queue, by the campaign's ``[routing]`` rules.

Rules are tried in order; the first whose every condition holds decides, else the default.
``route`` is pure: the current time is passed in and evaluated in the callee's time zone.

    [routing]
    default = { action = "queue", queue = "collectors" }

    [[routing.rules]]
    name = "early stage to the robot"
    dpd_max = 30
    action = "robot"
    script = "reminder_zh"

    [[routing.rules]]
    province = ["Guangdong"]
    action = "queue"
    queue = "team_gd"
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dialer_core.compliance.region import province_key
from dialer_core.config_errors import InputError
from dialer_core.dpd import DPD_BUCKETS, dpd_bucket

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CONDITION_KEYS = frozenset(
    {
        "province",
        "city",
        "dpd_min",
        "dpd_max",
        "dpd_bucket",
        "amount_min",
        "amount_max",
        "product",
        "attempt_min",
        "attempt_max",
        "time_of_day",
        "weekday",
    }
)
_ACTION_KEYS = frozenset({"action", "script", "queue"})
_RULE_KEYS = _CONDITION_KEYS | _ACTION_KEYS | {"name"}


def _norm_province(name: str) -> str:
    """Compare provinces by their canonical name: 广东省, 广东, Guangdong Province → guangdong."""
    text = name.strip()
    if text.casefold().endswith(" province"):
        text = text[: -len(" province")]
    return province_key(text).casefold()


def _norm_region(name: str) -> str:
    text = name.strip().casefold()
    for suffix in ("省", "市", " province", " city", " shi", " sheng"):
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
    return text


@dataclass(frozen=True)
class CallContext:
    """What the router knows about an answered call. Money in minor units."""

    case_id: str
    province: str = ""
    city: str = ""
    days_past_due: int = 0
    amount_owed_minor: int = 0
    product: str = ""
    attempt: int = 1  # 1 for the first call of this case
    timezone: str = "Asia/Shanghai"  # the callee's IANA zone


@dataclass(frozen=True)
class RouteDecision:
    """Robot (``script``, optional transfer ``queue``) or human ``queue``; ``rule`` says why."""

    action: Literal["robot", "queue"]
    script: str | None
    queue: str | None
    rule: str


@dataclass(frozen=True)
class Rule:
    """One routing rule: conditions (None = any) and the decision it makes."""

    decision: RouteDecision
    provinces: frozenset[str] | None = None
    cities: frozenset[str] | None = None
    dpd_min: int | None = None
    dpd_max: int | None = None
    dpd_buckets: frozenset[str] | None = None
    amount_min_minor: int | None = None
    amount_max_minor: int | None = None
    products: frozenset[str] | None = None
    attempt_min: int | None = None
    attempt_max: int | None = None
    time_windows: tuple[tuple[int, int], ...] | None = None  # minutes since local midnight
    weekdays: frozenset[int] | None = None  # 0 = Monday

    def matches(self, call: CallContext, local: dt.datetime) -> bool:
        """True if every condition of this rule holds for ``call`` at local time ``local``."""
        if self.provinces is not None and _norm_province(call.province) not in self.provinces:
            return False
        if self.cities is not None and _norm_region(call.city) not in self.cities:
            return False
        if self.dpd_min is not None and call.days_past_due < self.dpd_min:
            return False
        if self.dpd_max is not None and call.days_past_due > self.dpd_max:
            return False
        if self.dpd_buckets is not None and dpd_bucket(call.days_past_due) not in self.dpd_buckets:
            return False
        if self.amount_min_minor is not None and call.amount_owed_minor < self.amount_min_minor:
            return False
        if self.amount_max_minor is not None and call.amount_owed_minor > self.amount_max_minor:
            return False
        if self.products is not None and call.product.casefold() not in self.products:
            return False
        if self.attempt_min is not None and call.attempt < self.attempt_min:
            return False
        if self.attempt_max is not None and call.attempt > self.attempt_max:
            return False
        if self.weekdays is not None and local.weekday() not in self.weekdays:
            return False
        if self.time_windows is not None:
            minute = local.hour * 60 + local.minute
            return any(
                start <= minute < end if start < end else minute >= start or minute < end
                for start, end in self.time_windows
            )
        return True


@dataclass(frozen=True)
class RoutingStrategy:
    rules: tuple[Rule, ...]
    default: RouteDecision


class RoutingConfigError(InputError):
    """The ``[routing]`` table is invalid; ``errors`` names file and key of each problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def route(call: CallContext, strategy: RoutingStrategy, now: dt.datetime) -> RouteDecision:
    """The decision of the first matching rule, else the default. ``now`` must be aware."""
    if now.tzinfo is None:
        raise ValueError("route: now must be timezone-aware")
    try:
        local = now.astimezone(ZoneInfo(call.timezone))
    except (ZoneInfoNotFoundError, ValueError):
        local = now  # an unknown zone must not drop the call: judge time in the given offset
    for rule in strategy.rules:
        if rule.matches(call, local):
            return rule.decision
    return strategy.default


class _Parser:
    def __init__(
        self,
        source: str,
        known_scripts: Collection[str] | None,
        known_queues: Collection[str] | None,
    ) -> None:
        self.source = source
        self.errors: list[str] = []
        self.known_scripts = known_scripts
        self.known_queues = known_queues

    def err(self, key: str, message: str) -> None:
        self.errors.append(f"{self.source}: {key}: {message}")

    def strings(self, key: str, value: Any) -> frozenset[str] | None:
        items = [value] if isinstance(value, str) else value
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(v, str) and v.strip() for v in items)
        ):
            self.err(key, f"expected a string or a non-empty list of strings, got {value!r}")
            return None
        return frozenset(items)

    def integer(self, key: str, value: Any, low: int) -> int | None:
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            self.err(key, f"expected an integer >= {low}, got {value!r}")
            return None
        return value

    def money(self, key: str, value: Any) -> int | None:
        try:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidOperation
            minor = Decimal(str(value)) * 100
        except InvalidOperation:
            minor = Decimal(-1)
        if minor < 0 or minor != minor.to_integral_value():
            self.err(key, f"expected an amount >= 0 in major units (e.g. 5000.50), got {value!r}")
            return None
        return int(minor)

    def windows(self, key: str, value: Any) -> tuple[tuple[int, int], ...] | None:
        items = self.strings(key, value)
        if items is None:
            return None
        out = []
        for item in sorted(items):
            try:
                start, end = (dt.time.fromisoformat(p.strip()) for p in item.split("-"))
            except ValueError:
                self.err(key, f'expected windows like "09:00-12:00", got {item!r}')
                continue
            if start == end:
                self.err(key, f"empty window {item!r}")
                continue
            out.append((start.hour * 60 + start.minute, end.hour * 60 + end.minute))
        return tuple(out)

    def decision(self, key: str, raw: Mapping[str, Any], rule: str) -> RouteDecision | None:
        action = raw.get("action")
        script, queue = raw.get("script"), raw.get("queue")
        ok = True
        if action not in ("robot", "queue"):
            self.err(f"{key}.action", f'expected "robot" or "queue", got {action!r}')
            return None
        if action == "robot":
            if not isinstance(script, str) or not script:
                self.err(f"{key}.script", "a robot route needs a script name")
                ok = False
            elif self.known_scripts is not None and script not in self.known_scripts:
                self.err(f"{key}.script", f"unknown robot script {script!r}")
                ok = False
        elif script is not None:
            self.err(f"{key}.script", "only a robot route takes a script")
            ok = False
        if action == "queue" and (not isinstance(queue, str) or not queue):
            self.err(f"{key}.queue", "a queue route needs a queue name")
            ok = False
        elif queue is not None and not isinstance(queue, str):
            self.err(f"{key}.queue", f"expected a queue name, got {queue!r}")
            ok = False
        elif queue is not None and self.known_queues is not None and queue not in self.known_queues:
            self.err(f"{key}.queue", f"unknown queue {queue!r}")
            ok = False
        return RouteDecision(action, script, queue, rule) if ok else None

    def rule(self, key: str, raw: Any, index: int) -> Rule | None:
        if not isinstance(raw, dict):
            self.err(key, f"expected a table [[routing.rules]], got {raw!r}")
            return None
        for name in raw:
            if name not in _RULE_KEYS:
                self.err(f"{key}.{name}", f"unknown key (allowed: {', '.join(sorted(_RULE_KEYS))})")
        label = raw.get("name", f"rules[{index}]")
        if not isinstance(label, str):
            self.err(f"{key}.name", f"expected a string, got {label!r}")
            label = f"rules[{index}]"
        decision = self.decision(key, raw, label)
        conditions: dict[str, Any] = {}
        for name in ("province", "city", "product"):
            if name in raw:
                values = self.strings(f"{key}.{name}", raw[name])
                norm = {"province": _norm_province, "city": _norm_region}.get(name, str.casefold)
                field = {"province": "provinces", "city": "cities", "product": "products"}[name]
                conditions[field] = frozenset(norm(v) for v in values) if values else None
        for name, low in (
            ("dpd_min", -3650),
            ("dpd_max", -3650),
            ("attempt_min", 1),
            ("attempt_max", 1),
        ):
            if name in raw:
                conditions[name] = self.integer(f"{key}.{name}", raw[name], low)
        for name in ("amount_min", "amount_max"):
            if name in raw:
                conditions[f"{name}_minor"] = self.money(f"{key}.{name}", raw[name])
        if "dpd_bucket" in raw:
            buckets = self.strings(f"{key}.dpd_bucket", raw["dpd_bucket"])
            bad = sorted(b for b in buckets or () if b not in DPD_BUCKETS)
            if bad:
                self.err(f"{key}.dpd_bucket", f"unknown bucket(s) {bad}: expected M0..M7")
            conditions["dpd_buckets"] = buckets
        if "time_of_day" in raw:
            conditions["time_windows"] = self.windows(f"{key}.time_of_day", raw["time_of_day"])
        if "weekday" in raw:
            days = self.strings(f"{key}.weekday", raw["weekday"])
            bad = sorted(d for d in days or () if d.casefold() not in WEEKDAYS)
            if bad:
                self.err(f"{key}.weekday", f"unknown day(s) {bad}: expected mon..sun")
            else:
                conditions["weekdays"] = frozenset(WEEKDAYS.index(d.casefold()) for d in days or ())
        for low, high in (
            ("dpd_min", "dpd_max"),
            ("attempt_min", "attempt_max"),
            ("amount_min_minor", "amount_max_minor"),
        ):
            a, b = conditions.get(low), conditions.get(high)
            if a is not None and b is not None and a > b:
                self.err(
                    f"{key}.{low.removesuffix('_minor')}",
                    f"greater than {high.removesuffix('_minor')}: the rule never matches",
                )
        if not _CONDITION_KEYS.intersection(raw):
            self.err(key, "rule has no condition: it matches every call (use routing.default)")
        if decision is None:
            return None
        return Rule(decision=decision, **conditions)


def parse_strategy(
    routing: Mapping[str, Any],
    source: str = "campaign.toml",
    known_scripts: Collection[str] | None = None,
    known_queues: Collection[str] | None = None,
) -> RoutingStrategy:
    """Validate a campaign's ``[routing]`` table; ``RoutingConfigError`` lists every problem.

    ``known_scripts`` / ``known_queues``, when given, are the names a decision may use.
    """
    p = _Parser(source, known_scripts, known_queues)
    for key in routing:
        if key not in ("rules", "default"):
            p.err(f"routing.{key}", "unknown key (allowed: default, rules)")
    default = None
    raw_default = routing.get("default")
    if not isinstance(raw_default, dict):
        p.err("routing.default", 'missing: expected { action = "robot"|"queue", ... }')
    else:
        for name in raw_default:
            if name not in _ACTION_KEYS:
                p.err(f"routing.default.{name}", "unknown key (allowed: action, queue, script)")
        default = p.decision("routing.default", raw_default, "default")
    raw_rules = routing.get("rules", [])
    if not isinstance(raw_rules, list):
        p.err("routing.rules", "expected an array of tables [[routing.rules]]")
        raw_rules = []
    rules = [p.rule(f"routing.rules[{i}]", raw, i) for i, raw in enumerate(raw_rules)]
    if p.errors or default is None:
        raise RoutingConfigError(p.errors)
    return RoutingStrategy(tuple(r for r in rules if r is not None), default)


def load_strategy(
    path: str | Path,
    known_scripts: Collection[str] | None = None,
    known_queues: Collection[str] | None = None,
) -> RoutingStrategy:
    """Read the ``[routing]`` table of a campaign TOML file and validate it."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RoutingConfigError([f"{path}: {exc}"]) from exc
    routing = data.get("routing")
    if not isinstance(routing, dict):
        raise RoutingConfigError([f"{path}: routing: missing [routing] table"])
    return parse_strategy(routing, str(path), known_scripts, known_queues)
