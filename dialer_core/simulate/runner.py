"""``run_simulation``: one scenario, one campaign pacing config, one policy, one seed."""

from __future__ import annotations

import time

from dialer_core.pacing.baselines import BinomialTextbook
from dialer_core.pacing.config import PacingConfig, with_overrides
from dialer_core.pacing.factory import make_caps, make_policy
from dialer_core.pacing.interface import PacingPolicy
from dialer_core.simulate.engine import Simulator
from dialer_core.simulate.metrics import SimResult, summarise
from dialer_core.simulate.scenario import Scenario

# bench/compare names → (mode, overrides of the campaign config)
POLICY_ALIASES: dict[str, tuple[str, dict[str, float]]] = {
    "progressive": ("progressive", {}),
    "progressive1": ("progressive", {"lines_per_agent": 1.0}),
    "fixed_ratio": ("fixed_ratio", {}),
    "fixed2": ("fixed_ratio", {"fixed_ratio": 2.0}),
    "vicidial": ("vicidial", {}),
    "binomial": ("binomial", {}),
    "predictive": ("predictive", {}),
    "preview": ("preview", {}),
    "robot": ("robot", {}),
}


def effective_config(campaign: PacingConfig, scenario: Scenario) -> PacingConfig:
    """The campaign config with the scenario's site-fact overrides applied."""
    if not scenario.pacing:
        return campaign
    return with_overrides(campaign, scenario.pacing, f"scenario {scenario.name} [pacing]")


def run_simulation(
    campaign_cfg: PacingConfig, scenario: Scenario, policy_name: str | None = None, seed: int = 0
) -> SimResult:
    """Simulate one shift of ``scenario`` paced by ``policy_name`` (default: campaign mode)."""
    cfg = effective_config(campaign_cfg, scenario)
    name = policy_name or cfg.mode
    if name not in POLICY_ALIASES:
        raise ValueError(f"unknown policy {name!r}; expected one of {', '.join(POLICY_ALIASES)}")
    mode, overrides = POLICY_ALIASES[name]
    if overrides:
        cfg = with_overrides(cfg, overrides, f"policy {name}")
    baseline = name in ("vicidial", "fixed_ratio", "fixed2")  # compared as published, unbraked
    if mode == "binomial":
        policy: PacingPolicy = BinomialTextbook(cfg.target_abandon_rate, make_caps(cfg))
    else:
        policy = make_policy(mode, cfg, seed, brake=not baseline)
    started = time.perf_counter()
    sim = Simulator(scenario, policy, seed, robot=mode == "robot")
    trace = sim.run()
    fallback = float(getattr(policy, "fallback_share", 0.0))
    result = summarise(
        trace, scenario.name, name, seed, sim.shift_end, cfg.target_abandon_rate, fallback
    )
    wall = time.perf_counter() - started
    return SimResult(**{**result.__dict__, "wall_seconds": wall})
