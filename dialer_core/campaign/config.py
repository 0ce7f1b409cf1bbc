"""A campaign's TOML file: what to dial, how, and what to do after each result."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialer_core.callerid.config import CallerIdConfig, load_callerid
from dialer_core.compliance.config import load_compliance
from dialer_core.compliance.rules import ComplianceRules
from dialer_core.config_errors import ConfigError, parse_duration, reject_unknown, take
from dialer_core.names import NAME_RULE, name_problem
from dialer_core.pacing.config import PacingConfig, parse_pacing


@dataclass(frozen=True)
class CampaignConfig:
    name: str
    mode: str = "progressive"
    caller_id: str = ""
    ring_timeout: float = 30.0
    max_in_flight: int = 200  # trunk channels this campaign may hold
    lease: float = 600.0  # seconds a runner holds a contact before it can be taken over
    queue: str = "collectors"
    agent_wait: float = 2.0  # the 2-second rule: after this, an answered call is abandoned
    compliance: ComplianceRules = field(default_factory=ComplianceRules)
    callerid: CallerIdConfig = field(default_factory=CallerIdConfig)
    pacing: PacingConfig = field(default_factory=PacingConfig)
    raw: dict[str, Any] = field(default_factory=dict)  # every table, for the other sections


def parse_campaign(doc: dict[str, Any], source: str) -> CampaignConfig:
    """Validate a parsed campaign document; errors name ``source``, the key and the expectation."""
    camp = take(doc, "campaign", dict, {}, source, "")
    reject_unknown(camp, {"name"}, source, "campaign.")
    name = take(camp, "name", str, "", source, "campaign.")
    if name_problem(name):
        raise ConfigError(source, "campaign.name", f"a campaign name of {NAME_RULE}", name)
    pacing = parse_pacing(take(doc, "pacing", dict, {}, source, ""), source)
    dialing = take(doc, "dialing", dict, {}, source, "")
    reject_unknown(
        dialing,
        {"caller_id", "ring_timeout", "max_in_flight", "lease"},
        source,
        "dialing.",
    )
    ring_timeout = parse_duration(dialing.get("ring_timeout", 30), source, "dialing.ring_timeout")
    if not 5 <= ring_timeout <= 120:
        raise ConfigError(source, "dialing.ring_timeout", "between 5s and 120s", ring_timeout)
    max_in_flight = take(dialing, "max_in_flight", int, 200, source, "dialing.")
    if max_in_flight < 1:
        raise ConfigError(source, "dialing.max_in_flight", "an integer ≥ 1", max_in_flight)
    queue = take(doc, "queue", dict, {}, source, "")
    reject_unknown(queue, {"name", "agent_wait"}, source, "queue.")
    agent_wait = parse_duration(queue.get("agent_wait", 2), source, "queue.agent_wait")
    if not 0.5 <= agent_wait <= 10:
        raise ConfigError(source, "queue.agent_wait", "between 0.5s and 10s", agent_wait)
    compliance = load_compliance(take(doc, "compliance", dict, None, source, ""), source)
    callerid = load_callerid(take(doc, "callerid", dict, None, source, ""), source)
    return CampaignConfig(
        name=name,
        mode=pacing.mode,
        caller_id=take(dialing, "caller_id", str, "", source, "dialing."),
        ring_timeout=ring_timeout,
        max_in_flight=max_in_flight,
        lease=parse_duration(dialing.get("lease", 600), source, "dialing.lease"),
        queue=take(queue, "name", str, "collectors", source, "queue."),
        agent_wait=agent_wait,
        compliance=compliance,
        callerid=callerid,
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
