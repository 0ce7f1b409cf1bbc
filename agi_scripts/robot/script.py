"""Robot scripts: TOML files in ``conf/robot/`` parsed into frozen nodes.

Parsing collects every problem it finds (``Problem`` names file, node and key) instead of
stopping at the first; graph-level checks live in ``check.py``.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agi_scripts.robot.template import TemplateError, template_fields
from dialer_core.config_errors import InputError

DTMF_KEYS = frozenset("0123456789*#")
LANGUAGES = frozenset({"zh", "en"})
TERMINAL_OUTCOMES = frozenset({"refused", "wrong_party", "third_party", "no_input", "completed"})
PROMPT_FIELDS = (
    "prompt",
    "retry_prompt",
    "invalid_prompt",
    "date_prompt",
    "amount_prompt",
    "confirm_prompt",
)

_MENU_KEYS = {
    "type",
    "prompt",
    "keys",
    "timeout",
    "retries",
    "retry_prompt",
    "invalid_prompt",
    "no_input",
}
# node type → (allowed keys, required keys)
NODE_SCHEMA: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "say": (frozenset({"type", "prompt", "next"}), frozenset({"prompt", "next"})),
    "disclosure": (frozenset({"type", "prompt", "next"}), frozenset({"prompt", "next"})),
    "identity": (
        frozenset(_MENU_KEYS | {"confirm"}),
        frozenset({"prompt", "keys", "confirm", "no_input"}),
    ),
    "menu": (frozenset(_MENU_KEYS), frozenset({"prompt", "keys", "no_input"})),
    "ptp": (
        frozenset(
            {
                "type",
                "date_prompt",
                "amount_prompt",
                "confirm_prompt",
                "invalid_prompt",
                "confirm",
                "timeout",
                "retries",
                "max_days",
                "next",
                "no_input",
            }
        ),
        frozenset({"date_prompt", "amount_prompt", "next", "no_input"}),
    ),
    "transfer": (
        frozenset({"type", "prompt", "queue", "timeout", "on_fail"}),
        frozenset({"on_fail"}),
    ),
    "hangup": (frozenset({"type", "prompt", "outcome"}), frozenset({"outcome"})),
}
SCRIPT_KEYS = frozenset(
    {"name", "language", "voice", "start", "transfer_queue", "max_steps", "global_keys"}
)
TOP_KEYS = frozenset({"script", "nodes", "recordings"})
DEFAULT_TIMEOUT = {"transfer": 20.0}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a script file."""

    file: str
    node: str | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"node {self.node}: " if self.node else ""
        return f"{self.file}: {where}{self.key}: {self.message}"


class ScriptError(InputError):
    """A script failed to load; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Node:
    """One step of a dialog. Which fields matter depends on ``type`` (see ``NODE_SCHEMA``)."""

    name: str
    type: str
    prompt: str = ""
    next: str | None = None
    keys: Mapping[str, str] = field(default_factory=dict)
    confirm: str | None = None
    timeout: float = 5.0
    retries: int = 2
    retry_prompt: str = ""
    invalid_prompt: str = ""
    no_input: str | None = None
    date_prompt: str = ""
    amount_prompt: str = ""
    confirm_prompt: str = ""
    max_days: int = 30
    queue: str | None = None
    on_fail: str | None = None
    outcome: str | None = None

    def prompts(self) -> dict[str, str]:
        """Non-empty prompt texts of this node by field name."""
        return {f: getattr(self, f) for f in PROMPT_FIELDS if getattr(self, f)}

    def edges(self) -> list[tuple[str, str]]:
        """(key, target node) for every way out of this node."""
        out = [(f"keys.{k}", v) for k, v in self.keys.items()]
        for attr in ("next", "no_input", "on_fail"):
            target = getattr(self, attr)
            if target is not None:
                out.append((attr, target))
        return out


@dataclass(frozen=True)
class Script:
    """A parsed robot script."""

    path: str
    name: str
    language: str
    voice: str
    start: str
    nodes: Mapping[str, Node]
    transfer_queue: str | None = None
    max_steps: int = 60
    global_keys: Mapping[str, str] = field(default_factory=dict)
    recordings: Mapping[str, Path] = field(default_factory=dict)

    def fixed_prompts(self) -> list[tuple[str, str]]:
        """(prompt key, text) of every prompt without template fields, to render ahead."""
        out = []
        for node in self.nodes.values():
            for attr, text in node.prompts().items():
                try:
                    if not template_fields(text):
                        out.append(
                            (f"{node.name}.{attr}", text.replace("{{", "{").replace("}}", "}"))
                        )
                except TemplateError:
                    continue
        return out


class _Collector:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(self, node: str | None, key: str, message: str) -> None:
        self.problems.append(Problem(self.file, node, key, message))


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _number(c: _Collector, node: str, key: str, value: Any, low: float, high: float) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not low < value <= high:
        c.add(node, key, f"expected seconds in ({low:g}, {high:g}], got {_describe(value)}")
        return low + 1
    return float(value)


def _integer(c: _Collector, node: str | None, key: str, value: Any, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        c.add(node, key, f"expected an integer in [{low}, {high}], got {_describe(value)}")
        return low
    return value


def _text(c: _Collector, node: str | None, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        c.add(node, key, f"expected a non-empty string, got {_describe(value)}")
        return ""
    return value


def _dtmf(c: _Collector, node: str | None, key: str, value: Any) -> str | None:
    if not isinstance(value, str) or len(value) != 1 or value not in DTMF_KEYS:
        c.add(node, key, f"bad DTMF key {value!r}: expected one of 0-9 * #")
        return None
    return value


def _key_map(c: _Collector, node: str | None, key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        c.add(node, key, f"expected a table of DTMF key = node name, got {_describe(value)}")
        return {}
    out = {}
    for digit, target in value.items():
        if _dtmf(c, node, f"{key}.{digit}", digit) is None:
            continue
        name = _text(c, node, f"{key}.{digit}", target)
        if name:
            out[digit] = name
    return out


def _parse_node(c: _Collector, name: str, raw: Any) -> Node | None:
    if not isinstance(raw, dict):
        c.add(name, "nodes", f"expected a table [nodes.{name}], got {_describe(raw)}")
        return None
    kind = raw.get("type")
    if kind not in NODE_SCHEMA:
        known = ", ".join(sorted(NODE_SCHEMA))
        c.add(name, "type", f"unknown node type {kind!r}: expected one of {known}")
        return None
    allowed, required = NODE_SCHEMA[kind]
    for key in raw:
        if key not in allowed:
            c.add(
                name,
                key,
                f"unknown field for a {kind} node (allowed: {', '.join(sorted(allowed))})",
            )
    for key in sorted(required - raw.keys()):
        what = "missing prompt" if key.endswith("prompt") else "missing required field"
        c.add(name, key, f"{what} for a {kind} node")
    values: dict[str, Any] = {"name": name, "type": kind}
    if kind in DEFAULT_TIMEOUT:
        values["timeout"] = DEFAULT_TIMEOUT[kind]
    if kind == "ptp":
        values["confirm"] = "1"  # key accepting the read-back of the promise
    for key, value in raw.items():
        if key not in allowed or key == "type":
            continue
        if key.endswith("prompt") or key in ("next", "no_input", "on_fail", "queue"):
            values[key] = _text(c, name, key, value)
        elif key == "keys":
            values[key] = _key_map(c, name, key, value)
        elif key == "confirm":
            values[key] = _dtmf(c, name, key, value)
        elif key == "timeout":
            values[key] = _number(c, name, key, value, 0, 600 if kind == "transfer" else 60)
        elif key == "retries":
            values[key] = _integer(c, name, key, value, 0, 5)
        elif key == "max_days":
            values[key] = _integer(c, name, key, value, 1, 365)
        elif key == "outcome":
            if value not in TERMINAL_OUTCOMES:
                known = ", ".join(sorted(TERMINAL_OUTCOMES))
                c.add(name, key, f"unknown outcome {value!r}: expected one of {known}")
            else:
                values[key] = value
    node = Node(**values)
    if kind == "identity" and node.confirm is not None and node.confirm not in node.keys:
        c.add(name, "confirm", f"confirm key {node.confirm!r} is not one of the node's keys")
    return node


def parse_script(
    data: Mapping[str, Any], file: str, base_dir: Path | None = None
) -> tuple[Script | None, list[Problem]]:
    """Build a ``Script`` from decoded TOML, returning it with every field-level problem."""
    c = _Collector(file)
    for key in data:
        if key not in TOP_KEYS:
            c.add(None, key, f"unknown top-level table (allowed: {', '.join(sorted(TOP_KEYS))})")
    head = data.get("script")
    if not isinstance(head, dict):
        c.add(None, "script", "missing [script] table")
        head = {}
    for key in head:
        if key not in SCRIPT_KEYS:
            c.add(
                None, f"script.{key}", f"unknown field (allowed: {', '.join(sorted(SCRIPT_KEYS))})"
            )
    name = _text(c, None, "script.name", head.get("name"))
    language = head.get("language")
    if language not in LANGUAGES:
        c.add(None, "script.language", f"expected one of zh, en, got {language!r}")
        language = "zh"
    voice = _text(c, None, "script.voice", head.get("voice"))
    start = _text(c, None, "script.start", head.get("start"))
    queue = head.get("transfer_queue")
    if queue is not None:
        queue = _text(c, None, "script.transfer_queue", queue) or None
    max_steps = _integer(c, None, "script.max_steps", head.get("max_steps", 60), 5, 1000)
    global_keys = _key_map(c, None, "script.global_keys", head.get("global_keys", {}))

    raw_nodes = data.get("nodes")
    nodes: dict[str, Node] = {}
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        c.add(None, "nodes", "missing [nodes.<name>] tables")
    else:
        for node_name, raw in raw_nodes.items():
            node = _parse_node(c, node_name, raw)
            if node is not None:
                nodes[node_name] = node

    recordings: dict[str, Path] = {}
    raw_rec = data.get("recordings", {})
    if not isinstance(raw_rec, dict):
        c.add(
            None,
            "recordings",
            f"expected a table of prompt key = wav path, got {_describe(raw_rec)}",
        )
        raw_rec = {}
    for key, value in raw_rec.items():
        path_text = _text(c, None, f"recordings.{key}", value)
        if path_text:
            path = Path(path_text)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            recordings[key] = path
    script = Script(
        path=file,
        name=name,
        language=language,
        voice=voice,
        start=start,
        nodes=nodes,
        transfer_queue=queue,
        max_steps=max_steps,
        global_keys=global_keys,
        recordings=recordings,
    )
    return script, c.problems


def read_script(path: str | Path) -> tuple[Script | None, list[Problem]]:
    """Read and parse a script file; a TOML syntax error is one problem naming its line."""
    path = Path(path)
    file = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, [Problem(file, None, "file", f"cannot read: {exc.strerror or exc}")]
    except UnicodeDecodeError as exc:
        return None, [Problem(file, None, "file", f"not UTF-8 at byte {exc.start}")]
    except tomllib.TOMLDecodeError as exc:
        return None, [Problem(file, None, "toml", str(exc))]
    return parse_script(data, file, path.parent)
