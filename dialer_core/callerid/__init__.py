"""Caller ID: local-presence choice and number health (pure; the runner stores usage/outcomes)."""

from dialer_core.callerid.config import CallerIdConfig, load_callerid
from dialer_core.callerid.health import (
    Counts,
    Health,
    HealthRules,
    Status,
    number_health,
    pool_health,
)
from dialer_core.callerid.presence import (
    CallerIdChoice,
    CallerNumber,
    NoCallerId,
    choose_caller_id,
    presence_mismatch,
)

__all__ = [
    "CallerIdChoice",
    "CallerIdConfig",
    "CallerNumber",
    "Counts",
    "Health",
    "HealthRules",
    "NoCallerId",
    "Status",
    "choose_caller_id",
    "load_callerid",
    "number_health",
    "pool_health",
    "presence_mismatch",
]
