"""From a call's end to a disposition and a redial time: pure functions of the facts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer_core.campaign.config import CampaignConfig
from pbx.model import Result

# Dispositions after which the number itself is dead: move to the case's next phone.
STOP_PHONE = {"invalid_number"}


def disposition_for(
    result: Result, answered: bool, handler_disposition: str, connected: bool
) -> str:
    """The disposition of a finished call.

    An answered call takes what its handler decided (agent_talked, abandoned, a robot
    outcome); if no handler reported, it is agent_talked when an agent connected, else
    answered. An unanswered call takes its PBX result (busy, no_answer, invalid_number…).
    """
    if answered:
        if handler_disposition:
            return handler_disposition
        return "agent_talked" if connected else "answered"
    return result.value


@dataclass(frozen=True)
class Redial:
    next_at: datetime | None
    stop_phone: bool
    reason: str


def decide_redial(
    campaign: CampaignConfig, disposition: str, attempt_no: int, now: datetime
) -> Redial:
    """When to call this case again, from the campaign's [redial] table and attempt cap."""
    stop_phone = disposition in STOP_PHONE
    delay = campaign.redial.get(disposition, campaign.redial["failed"])
    if stop_phone:
        # The case goes on with its next phone, after the 'failed' delay.
        delay = campaign.redial["failed"]
    if attempt_no >= campaign.max_attempts:
        return Redial(None, stop_phone, f"attempt cap {campaign.max_attempts} reached")
    if delay is None:
        return Redial(None, stop_phone, f"no redial after {disposition}")
    return Redial(now + timedelta(seconds=delay), stop_phone, disposition)
