"""Changing a running campaign's pacing target without restarting it.

Only keys a policy reads at every decision may change live: ``target_abandon_rate`` (predictive
and vicidial) and ``lines_per_agent`` (progressive, and predictive's floor). The campaign manager
hands them to the running policy as a ``SettingsObservation``; the policy keeps its estimators
and its abandonment ledger. Other keys need a stop and start.
"""

from __future__ import annotations

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
