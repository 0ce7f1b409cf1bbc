"""Config validation errors that name the file, the key and what was expected."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dialer_core.operator_errors import file_missing


class InputError(ValueError):
    """Bad input a person can fix (a config file, a CSV, a script); the message says where."""


@dataclass(frozen=True)
class RowError:
    """A CSV row that was not imported: where (line, column) and why."""

    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.reason}"


class ConfigError(InputError):
    """``campaign.toml: pacing.target: expected a fraction between 0 and 0.2, got 3``."""

    def __init__(self, source: str, key: str, expected: str, got: Any = None) -> None:
        got_text = "" if got is None else f", got {got!r}"
        super().__init__(f"{source}: {key}: expected {expected}{got_text}")
        self.source, self.key, self.expected = source, key, expected


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1, None: 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any, source: str, key: str) -> float:
    """'90s', '10m', '1.5h', '3d' or a number of seconds → seconds."""
    if isinstance(value, bool):
        raise ConfigError(source, key, "a duration such as 30s, 10m, 2h or 3d", value)
    if isinstance(value, int | float) and value >= 0:
        return float(value)
    m = _DURATION.match(str(value))
    if m is None:
        raise ConfigError(source, key, "a duration such as 30s, 10m, 2h or 3d", value)
    return float(m.group(1)) * _UNIT[m.group(2)]


def take(table: dict, key: str, kind: type | tuple, default: Any, source: str, prefix: str) -> Any:
    """``table[key]`` checked against ``kind`` (ints are accepted where floats are)."""
    if key not in table:
        return default
    value = table[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, bool) and bool not in kinds:
        raise ConfigError(source, f"{prefix}{key}", _kind_name(kinds), value)
    if not isinstance(value, kinds):
        raise ConfigError(source, f"{prefix}{key}", _kind_name(kinds), value)
    return value


def reject_unknown(table: dict, known: set[str], source: str, prefix: str) -> None:
    """Unknown keys are typos until proven otherwise."""
    for key in table:
        if key not in known:
            raise ConfigError(
                source, f"{prefix}{key}", f"one of {', '.join(sorted(known))}", "an unknown key"
            )


def _kind_name(kinds: tuple) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """A TOML file's document. A missing or unreadable file is FileMissing; bytes that are not
    UTF-8 or TOML that does not parse are a ConfigError naming the line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise file_missing(str(path), exc, what) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            str(path),
            f"(line {line})",
            "UTF-8 text (save the file as UTF-8; it looks like another encoding)",
        ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "(syntax)", f"valid TOML ({exc})") from exc
