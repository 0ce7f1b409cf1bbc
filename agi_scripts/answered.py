"""The answered-call entry point: find the attempt by call id, route it, report the outcome."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from agi_scripts.queue import hand_to_agent
from dialer_core.campaign.registry import CallRegistry
from pbx.session import CallerHungUp, CallSession

log = logging.getLogger(__name__)


def make_answered_handler(registry: CallRegistry) -> Callable[[CallSession], Awaitable[None]]:
    """A handler for the FastAGI / outbound-ESL server bound to this process's live calls."""

    async def handle(session: CallSession) -> None:
        call = registry.get(session.call_id)
        if call is None:
            log.warning(
                "answered call %s is not one of ours (or already closed): hanging up",
                session.call_id,
            )
            await session.hangup()
            return
        sink, campaign = call.sink, call.campaign
        disposition, detail = "answered", {}
        try:
            sink.queue_wait_started(call.call_id)
            outcome = await hand_to_agent(
                session, campaign.queue, campaign.agent_wait, campaign.compliance.abandon.prompt
            )
            if outcome.abandoned:
                disposition = "abandoned"
                await sink.abandoned(call.call_id)
            else:
                disposition = "agent_talked"
        except CallerHungUp:
            detail = {"hung_up_in": "queue"}
            disposition = "answered"
        finally:
            await sink.handler_finished(call.call_id, disposition, detail)

    return handle
