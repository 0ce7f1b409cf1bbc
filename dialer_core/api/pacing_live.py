"""Changing a running campaign's pacing target without restarting it.

Only keys a policy reads at every decision may change live: ``target_abandon_rate`` (predictive
and vicidial) and ``lines_per_agent`` (progressive, and predictive's floor). The policy keeps
its estimators and its abandonment ledger. Other keys need a stop and start.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dialer_core.pacing.config import PacingConfig, with_overrides

LIVE_KEYS = ("target_abandon_rate", "lines_per_agent")


def validated_change(current: PacingConfig, change: dict[str, Any], source: str) -> PacingConfig:
    """``current`` with ``change`` applied; raises ValueError naming a bad or frozen key."""
    if not change:
        raise ValueError(f"{source}: expected at least one of {', '.join(LIVE_KEYS)}")
    frozen = sorted(set(change) - set(LIVE_KEYS))
    if frozen:
        raise ValueError(
            f"{source}: pacing.{frozen[0]} cannot change while running; "
            f"live keys are {', '.join(LIVE_KEYS)} (edit the campaign and restart it)"
        )
    return with_overrides(current, change, source)


def apply_to_policy(policy: Any, cfg: PacingConfig) -> list[str]:
    """Push the live keys of ``cfg`` into a running policy; returns the attributes it set.

    Policies are plain objects that read these attributes at each ``decide``: predictive keeps
    its whole config in ``cfg``, progressive its ``lines_per_agent``, vicidial its ``target``.
    """
    changed = []
    if isinstance(getattr(policy, "cfg", None), PacingConfig):
        policy.cfg = dataclasses.replace(
            policy.cfg,
            target_abandon_rate=cfg.target_abandon_rate,
            lines_per_agent=cfg.lines_per_agent,
        )
        changed.append("cfg")
    if hasattr(policy, "lines_per_agent"):
        policy.lines_per_agent = cfg.lines_per_agent
        changed.append("lines_per_agent")
    if isinstance(getattr(policy, "target", None), float):
        policy.target = cfg.target_abandon_rate
        changed.append("target")
    return changed
