"""The supervisor's floor: today's tiles, the live queue, every agent with names and figures,
and listen / whisper / barge into an agent's call from the supervisor's own phone."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from dialer_core.api.context import ctx_of
from dialer_core.api.desktop import json_out, money
from dialer_core.api.errors import ApiError, field, read_json_object
from dialer_core.api.sessions import USER_KEY
from dialer_core.api.table import CONTROL, READ, Param, Route
from dialer_core.campaign.manager import CampaignNotFound
from dialer_core.store import floor as floor_store
from dialer_core.store import users as user_store
from pbx.model import PbxActionRefused

TAG = "floor"
SPY_MODES = ("listen", "whisper", "barge")
PRESET_ZONES = {"cn": "Asia/Shanghai", "uk": "Europe/London", "us": "America/New_York"}


def _zone(request: web.Request, preset: str) -> ZoneInfo:
    name = request.query.get("tz") or PRESET_ZONES.get(preset, "UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ApiError(400, "invalid_query", f"query.tz: unknown time zone {name!r}") from None


async def floor(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    name = request.match_info["name"]
    try:
        campaign_id, config = await ctx.manager.load(name)
    except CampaignNotFound:
        raise ApiError(404, "campaign_not_found", f"no campaign named {name!r}") from None
    zone = _zone(request, getattr(config.compliance, "preset", ""))
    now = ctx.clock()
    local = dt.datetime.fromtimestamp(now, zone)
    start = dt.datetime.combine(local.date(), dt.time(0), zone)
    end = start + dt.timedelta(days=1)
    async with ctx.pool.acquire() as conn:
        tiles = await floor_store.today_tiles(conn, campaign_id, start, end)
        figures = await floor_store.agent_figures(conn, start, end)
        seats = await user_store.users_by_seat(conn)
    tiles["promised"] = money(tiles["promised_minor"], tiles["currency"])
    rc = ctx.manager.running.get(name)
    live = ctx.manager.live_queue(name, now)
    states = ctx.manager.agent_states(name)
    agents = []
    for seat in sorted(set(states) | {s for s in figures if s in seats or s in states}):
        state, since = states.get(seat, ("logged_out", now))
        fig = figures.get(seat, {})
        user = seats.get(seat)
        calls = fig.get("calls", 0)
        agents.append(
            {
                "seat": seat,
                "name": user.name if user else seat,
                "username": user.username if user else None,
                "state": state,
                "seconds_in_state": round(max(0.0, now - since), 1),
                "calls": calls,
                "talk_seconds": round(float(fig.get("talk_seconds", 0.0)), 1),
                "promises": fig.get("promises", 0),
                "promised": money(fig.get("promised_minor", 0), tiles["currency"]),
                "right_party_rate": fig["right_party"] / fig["dispositioned"]
                if fig.get("dispositioned")
                else None,
                "on_call": ctx.manager.agent_call(seat),
            }
        )
    return json_out(
        {
            "campaign": name,
            "mode": config.mode,
            "state": rc.state if rc is not None else "stopped",
            "day": local.date().isoformat(),
            "time_zone": str(zone),
            "target_abandon_rate": config.pacing.target_abandon_rate,
            "today": tiles,
            "live": live,
            "agents": agents,
        }
    )


async def spy(request: web.Request) -> web.Response:
    """Ring the supervisor's phone; on answer it listens to (or whispers to, barges into) the
    agent's current call."""
    ctx = ctx_of(request)
    doc = await read_json_object(request)
    seat = field(doc, "agent", str)
    mode = field(doc, "mode", str, required=False, default="listen")
    if mode not in SPY_MODES:
        raise ApiError(400, "invalid_field", f"body.mode: expected one of {', '.join(SPY_MODES)}")
    user = request.get(USER_KEY)
    phone = field(doc, "phone", str, required=False, default=None) or (user and user.phone)
    if not phone:
        raise ApiError(
            400, "missing_field", "body.phone: required (or set a phone on the supervisor user)"
        )
    call_id = ctx.manager.agent_call(seat)
    if call_id is None:
        raise ApiError(409, "agent_not_on_call", f"agent {seat!r} is not on a call now")
    spy_id = str(uuid.uuid4())
    try:
        await ctx.manager.spy(spy_id, phone, seat, call_id, mode)
    except (PbxActionRefused, OSError, TimeoutError) as exc:
        raise ApiError(503, "pbx_unavailable", f"the PBX did not take the call: {exc}") from None
    return web.json_response(
        {"spy_call_id": spy_id, "agent": seat, "mode": mode, "call_id": call_id}, status=202
    )


def routes() -> list[Route]:
    return [
        Route(
            "GET",
            "/api/campaigns/{name}/floor",
            floor,
            READ,
            "Today's tiles, the live queue and every agent with names and figures",
            TAG,
            query=(Param("tz", description="time zone of 'today' (the preset's zone)"),),
        ),
        Route(
            "POST",
            "/api/agents/spy",
            spy,
            CONTROL,
            "Listen, whisper or barge into an agent's call from the supervisor's phone",
            TAG,
            body=("application/json",),
            status=202,
        ),
    ]
