"""Hand an answered call to the human agent queue, under the 2-second rule."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from pbx.session import CallerHungUp, CallSession


@dataclass(frozen=True)
class QueueOutcome:
    connected: bool  # an agent took the call within the limit (and the talk is now over)
    abandoned: bool  # no agent within the limit: safe-harbor message played, call dropped
    caller_left: bool = False  # the callee hung up before the deadline: not an abandon
    interrupted: bool = False  # the PBX link broke (a crash): the PBX's own facts decide


def agent_window(heard: float, now: float, agent_wait: float) -> float:
    """Seconds an agent may still take the call at ``now``: the connect deadline is
    ``agent_wait`` (at most 2 s, the presets' floor) after ``heard``, the end of the greeting
    (the AMD verdict, or the answer when AMD is off). Time spent since then (detection
    round trips, routing) comes off the window; it is never added on top."""
    return max(0.0, heard + agent_wait - now)


async def hand_to_agent(
    session: CallSession, queue: str, agent_wait: float, safe_harbor_prompt: str
) -> QueueOutcome:
    """Offer the call to ``queue`` for ``agent_wait`` seconds (what is left of the 2 s after
    the end of the greeting, ``agent_window``); on timeout play the safe harbor at once. With
    nothing left (or less than the PBX's queue can wait), the safe harbor plays without
    queueing.

    The safe-harbor message (who called, a number to call back or opt out) is the law's
    condition for a dropped call (47 CFR 64.1200, Ofcom): it is played on every abandon. A
    callee who hangs up while waiting is not an abandon: Ofcom and the FCC count only calls the
    dialer failed to connect in time. Nor is a call whose PBX link broke (``interrupted``): the
    handler cannot tell a conversation cut by the crash from a caller still waiting.
    """
    if agent_wait > 0 and await session.enqueue(queue, agent_wait):
        return QueueOutcome(connected=True, abandoned=False, interrupted=session.link_lost)
    if session.link_lost:  # the PBX died mid-queue or mid-conversation: never an abandon here
        return QueueOutcome(connected=False, abandoned=False, interrupted=True)
    if session.hung_up:
        return QueueOutcome(connected=False, abandoned=False, caller_left=True)
    with contextlib.suppress(CallerHungUp):
        await session.play(safe_harbor_prompt)
        await session.hangup()
    return QueueOutcome(connected=False, abandoned=True)
