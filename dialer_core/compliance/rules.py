"""The complete rule set of one campaign, as built by ``load_compliance``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dialer_core.compliance.caps import CapRules
from dialer_core.compliance.hours import WeeklyHours
from dialer_core.compliance.redial import DEFAULT_REDIAL, RedialRules
from dialer_core.compliance.windows import WindowRules


@dataclass(frozen=True)
class AbandonRules:
    """Abandonment: the target rate over a rolling window and, when ``calendar_zone`` is set,
    over each calendar day (midnight to midnight there: Ofcom's 24 h), and the safe-harbor
    prompt. The audit judges every window whatever its number of live calls."""

    target: float = 0.03
    window_hours: float = 24.0 * 30
    calendar_zone: str = ""
    prompt: str = "safe-harbor"


@dataclass(frozen=True)
class ComplianceRules:
    """Window, caps, redial and abandonment rules of one campaign."""

    window: WindowRules = field(
        default_factory=lambda: WindowRules(WeeklyHours.every_day("08:00-21:00"))
    )
    caps: CapRules = field(default_factory=CapRules)
    redial: RedialRules = field(default_factory=lambda: RedialRules(DEFAULT_REDIAL))
    abandon: AbandonRules = field(default_factory=AbandonRules)
    preset: str = ""
    lawful: dict[str, Any] = field(default_factory=dict)  # the preset's floors (lawful.py)
    lab_override: bool = False  # a test lab: the floors are logged, not enforced
