"""Agent routes: queue members as the PBX reports them, and each running campaign's view."""

from __future__ import annotations

import asyncio

from aiohttp import web

from dialer_core.api.context import ctx_of
from dialer_core.api.errors import ApiError
from dialer_core.api.table import READ, Route

PBX_TIMEOUT = 3.0


async def list_agents(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    try:
        states = await asyncio.wait_for(ctx.manager.driver.agents(), PBX_TIMEOUT)
    except (TimeoutError, OSError, ConnectionError) as exc:
        raise ApiError(
            503, "pbx_unavailable", f"the PBX did not list its agents: {exc!r}"
        ) from None
    now = ctx.clock()
    campaigns = {}
    for name, rc in ctx.manager.running.items():
        if rc.task.done():
            continue
        campaigns[name] = [
            {"agent": a, "status": s.value, "seconds_in_state": round(max(0.0, now - since), 1)}
            for a, (s, since) in sorted(rc.agents.items())
        ]
    return web.json_response(
        {
            "pbx": [{"agent": s.agent, "queue": s.queue, "state": s.state} for s in states],
            "campaigns": campaigns,
        }
    )


def routes() -> list[Route]:
    return [
        Route(
            "GET",
            "/api/agents",
            list_agents,
            READ,
            "Queue members and states from the PBX, and each running campaign's agent view",
            "agents",
        )
    ]
