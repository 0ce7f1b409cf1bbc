"""Preview-mode routes: the next case an agent will dial, dial now, or skip it for later.

The runner leases due cases in (priority, next attempt) order; ``next`` shows the first case in
that order that nobody holds, so the case on screen is the one the agent's "dial" launches
unless another agent dials first. "Dial" asks the campaign's preview policy to launch for that
agent now (its timer would otherwise launch after ``preview_auto_dial_seconds``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from dialer_core.api.context import ctx_of, name_out, phone_out
from dialer_core.api.errors import ApiError, field, read_json_object
from dialer_core.api.table import CONTROL, READ, Route
from dialer_core.campaign.manager import AgentNotHere, NotPreview
from dialer_core.store.preview import next_preview_case, skip_case

TAG = "preview"


async def next_case(request: web.Request) -> web.Response:
    return web.json_response(await preview_doc(request, request.match_info["name"]))


async def preview_doc(request: web.Request, name: str) -> dict[str, Any]:
    """The campaign's mode, its auto-dial delay and the case on screen (None: none due)."""
    ctx = ctx_of(request)
    campaign_id = await ctx.campaign_id(name)
    _, config = await ctx.manager.load(name)
    now = datetime.fromtimestamp(ctx.clock(), UTC)
    async with ctx.pool.acquire() as conn:
        row = await next_preview_case(conn, campaign_id, now)
    case = None
    if row is not None:
        case = {
            "case_id": row["case_id"],
            "external_id": row["external_id"],
            "debtor_name": name_out(request, row["debtor_name"]),
            "amount_minor": row["amount_minor"],
            "currency": row["currency"],
            "days_past_due": row["days_past_due"],
            "product": row["product"],
            "phone": phone_out(request, row["e164"]),
            "province": row["province"],
            "city": row["city"],
            "previous_attempts": row["attempts"],
        }
    return {
        "campaign": name,
        "mode": config.mode,
        "auto_dial_seconds": config.pacing.preview_auto_dial_seconds,
        "case": case,
    }


async def dial(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    name = request.match_info["name"]
    await ctx.campaign_id(name)
    doc = await read_json_object(request)
    agent = field(doc, "agent", str)
    ctx.running(name)  # a 409 when the campaign does not run here
    try:
        ctx.manager.request_preview(name, agent)
    except NotPreview as exc:
        raise ApiError(409, "not_preview", str(exc)) from None
    except AgentNotHere as exc:
        raise ApiError(404, "agent_not_found", exc.args[0]) from None
    return web.json_response({"campaign": name, "agent": agent, "requested": True}, status=202)


async def skip(request: web.Request) -> web.Response:
    return web.json_response(await skip_case_in(request, request.match_info["name"]))


async def skip_case_in(request: web.Request, name: str) -> dict[str, Any]:
    """Put the body's ``case_id`` back for ``minutes`` (60) in campaign ``name``."""
    ctx = ctx_of(request)
    campaign_id = await ctx.campaign_id(name)
    doc = await read_json_object(request)
    case_id = field(doc, "case_id", int)
    minutes = field(doc, "minutes", int, required=False, default=60)
    if not 1 <= minutes <= 7 * 24 * 60:
        raise ApiError(400, "invalid_field", f"body.minutes: expected 1..10080, got {minutes}")
    until = datetime.fromtimestamp(ctx.clock(), UTC) + timedelta(minutes=minutes)
    async with ctx.pool.acquire() as conn:
        done = await skip_case(conn, case_id, campaign_id, until)
    if done is None:
        raise ApiError(409, "case_unavailable", f"case {case_id} is not waiting in this campaign")
    return {"case_id": case_id, "next_attempt_at": until.isoformat()}


def routes() -> list[Route]:
    n = "/api/campaigns/{name}/preview"
    return [
        Route("GET", n + "/next", next_case, READ, "The next case to preview (not leased)", TAG),
        Route(
            "POST",
            n + "/dial",
            dial,
            CONTROL,
            "Dial now for an idle agent (preview mode)",
            TAG,
            body=("application/json",),
            status=202,
        ),
        Route(
            "POST",
            n + "/skip",
            skip,
            CONTROL,
            "Put a case back for N minutes (60)",
            TAG,
            body=("application/json",),
        ),
    ]
