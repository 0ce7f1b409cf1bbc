"""From the facts of a finished call to its disposition (redials: dialer_core.compliance)."""

from __future__ import annotations

from pbx.model import Result


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
