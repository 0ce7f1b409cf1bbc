"""A campaign's TOML file: what to dial, how, and what to do after each result."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialer_core.config_errors import ConfigError, parse_duration, reject_unknown, take
from dialer_core.pacing.config import PacingConfig, parse_pacing

DISPOSITIONS = (
    "answered",
    "agent_talked",
    "busy",
    "no_answer",
    "invalid_number",
    "powered_off",
    "rejected",
    "congestion",
    "machine",
    "abandoned",
    "failed",
    "lost",
)
# Redial delay by disposition (seconds; None = never again). Overridden by [redial].
DEFAULT_REDIAL: dict[str, float | None] = {
    "answered": None,
    "agent_talked": None,
    "busy": 600,
    "no_answer": 3600,
    "invalid_number": None,
    "powered_off": 7200,
    "rejected": 14400,
    "congestion": 120,
    "machine": 7200,
    "abandoned": 72 * 3600,
    "failed": 300,
    "lost": 300,
}


@dataclass(frozen=True)
class CampaignConfig:
    name: str
    mode: str = "progressive"
    caller_id: str = ""
    ring_timeout: float = 30.0
    max_in_flight: int = 200  # trunk channels this campaign may hold
    max_attempts: int = 10  # per case, then the case is finished
    lease: float = 600.0  # seconds a runner holds a contact before it can be taken over
    queue: str = "collectors"
    agent_wait: float = 2.0  # the 2-second rule: after this, an answered call is abandoned
    safe_harbor_prompt: str = "pacedial/safe-harbor"
    redial: dict[str, float | None] = field(default_factory=lambda: dict(DEFAULT_REDIAL))
    pacing: PacingConfig = field(default_factory=PacingConfig)
    raw: dict[str, Any] = field(default_factory=dict)  # every table, for the other sections


def parse_campaign(doc: dict[str, Any], source: str) -> CampaignConfig:
    """Validate a parsed campaign document; errors name ``source``, the key and the expectation."""
    camp = take(doc, "campaign", dict, {}, source, "")
    reject_unknown(camp, {"name"}, source, "campaign.")
    name = take(camp, "name", str, "", source, "campaign.")
    if not name:
        raise ConfigError(source, "campaign.name", "a non-empty campaign name")
    pacing = parse_pacing(take(doc, "pacing", dict, {}, source, ""), source)
    dialing = take(doc, "dialing", dict, {}, source, "")
    reject_unknown(
        dialing,
        {"caller_id", "ring_timeout", "max_in_flight", "max_attempts", "lease"},
        source,
        "dialing.",
    )
    ring_timeout = parse_duration(dialing.get("ring_timeout", 30), source, "dialing.ring_timeout")
    if not 5 <= ring_timeout <= 120:
        raise ConfigError(source, "dialing.ring_timeout", "between 5s and 120s", ring_timeout)
    max_in_flight = take(dialing, "max_in_flight", int, 200, source, "dialing.")
    max_attempts = take(dialing, "max_attempts", int, 10, source, "dialing.")
    for key, value in (("max_in_flight", max_in_flight), ("max_attempts", max_attempts)):
        if value < 1:
            raise ConfigError(source, f"dialing.{key}", "an integer ≥ 1", value)
    queue = take(doc, "queue", dict, {}, source, "")
    reject_unknown(queue, {"name", "agent_wait", "safe_harbor_prompt"}, source, "queue.")
    agent_wait = parse_duration(queue.get("agent_wait", 2), source, "queue.agent_wait")
    if not 0.5 <= agent_wait <= 10:
        raise ConfigError(source, "queue.agent_wait", "between 0.5s and 10s", agent_wait)
    redial = dict(DEFAULT_REDIAL)
    for key, value in take(doc, "redial", dict, {}, source, "").items():
        if key not in DEFAULT_REDIAL:
            raise ConfigError(source, f"redial.{key}", f"a disposition: {', '.join(DISPOSITIONS)}")
        redial[key] = None if value == "never" else parse_duration(value, source, f"redial.{key}")
    return CampaignConfig(
        name=name,
        mode=pacing.mode,
        caller_id=take(dialing, "caller_id", str, "", source, "dialing."),
        ring_timeout=ring_timeout,
        max_in_flight=max_in_flight,
        max_attempts=max_attempts,
        lease=parse_duration(dialing.get("lease", 600), source, "dialing.lease"),
        queue=take(queue, "name", str, "collectors", source, "queue."),
        agent_wait=agent_wait,
        safe_harbor_prompt=take(
            queue, "safe_harbor_prompt", str, "pacedial/safe-harbor", source, "queue."
        ),
        redial=redial,
        pacing=pacing,
        raw=doc,
    )


def load_campaign(path: str | Path) -> CampaignConfig:
    """Read and validate a campaign TOML file."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(str(path), "(file)", "an existing campaign TOML file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "(syntax)", f"valid TOML ({exc})") from exc
    return parse_campaign(doc, str(path))
