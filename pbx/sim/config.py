"""Configuration of the simulated PBX: the ``[sim]`` TOML table as frozen dataclasses.

Every duration is in *simulated* seconds; the PBX sleeps ``seconds / time_scale`` of real time.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from pbx.sim.admin import AdminConfig
from pbx.sim.personas import PersonaMix, PersonaTuning

__all__ = [
    "AgentConfig",
    "CalleeConfig",
    "CalleeMix",
    "SimConfig",
    "SimConfigError",
    "load_sim_config",
]

BEHAVIOURS = ("stochastic", "last_digit")


class SimConfigError(ValueError):
    """A ``[sim]`` key has a wrong type or value; the message names file, key and expectation."""


@dataclass(frozen=True)
class CalleeMix:
    """Probabilities of each callee outcome (normalised, they need not sum to exactly 1)."""

    human: float = 0.42
    machine: float = 0.08
    busy: float = 0.10
    no_answer: float = 0.22
    unallocated: float = 0.05
    powered_off: float = 0.07
    congestion: float = 0.03
    rejected: float = 0.03

    def weights(self) -> list[tuple[str, float]]:
        """(outcome name, weight) pairs in a fixed order."""
        return [(f.name, float(getattr(self, f.name))) for f in fields(self)]

    @classmethod
    def only(cls, **weights: float) -> CalleeMix:
        """A mix of just the outcomes named: every other weight is 0 (an unknown name raises)."""
        return cls(**{f.name: 0.0 for f in fields(cls)} | weights)


@dataclass(frozen=True)
class CalleeConfig:
    """The stochastic callee model."""

    mix: CalleeMix = field(default_factory=CalleeMix)
    ring_mean: float = 8.0  # seconds until answer (lognormal)
    ring_cv: float = 0.5
    fail_delay: float = 1.5  # seconds until busy / congestion / rejected is signalled
    talk_mean: float = 180.0  # seconds the callee stays on the line after answer (lognormal)
    talk_cv: float = 1.0
    machine_talk_mean: float = 25.0  # an answering machine's greeting + beep + silence
    dtmf: str = "random"  # "random" or a fixed digit sequence, one token per input request
    dtmf_probability: float = 0.7  # with "random": chance the callee presses anything
    dtmf_delay: float = 1.5  # seconds after an input request starts until the key press
    # The simulated AMD errs: a person judged MACHINE (false positive), a machine judged HUMAN
    # (false negative), drawn per call from its seeded generator.
    amd_false_positive: float = 0.0
    amd_false_negative: float = 0.0
    # Personas (pbx/sim/personas.py): weights in [sim.callees.personas]; all zero = plain model.
    personas: PersonaMix = field(default_factory=PersonaMix)
    promise_days_min: int = 1  # a promiser keys a date this many days after `today`...
    promise_days_max: int = 7
    promise_amount_min: int = 100  # ...and an amount in whole currency units in this range
    promise_amount_max: int = 1000
    hang_up_after_min: float = 3.0  # hang_up_mid_script: simulated seconds after answer
    hang_up_after_max: float = 15.0
    today: str = ""  # YYYY-MM-DD the personas count promise dates from; "" = the host's date

    def __post_init__(self) -> None:
        for rate in ("amd_false_positive", "amd_false_negative"):
            if not 0.0 <= getattr(self, rate) <= 1.0:
                raise SimConfigError(
                    f"sim.callees.{rate}: expected a share in [0, 1], got {getattr(self, rate)}"
                )
        for low, high in (
            ("promise_days_min", "promise_days_max"),
            ("promise_amount_min", "promise_amount_max"),
            ("hang_up_after_min", "hang_up_after_max"),
        ):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo < 0:
                raise SimConfigError(f"sim.callees.{low}: expected >= 0, got {lo}")
            if hi < lo:
                raise SimConfigError(f"sim.callees.{high}: expected >= {low} ({lo}), got {hi}")
        if self.promise_amount_min < 1:
            raise SimConfigError(
                f"sim.callees.promise_amount_min: expected >= 1, got {self.promise_amount_min}"
            )
        if self.today:
            try:
                dt.date.fromisoformat(self.today)
            except ValueError:
                raise SimConfigError(
                    f'sim.callees.today: expected a date YYYY-MM-DD or "", got {self.today!r}'
                ) from None

    @property
    def tuning(self) -> PersonaTuning:
        """The persona ranges as one value."""
        return PersonaTuning(
            (self.promise_days_min, self.promise_days_max),
            (self.promise_amount_min, self.promise_amount_max),
            (self.hang_up_after_min, self.hang_up_after_max),
        )

    @property
    def today_date(self) -> dt.date | None:
        """``today`` parsed, or None when it is empty."""
        return dt.date.fromisoformat(self.today) if self.today else None


@dataclass(frozen=True)
class AgentConfig:
    """Simulated members of one app_queue queue."""

    count: int = 5
    queue: str = "collectors"
    context: str = "sim-agents"
    answer_delay: float = 0.5  # seconds an agent's phone rings before they pick up
    talk_mean: float = 240.0  # the agent's own wish to end the conversation (lognormal)
    talk_cv: float = 0.8
    wrapuptime: float = 30.0  # the queue's wrapuptime / wrap-up-time: fixed, as the PBX applies it
    pause_share: float = 0.0  # chance that an agent takes a pause after wrap-up
    pause_mean: float = 120.0
    # Members reported logged in and free who never pick up (away from the desk, a dead phone):
    # a wrong agent count. The last ``phantom`` of ``count`` members; their phone rings until
    # the caller leaves the queue.
    phantom: int = 0


@dataclass(frozen=True)
class SimConfig:
    """Everything the simulated PBX needs; ``SimConfig()`` is a usable default."""

    seed: int = 1
    time_scale: float = 1.0
    behaviour: str = "stochastic"  # or "last_digit" (the recording rig's rules)
    username: str = "pacedial"
    secret: str = "pacedial"
    host: str = "127.0.0.1"
    ami_port: int = 0  # 0 = ephemeral
    login_failure_delay: float = 1.0  # real seconds (Asterisk's brute-force brake), not scaled
    prompt_seconds: float = 2.0  # length of every sound file the AGI script plays
    amd_seconds: float = 2.5  # how long AMD() listens before deciding
    agi_dead_timeout: float = 30.0  # real seconds the sim waits for a script after hangup
    recordings_dir: str = ""  # where MixMonitor / record_session write files ("" = nowhere)
    dialplan: Mapping[str, str] = field(default_factory=dict)  # context → AGI(...) data
    callees: CalleeConfig = field(default_factory=CalleeConfig)
    agents: AgentConfig = field(default_factory=AgentConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)  # what `pbx check` reads

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise SimConfigError(f"sim.time_scale: expected a number > 0, got {self.time_scale}")
        if self.behaviour not in BEHAVIOURS:
            raise SimConfigError(
                f"sim.behaviour: expected one of {', '.join(BEHAVIOURS)}, got {self.behaviour!r}"
            )
        if self.agents.count < 0:
            raise SimConfigError(f"sim.agents.count: expected >= 0, got {self.agents.count}")
        if not 0 <= self.agents.phantom <= self.agents.count:
            raise SimConfigError(
                f"sim.agents.phantom: expected 0 to sim.agents.count ({self.agents.count}), "
                f"got {self.agents.phantom}"
            )
        if self.agents.wrapuptime < 0:
            raise SimConfigError(
                f"sim.agents.wrapuptime: expected >= 0, got {self.agents.wrapuptime}"
            )
        if sum(w for _, w in self.callees.mix.weights()) <= 0:
            raise SimConfigError("sim.callees.mix: expected at least one positive probability")

    @classmethod
    def from_table(cls, table: Mapping[str, Any], source: str = "<sim>") -> SimConfig:
        """Build from a parsed ``[sim]`` table; ``source`` (a file name) prefixes errors."""
        data = dict(table)
        callees_t = dict(_sub(data.pop("callees", {}), source, "sim.callees"))
        mix = _build(
            CalleeMix,
            _sub(callees_t.pop("mix", {}), source, "sim.callees.mix"),
            source,
            "sim.callees.mix",
        )
        personas = _build(
            PersonaMix,
            _sub(callees_t.pop("personas", {}), source, "sim.callees.personas"),
            source,
            "sim.callees.personas",
        )
        callees = replace(
            _build(CalleeConfig, callees_t, source, "sim.callees"), mix=mix, personas=personas
        )
        agents = _build(
            AgentConfig, _sub(data.pop("agents", {}), source, "sim.agents"), source, "sim.agents"
        )
        dialplan = _sub(data.pop("dialplan", {}), source, "sim.dialplan")
        for ctx, value in dialplan.items():
            if not isinstance(value, str):
                raise SimConfigError(
                    f"{source}: sim.dialplan.{ctx}: expected an AGI URL string, got {value!r}"
                )
        base = _build(cls, data, source, "sim")
        try:
            return replace(base, dialplan=dict(dialplan), callees=callees, agents=agents)
        except SimConfigError as exc:
            raise SimConfigError(f"{source}: {exc}") from None


def load_sim_config(path: str | Path) -> SimConfig:
    """Read the ``[sim]`` table of a TOML file (an absent table gives the defaults)."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SimConfigError(f"{p}: invalid TOML: {exc}") from exc
    return SimConfig.from_table(_sub(doc.get("sim", {}), str(p), "sim"), source=str(p))


def _sub(value: object, source: str, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SimConfigError(f"{source}: {key}: expected a table, got {value!r}")
    return value


def _build(cls: type, table: Mapping[str, Any], source: str, prefix: str) -> Any:
    defaults = cls()
    known = [f.name for f in fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise SimConfigError(
                f"{source}: {prefix}.{key}: unknown key (expected one of {', '.join(known)})"
            )
        want = type(getattr(defaults, key))
        kwargs[key] = _coerce(value, want, source, f"{prefix}.{key}")
    try:
        return cls(**kwargs)
    except SimConfigError as exc:
        raise SimConfigError(f"{source}: {exc}") from None


def _coerce(value: Any, want: type, source: str, key: str) -> Any:
    if want is float and isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise SimConfigError(f"{source}: {key}: expected a number >= 0, got {value}")
        return float(value)
    if want is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if want is str and isinstance(value, str):
        return value
    raise SimConfigError(f"{source}: {key}: expected {want.__name__}, got {value!r}")
