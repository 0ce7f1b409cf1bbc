"""``GET /api/pbx``: the PBX link as the server sees it (up, or down with the last reason)."""

from __future__ import annotations

from aiohttp import web

from dialer_core.api.context import ctx_of
from dialer_core.api.table import READ, Route

TAG = "pbx"


async def pbx_status(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    if ctx.pbx_status is not None:
        return web.json_response(ctx.pbx_status())
    up = ctx.manager.driver.ready
    return web.json_response({"pbx": "", "link": "up" if up else "down", "error": ""})


def routes() -> list[Route]:
    return [Route("GET", "/api/pbx", pbx_status, READ, "PBX link state", TAG)]
