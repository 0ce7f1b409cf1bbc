"""Hand an answered call to the human agent queue, under the 2-second rule."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from pbx.session import CallerHungUp, CallSession


@dataclass(frozen=True)
class QueueOutcome:
    connected: bool  # an agent took the call within the limit (and the talk is now over)
    abandoned: bool  # no agent within the limit: safe-harbor message played, call dropped


async def hand_to_agent(
    session: CallSession, queue: str, agent_wait: float, safe_harbor_prompt: str
) -> QueueOutcome:
    """Offer the call to ``queue`` for ``agent_wait`` seconds; on timeout play the safe harbor.

    The safe-harbor message (who called, a number to call back or opt out) is the law's
    condition for a dropped call (47 CFR 64.1200, Ofcom): it is played on every abandon.
    """
    if await session.enqueue(queue, agent_wait):
        return QueueOutcome(connected=True, abandoned=False)
    with contextlib.suppress(CallerHungUp):
        await session.play(safe_harbor_prompt)
        await session.hangup()
    return QueueOutcome(connected=False, abandoned=True)
