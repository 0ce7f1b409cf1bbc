"""The campaign ``[pacing]`` table: every pacing parameter, its default and its validation.

Errors name the file, the key and what was expected, e.g.
``campaign.toml: pacing.target_abandon_rate: expected a fraction between 0 and 0.2, got 3``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dialer_core.config_errors import InputError

MODES = ("predictive", "progressive", "preview", "robot", "fixed_ratio", "vicidial")


class PacingConfigError(InputError):
    """A campaign file holds a bad pacing value; the message names file, key and expectation."""


@dataclass(frozen=True)
class PacingConfig:
    """All pacing parameters of one campaign (see docs/pacing.md for each)."""

    mode: str = "predictive"
    # legal limit and how it is measured
    target_abandon_rate: float = 0.03
    ledger_windows_seconds: tuple[int, ...] = (3600, 86400, 2592000)
    window_z: float = 2.3
    amd_false_positive_rate: float = 0.0
    fp_z: float = 2.5
    amd_reserve: float = 0.3  # share of the cap kept for the dialer's own abandons (amd_plan)
    amd_off_max: float = 1.0  # most calls placed with AMD off (0: AMD on every call)
    connect_limit_seconds: float = 2.0
    min_history_answers: float = 34.0
    # hard caps (0 = unlimited for trunk_channels / calls_per_second)
    max_lines_per_agent: float = 5.0
    trunk_channels: int = 0
    calls_per_second: float = 10.0
    # progressive / preview / robot / baselines
    lines_per_agent: float = 1.0
    preview_auto_dial_seconds: float = 10.0
    robot_concurrency: int = 30
    fixed_ratio: float = 2.0
    vicidial_max_level: float = 3.0
    vicidial_intensity: float = 0.0
    vicidial_start_level: float = 1.0
    # predictive model priors (used until enough own history exists)
    prior_human_rate: float = 0.15
    prior_weight_calls: float = 200.0
    prior_answer_mean_seconds: float = 11.0
    prior_answer_cv: float = 0.5
    prior_other_mean_seconds: float = 18.0
    prior_other_cv: float = 0.6
    prior_talk_mean_seconds: float = 180.0
    prior_talk_cv: float = 1.2
    prior_wrap_mean_seconds: float = 30.0
    prior_wrap_cv: float = 0.5
    prior_weight_agents: float = 30.0
    half_life_calls: float = 400.0
    half_life_connects: float = 150.0
    aim_fraction: float = 0.75
    model_calibration_prior: float = 0.15
    calibration_gain: float = 0.2


# key → (kind, low, high, description of the expectation)
_RULES: dict[str, tuple[str, float, float, str]] = {
    "target_abandon_rate": ("float", 0.0, 0.2, "a fraction between 0 and 0.2"),
    "window_z": ("float", 0.0, 6.0, "a number between 0 and 6"),
    "amd_false_positive_rate": ("float", 0.0, 0.2, "a fraction between 0 and 0.2"),
    "fp_z": ("float", 0.0, 6.0, "a number between 0 and 6"),
    "amd_reserve": ("float", 0.0, 1.0, "a fraction between 0 and 1"),
    "amd_off_max": ("float", 0.0, 1.0, "a fraction between 0 and 1"),
    "connect_limit_seconds": ("float", 0.0, 60.0, "seconds between 0 and 60"),
    "min_history_answers": ("float", 0.0, 10000.0, "a number of answers between 0 and 10000"),
    "max_lines_per_agent": ("float", 1.0, 20.0, "a number between 1 and 20"),
    "trunk_channels": ("int", 0, 100000, "an integer >= 0 (0 = unlimited)"),
    "calls_per_second": ("float", 0.0, 1000.0, "a number between 0 and 1000 (0 = unlimited)"),
    "lines_per_agent": ("float", 1.0, 20.0, "a number between 1 and 20"),
    "preview_auto_dial_seconds": ("float", 0.0, 3600.0, "seconds between 0 and 3600 (0 = off)"),
    "robot_concurrency": ("int", 1, 100000, "an integer >= 1"),
    "fixed_ratio": ("float", 1.0, 20.0, "a number between 1 and 20"),
    "vicidial_max_level": ("float", 1.0, 20.0, "a number between 1 and 20"),
    "vicidial_intensity": ("float", -20.0, 20.0, "a number between -20 and 20"),
    "vicidial_start_level": ("float", 1.0, 20.0, "a number between 1 and 20"),
    "prior_human_rate": ("float", 0.001, 1.0, "a fraction between 0.001 and 1"),
    "prior_weight_calls": ("float", 1.0, 100000.0, "a number between 1 and 100000"),
    "prior_answer_mean_seconds": ("float", 0.5, 120.0, "seconds between 0.5 and 120"),
    "prior_answer_cv": ("float", 0.05, 5.0, "a number between 0.05 and 5"),
    "prior_other_mean_seconds": ("float", 0.5, 300.0, "seconds between 0.5 and 300"),
    "prior_other_cv": ("float", 0.05, 5.0, "a number between 0.05 and 5"),
    "prior_talk_mean_seconds": ("float", 1.0, 7200.0, "seconds between 1 and 7200"),
    "prior_talk_cv": ("float", 0.05, 5.0, "a number between 0.05 and 5"),
    "prior_wrap_mean_seconds": ("float", 0.0, 3600.0, "seconds between 0 and 3600"),
    "prior_wrap_cv": ("float", 0.05, 5.0, "a number between 0.05 and 5"),
    "prior_weight_agents": ("float", 1.0, 100000.0, "a number between 1 and 100000"),
    "half_life_calls": ("float", 10.0, 1e7, "a number of calls between 10 and 1e7"),
    "half_life_connects": ("float", 5.0, 1e7, "a number of connects between 5 and 1e7"),
    "aim_fraction": ("float", 0.1, 1.0, "a fraction between 0.1 and 1"),
    "model_calibration_prior": ("float", 0.01, 2.0, "a number between 0.01 and 2"),
    "calibration_gain": ("float", 0.0, 1.0, "a number between 0 and 1"),
}


def _fail(source: str, key: str, expected: str, got: Any) -> PacingConfigError:
    return PacingConfigError(f"{source}: pacing.{key}: expected {expected}, got {got!r}")


def parse_pacing(table: Mapping[str, Any], source: str = "<campaign>") -> PacingConfig:
    """Validate a ``[pacing]`` table (already parsed TOML) into a :class:`PacingConfig`."""
    known = {f.name for f in dataclasses.fields(PacingConfig)}
    values: dict[str, Any] = {}
    for key, raw in table.items():
        if key not in known:
            raise _fail(source, key, "one of " + ", ".join(sorted(known)), raw)
        values[key] = _check(source, key, raw)
    return PacingConfig(**values)


def _check(source: str, key: str, raw: Any) -> Any:
    if key == "mode":
        if raw not in MODES:
            raise _fail(source, key, "one of " + "|".join(MODES), raw)
        return raw
    if key == "ledger_windows_seconds":
        ok = (
            isinstance(raw, list)
            and 0 < len(raw) <= 8
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 60 for v in raw)
        )
        if not ok:
            raise _fail(source, key, "a list of 1-8 integer window lengths >= 60 seconds", raw)
        return tuple(sorted(set(raw)))
    kind, low, high, expected = _RULES[key]
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise _fail(source, key, expected, raw)
    if kind == "int" and not isinstance(raw, int):
        raise _fail(source, key, expected, raw)
    if not low <= raw <= high:
        raise _fail(source, key, expected, raw)
    return int(raw) if kind == "int" else float(raw)


def load_pacing(path: str | Path) -> PacingConfig:
    """Read the ``[pacing]`` table of a campaign TOML file (missing table → all defaults)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PacingConfigError(f"{path.name}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise PacingConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    table = data.get("pacing", {})
    if not isinstance(table, dict):
        raise PacingConfigError(f"{path.name}: pacing: expected a table, got {table!r}")
    return parse_pacing(table, path.name)


def with_overrides(
    cfg: PacingConfig, table: Mapping[str, Any], source: str = "<scenario>"
) -> PacingConfig:
    """Return ``cfg`` with the keys of ``table`` replaced (validated like ``parse_pacing``)."""
    checked = parse_pacing(table, source)
    changes = {k: getattr(checked, k) for k in table}
    return dataclasses.replace(cfg, **changes)
