"""Scenario files: the world a simulated shift runs in (agents, callees, trunks).

A scenario is TOML with tables ``[scenario]``, ``[agents]``, ``[calls]``, ``[talk]`` and an
optional ``[pacing]`` table of campaign overrides that describe site facts the campaign would
configure (e.g. ``trunk_channels``, ``amd_false_positive_rate``). Every key has a default; an
unknown key or bad value raises :class:`ScenarioError` naming the file, the key and the
expectation.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialer_core.config_errors import InputError


class ScenarioError(InputError):
    """A scenario file holds a bad value; the message names file, key and expectation."""


@dataclass(frozen=True)
class AgentsSpec:
    count: int = 20
    ramp_up_minutes: float = 10.0  # logins spread uniformly over the first minutes
    ramp_down_minutes: float = 10.0  # logouts spread over the last minutes
    breaks_per_agent: int = 2
    break_minutes: float = 15.0
    lunch_share: float = 0.6  # share of agents who take lunch in the middle of the shift
    lunch_minutes: float = 30.0
    breaks_log_out: bool = False  # breaks and lunch as log-outs (else pauses)
    phantom: int = 0  # agents the dialer sees idle who never take a call (a wrong agent count)


@dataclass(frozen=True)
class CallsSpec:
    human_rate: float = 0.15  # at shift start
    human_rate_end: float = -1.0  # at shift end (linear drift); < 0 → same as human_rate
    shift_at: float = -1.0  # fraction of the shift where the rate jumps to human_rate_end
    machine_rate: float = 0.25
    busy_rate: float = 0.04
    invalid_rate: float = 0.10  # the rest of the calls ring out unanswered
    post_dial_min: float = 2.0
    post_dial_max: float = 5.0
    ring_mean: float = 8.5
    ring_cv: float = 0.6
    ring_timeout: float = 25.0
    amd_delay: float = 2.5  # answer → human/machine verdict
    amd_false_positive_rate: float = 0.0  # humans hung up as machines
    machine_disposal_seconds: float = 5.0  # an agent's time on a machine (calls with AMD off)
    false_positives_count_as_abandoned: bool = False  # Ofcom
    connect_limit: float = 2.0  # human verdict → agent, else abandoned
    trunk_channels: int = 0  # 0 = unlimited; beyond it originates fail (cause 34)


@dataclass(frozen=True)
class TalkSpec:
    right_party_share: float = 0.7
    right_party_mean: float = 240.0
    right_party_cv: float = 1.0
    wrong_party_mean: float = 40.0
    wrong_party_cv: float = 0.5
    wrap_mean: float = 30.0
    wrap_cv: float = 0.5


@dataclass(frozen=True)
class Scenario:
    name: str = "scenario"
    shift_hours: float = 8.0
    agents: AgentsSpec = field(default_factory=AgentsSpec)
    calls: CallsSpec = field(default_factory=CallsSpec)
    talk: TalkSpec = field(default_factory=TalkSpec)
    pacing: Mapping[str, Any] = field(default_factory=dict)  # campaign overrides

    def human_rate_at(self, fraction: float) -> float:
        """Human-answer probability at ``fraction`` (0..1) of the shift."""
        end = self.calls.human_rate if self.calls.human_rate_end < 0 else self.calls.human_rate_end
        if self.calls.shift_at >= 0:  # a sudden shift instead of a drift
            return end if fraction >= self.calls.shift_at else self.calls.human_rate
        return self.calls.human_rate + (end - self.calls.human_rate) * fraction


_RANGES: dict[str, tuple[float, float]] = {
    "count": (1, 5000),
    "ramp_up_minutes": (0, 240),
    "ramp_down_minutes": (0, 240),
    "breaks_per_agent": (0, 20),
    "break_minutes": (0, 120),
    "lunch_share": (0, 1),
    "lunch_minutes": (0, 180),
    "phantom": (0, 5000),
    "human_rate": (0, 1),
    "human_rate_end": (-1, 1),
    "shift_at": (-1, 1),
    "machine_rate": (0, 1),
    "busy_rate": (0, 1),
    "invalid_rate": (0, 1),
    "post_dial_min": (0, 60),
    "post_dial_max": (0, 60),
    "ring_mean": (0.1, 120),
    "ring_cv": (0.01, 5),
    "ring_timeout": (1, 300),
    "amd_delay": (0, 10),
    "amd_false_positive_rate": (0, 0.5),
    "machine_disposal_seconds": (0.5, 120),
    "connect_limit": (0, 60),
    "trunk_channels": (0, 100000),
    "right_party_share": (0, 1),
    "right_party_mean": (1, 7200),
    "right_party_cv": (0.01, 5),
    "wrong_party_mean": (1, 7200),
    "wrong_party_cv": (0.01, 5),
    "wrap_mean": (0, 3600),
    "wrap_cv": (0.01, 5),
    "shift_hours": (0.1, 24),
}


def _fail(source: str, key: str, expected: str, got: Any) -> ScenarioError:
    return ScenarioError(f"{source}: {key}: expected {expected}, got {got!r}")


def _section(cls: type, table: Any, source: str, prefix: str) -> Any:
    if not isinstance(table, dict):
        raise _fail(source, prefix, "a table", table)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, raw in table.items():
        where = f"{prefix}.{key}"
        if key not in fields:
            raise _fail(source, where, "one of " + ", ".join(fields), key)
        kind = fields[key].type
        if kind == "bool":
            if not isinstance(raw, bool):
                raise _fail(source, where, "true or false", raw)
            values[key] = raw
            continue
        low, high = _RANGES[key]
        if kind == "int":
            ok = isinstance(raw, int) and not isinstance(raw, bool)
            expected = f"an integer between {low:g} and {high:g}"
        else:
            ok = isinstance(raw, int | float) and not isinstance(raw, bool)
            expected = f"a number between {low:g} and {high:g}"
        if not ok or not low <= raw <= high:
            raise _fail(source, where, expected, raw)
        values[key] = raw if kind == "int" else float(raw)
    return cls(**values)


def parse_scenario(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate parsed scenario TOML into a :class:`Scenario`."""
    allowed = {"scenario", "agents", "calls", "talk", "pacing"}
    for key in data:
        if key not in allowed:
            raise _fail(source, key, "one of the tables " + ", ".join(sorted(allowed)), key)
    head = data.get("scenario", {})
    if not isinstance(head, dict):
        raise _fail(source, "scenario", "a table", head)
    for key in head:
        if key not in ("name", "shift_hours"):
            raise _fail(source, f"scenario.{key}", "one of name, shift_hours", key)
    name = head.get("name", Path(source).stem)
    if not isinstance(name, str) or not name:
        raise _fail(source, "scenario.name", "a non-empty string", name)
    hours = head.get("shift_hours", 8.0)
    low, high = _RANGES["shift_hours"]
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not low <= hours <= high:
        raise _fail(source, "scenario.shift_hours", f"a number between {low:g} and {high:g}", hours)
    calls = _section(CallsSpec, data.get("calls", {}), source, "calls")
    total = calls.machine_rate + calls.busy_rate + calls.invalid_rate
    for key in ("human_rate", "human_rate_end"):
        if total + getattr(calls, key) > 1.0 + 1e-9:
            raise _fail(
                source,
                f"calls.{key}",
                f"human + machine + busy + invalid <= 1 (the rest ring out), so <= {1 - total:g}",
                getattr(calls, key),
            )
    if calls.post_dial_max < calls.post_dial_min:
        raise _fail(
            source,
            "calls.post_dial_max",
            f">= post_dial_min ({calls.post_dial_min:g})",
            calls.post_dial_max,
        )
    pacing = data.get("pacing", {})
    if not isinstance(pacing, dict):
        raise _fail(source, "pacing", "a table of campaign pacing overrides", pacing)
    return Scenario(
        name=name,
        shift_hours=float(hours),
        agents=_section(AgentsSpec, data.get("agents", {}), source, "agents"),
        calls=calls,
        talk=_section(TalkSpec, data.get("talk", {}), source, "talk"),
        pacing=dict(pacing),
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path.name}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from exc
    return parse_scenario(data, path.name)
