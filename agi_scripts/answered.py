"""The answered-call entry point: find the attempt by call id, route it, report the outcome.

Order on every answered call: start the recording (if the campaign records), answering-machine
detection (if enabled), then the campaign's routing strategy sends the call to the robot or to
the human queue (2-second rule, safe-harbor message on a drop).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from agi_scripts.handling import AMD_VARIABLE, CallHandling
from agi_scripts.queue import agent_window, hand_to_agent
from agi_scripts.registry import CallRegistry, LiveCall
from agi_scripts.robot import CaseInfo, run_robot
from agi_scripts.router import CallContext, RouteDecision, route
from pbx.session import CallerHungUp, CallSession

log = logging.getLogger(__name__)
DEFAULT_ZONE = "Asia/Shanghai"
# Robot outcomes whose name differs from the attempt disposition.
_ROBOT_DISPOSITION = {"completed": "done"}


def _zone(call: LiveCall) -> str:
    from dialer_core.compliance.region import ZoneUnknown, region_of

    region = region_of(call.contact.e164)
    if isinstance(region, ZoneUnknown) or region.tz is None:
        return DEFAULT_ZONE
    return region.tz


def _decision(call: LiveCall, handling: CallHandling, now: datetime, zone: str) -> RouteDecision:
    if handling.strategy is None:
        return RouteDecision("queue", None, call.campaign.queue, "no [routing]: human queue")
    c = call.contact
    ctx = CallContext(
        case_id=str(c.case_id),
        province=c.province,
        city=c.city,
        days_past_due=c.days_past_due,
        amount_owed_minor=c.amount_minor,
        product=c.product,
        attempt=c.attempt_no,
        timezone=zone,
    )
    return route(ctx, handling.strategy, now)


def _case_info(call: LiveCall, handling: CallHandling, today: date) -> CaseInfo:
    c = call.contact
    return CaseInfo(
        case_id=c.external_id,
        name=c.debtor_name,
        amount_owed_minor=c.amount_minor,
        due_date=c.due_date or today - timedelta(days=c.days_past_due),
        repayment_channel=handling.repayment_channel,
        currency=c.currency,
        product=c.product,
        days_past_due=c.days_past_due,
    )


async def _detect_machine(
    session: CallSession, call: LiveCall, handling: CallHandling
) -> float | None:
    """Run AMD; the clock at the verdict, or None if the call was a machine and has been dealt
    with (caller gone)."""
    status, cause = await session.detect_machine()
    heard = call.sink.clock()
    machine = status == "MACHINE" and handling.amd.action != "human"
    await call.sink.amd_decided(
        call.call_id, status, cause, handling.amd.action if status == "MACHINE" else "human"
    )
    if status == "HANGUP":
        raise CallerHungUp(f"call {call.call_id}: hung up during answering-machine detection")
    if not machine:
        return heard
    if handling.amd.action == "message":
        await session.play(handling.amd.message_prompt)
    await session.hangup()
    return None


async def _amd_wanted(session: CallSession) -> bool:
    """Whether AMD runs on this call: the pacing policy may have turned it off on the Originate
    (channel variable ``PACEDIAL_AMD=off``); the answer then goes to an agent, who disposes of
    a machine, and no person can be hung up on as one."""
    return (await session.get_variable(AMD_VARIABLE) or "on").lower() != "off"


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
        sink, campaign, handling = call.sink, call.campaign, call.handling
        sink.handler_started(call.call_id)
        disposition, detail = "answered", {}
        stage = "start"
        heard = sink.clock()  # the answer: the greeting's end when AMD is off
        try:
            if handling.record:
                stage = "recording"
                path = await session.start_recording(call.call_id)
                await sink.recording_started(call.call_id, path)
            if handling.amd.enabled and await _amd_wanted(session):
                stage = "amd"
                verdict = await _detect_machine(session, call, handling)
                if verdict is None:
                    disposition = "machine"
                    return
                heard = verdict  # the 2 s run from the verdict: AMD time is not on top
            now = datetime.fromtimestamp(sink.clock(), UTC)
            zone = _zone(call)
            decision = _decision(call, handling, now, zone)
            detail["route"] = decision.rule
            if decision.action == "robot" and decision.script in handling.prompts:
                stage = "robot"
                sink.robot_started(call.call_id)
                disposition, robot_detail = await _run_robot(
                    session, call, handling, decision, now.astimezone(ZoneInfo(zone))
                )
                detail.update(robot_detail)
            else:
                stage = "queue"
                detail["handled_by"] = "human"
                sink.queue_wait_started(call.call_id)
                outcome = await hand_to_agent(
                    session,
                    decision.queue or campaign.queue,
                    agent_window(heard, sink.clock(), campaign.agent_wait),
                    handling.pbx_sound(campaign.compliance.abandon.prompt),
                )
                if outcome.interrupted:  # the PBX link broke: see hand_to_agent
                    detail["interrupted"] = "queue: PBX link lost"
                if outcome.abandoned:
                    disposition = "abandoned"
                    await sink.abandoned(call.call_id)
                elif outcome.interrupted and not outcome.connected:
                    disposition = ""  # the PBX's own report decides: an agent → agent_talked
                elif outcome.caller_left:
                    detail["hung_up_in"] = "queue"
                else:
                    disposition = "agent_talked"
        except CallerHungUp:
            detail["hung_up_in"] = stage
        finally:
            await sink.handler_finished(call.call_id, disposition, detail)

    return handle


async def _run_robot(
    session: CallSession,
    call: LiveCall,
    handling: CallHandling,
    decision: RouteDecision,
    local_now: datetime,
) -> tuple[str, dict[str, Any]]:
    script = handling.scripts[decision.script]
    outcome = await run_robot(
        session,
        script,
        _case_info(call, handling, local_now.date()),
        handling.prompts[decision.script],
        today=local_now.date(),
        transfer_queue=decision.queue,
    )
    detail: dict[str, Any] = {
        "handled_by": "robot",
        "script": script.name,
        "robot_outcome": outcome.outcome.value,
        "last_node": outcome.last_node,
    }
    if outcome.ptp_date is not None:
        detail["ptp_date"] = outcome.ptp_date.isoformat()
        detail["ptp_amount_minor"] = outcome.ptp_amount_minor
    value = outcome.outcome.value
    return _ROBOT_DISPOSITION.get(value, value), detail
