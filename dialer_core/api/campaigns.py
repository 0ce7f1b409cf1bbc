"""Campaign routes: list, create from TOML, get, start / pause / resume / stop, live pacing."""

from __future__ import annotations

import dataclasses
import logging

from aiohttp import web

from dialer_core.api.context import ctx_of
from dialer_core.api.errors import ApiError, read_json_object, read_toml_or_json
from dialer_core.api.pacing_live import LIVE_KEYS, validated_change
from dialer_core.api.table import CONTROL, READ, Param, Route
from dialer_core.campaign.config import parse_campaign
from dialer_core.campaign.manager import CampaignNotFound
from dialer_core.config_errors import ConfigError
from dialer_core.pacing.config import PacingConfigError
from dialer_core.store.campaigns import campaign_counts, set_campaign_config
from dialer_core.store.campaigns import campaign_id as find_id
from dialer_core.store.campaigns import list_campaigns as list_stored_campaigns

log = logging.getLogger(__name__)
TAG = "campaigns"


def _state(request: web.Request, name: str, db_state: str) -> str:
    rc = ctx_of(request).manager.running.get(name)
    return rc.state if rc is not None else db_state


async def list_campaigns(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    async with ctx.pool.acquire() as conn:
        rows = await list_stored_campaigns(conn)
    out = []
    for r in rows:
        rc = ctx.manager.running.get(r.name)
        out.append(
            {
                "name": r.name,
                "mode": r.mode,
                "state": _state(request, r.name, r.state),
                "running_here": rc is not None and not rc.task.done(),
                "scheduled_cases": r.scheduled,
                "created_at": r.created_at.isoformat(),
            }
        )
    return web.json_response({"campaigns": out})


async def create_campaign(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    doc = await read_toml_or_json(request)
    try:
        config = parse_campaign(doc, "request body")
    except (ConfigError, PacingConfigError, ValueError) as exc:
        raise ApiError(422, "invalid_campaign", str(exc)) from None
    replace = request.query.get("replace", "").lower() in ("1", "true", "yes")
    async with ctx.pool.acquire() as conn:
        exists = await find_id(conn, config.name)
    if exists is not None and not replace:
        raise ApiError(
            409, "campaign_exists", f"campaign {config.name!r} exists; add ?replace=true to replace"
        )
    campaign_id = await ctx.manager.create(config)
    log.info("campaign %s %s over the API", config.name, "replaced" if exists else "created")
    return web.json_response(
        {
            "id": campaign_id,
            "name": config.name,
            "mode": config.mode,
            "replaced": exists is not None,
        },
        status=200 if exists else 201,
    )


async def get_campaign(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    name = request.match_info["name"]
    try:
        campaign_id, config = await ctx.manager.load(name)
    except CampaignNotFound:
        raise ApiError(404, "campaign_not_found", f"no campaign named {name!r}") from None
    async with ctx.pool.acquire() as conn:
        counts = await campaign_counts(conn, campaign_id)
    rc = ctx.manager.running.get(name)
    live_config = rc.config if rc is not None else config
    body = {
        "id": campaign_id,
        "name": name,
        "mode": live_config.mode,
        "state": _state(request, name, counts.state),
        "cases": counts.cases,
        "scheduled_cases": counts.scheduled,
        "due_cases": counts.due,
        "pacing": dataclasses.asdict(live_config.pacing),
        "config": live_config.raw,
        "runner": None,
    }
    if rc is not None:
        st = rc.stats
        body["runner"] = {
            "in_flight": rc.in_flight,
            "launched": st.launched,
            "answered": st.answered,
            "connected": st.connected,
            "abandoned": st.abandoned,
            "finished": st.finished,
            "dispositions": st.dispositions,
        }
    return web.json_response(body)


async def _exists(request: web.Request) -> str:
    name = request.match_info["name"]
    await ctx_of(request).campaign_id(name)
    return name


async def start_campaign(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    name = await _exists(request)
    try:
        rc = await ctx.manager.start(name)
    except (ConfigError, PacingConfigError, ValueError) as exc:
        raise ApiError(422, "invalid_campaign", str(exc)) from None
    return web.json_response({"name": name, "state": rc.state})


async def _switch(request: web.Request, paused: bool) -> web.Response:
    ctx = ctx_of(request)
    name = await _exists(request)
    ctx.running(name)
    await (ctx.manager.pause(name) if paused else ctx.manager.resume(name))
    return web.json_response({"name": name, "state": ctx.manager.get(name).state})


async def pause_campaign(request: web.Request) -> web.Response:
    return await _switch(request, paused=True)


async def resume_campaign(request: web.Request) -> web.Response:
    return await _switch(request, paused=False)


async def stop_campaign(request: web.Request) -> web.Response:
    """Stop launching now; calls in flight finish in the background (state 'stopping')."""
    ctx = ctx_of(request)
    name = await _exists(request)
    rc = ctx.running(name)
    rc.stop.set()
    ctx.spawn(ctx.manager.stop(name))
    return web.json_response({"name": name, "state": rc.state}, status=202)


async def change_pacing(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    name = request.match_info["name"]
    change = await read_json_object(request)
    try:
        campaign_id, config = await ctx.manager.load(name)
    except CampaignNotFound:
        raise ApiError(404, "campaign_not_found", f"no campaign named {name!r}") from None
    rc = ctx.manager.running.get(name)
    current = rc.config if rc is not None and not rc.task.done() else config
    try:
        pacing = validated_change(current.pacing, change, "request body")
    except (PacingConfigError, ValueError) as exc:
        raise ApiError(422, "invalid_pacing", str(exc)) from None
    raw = {**current.raw, "pacing": {**current.raw.get("pacing", {}), **change}}
    async with ctx.pool.acquire() as conn:
        await set_campaign_config(conn, campaign_id, raw)
    applied = ctx.manager.change_pacing(name, dataclasses.replace(current, pacing=pacing, raw=raw))
    log.info("campaign %s pacing changed: %s", name, change)
    return web.json_response(
        {
            "name": name,
            "pacing": {k: getattr(pacing, k) for k in LIVE_KEYS},
            "applied_live": bool(applied),
        }
    )


def routes() -> list[Route]:
    n = "/api/campaigns/{name}"
    return [
        Route("GET", "/api/campaigns", list_campaigns, READ, "List campaigns and their state", TAG),
        Route(
            "POST",
            "/api/campaigns",
            create_campaign,
            CONTROL,
            "Create a campaign from its TOML document (409 if it exists unless replace=true)",
            TAG,
            query=(Param("replace", "boolean", "replace an existing campaign's config"),),
            body=("application/toml", "text/plain", "application/json"),
            status=201,
        ),
        Route("GET", n, get_campaign, READ, "A campaign: config, counts, runner counters", TAG),
        Route("POST", n + "/start", start_campaign, CONTROL, "Start dialing in this process", TAG),
        Route("POST", n + "/pause", pause_campaign, CONTROL, "Launch no new calls", TAG),
        Route("POST", n + "/resume", resume_campaign, CONTROL, "Resume launching calls", TAG),
        Route(
            "POST",
            n + "/stop",
            stop_campaign,
            CONTROL,
            "Stop: no new calls, calls in flight finish (202, state 'stopping')",
            TAG,
            status=202,
        ),
        Route(
            "PATCH",
            n + "/pacing",
            change_pacing,
            CONTROL,
            "Change target_abandon_rate / lines_per_agent, live if running",
            TAG,
            body=("application/json",),
        ),
    ]
