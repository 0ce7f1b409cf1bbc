"""Live stats: a JSON snapshot, and a server-sent-events stream of snapshots every ~1 s.

Each event is ``event: stats`` with the snapshot as JSON ``data``. The stream ends when the
client goes away, the server shuts down, or after ``max_seconds`` (query, default 6 h) so a
forgotten tab does not hold a connection forever; EventSource reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import web

from dialer_core.api.context import ctx_of
from dialer_core.api.errors import ApiError, query_int
from dialer_core.api.table import READ, Param, Route
from dialer_core.campaign.manager import CampaignNotFound

TAG = "live"


async def _snapshot(request: web.Request, name: str) -> dict:
    try:
        snap = await ctx_of(request).live.snapshot(name)
    except CampaignNotFound:
        raise ApiError(404, "campaign_not_found", f"no campaign named {name!r}") from None
    return snap.as_json()


async def stats(request: web.Request) -> web.Response:
    return web.json_response(await _snapshot(request, request.match_info["name"]))


def sse_event(event: str, data: dict, event_id: int) -> bytes:
    """One server-sent event (JSON is a single line, so one ``data:`` field)."""
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def live(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    name = request.match_info["name"]
    max_seconds = query_int(request, "max_seconds", 6 * 3600, 1, 24 * 3600)
    first = await _snapshot(request, name)  # a 404 before the stream starts
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await resp.prepare(request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds
    n = 0
    # The client leaving, or the campaign being removed, ends the stream.
    with contextlib.suppress(ConnectionResetError, CampaignNotFound):
        await resp.write(b"retry: 2000\n\n")
        data = first
        while True:
            n += 1
            await resp.write(sse_event("stats", data, n))
            if loop.time() + ctx.live_interval > deadline or ctx.closing.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ctx.closing.wait(), ctx.live_interval)
            if ctx.closing.is_set():
                break
            data = (await ctx.live.snapshot(name)).as_json()
    return resp


def routes() -> list[Route]:
    n = "/api/campaigns/{name}"
    return [
        Route("GET", n + "/stats", stats, READ, "Live numbers now (one snapshot)", TAG),
        Route(
            "GET",
            n + "/live",
            live,
            READ,
            "Server-sent events: a live snapshot every ~1 s",
            TAG,
            query=(Param("max_seconds", "integer", "end the stream after this many seconds"),),
            produces="text/event-stream",
        ),
    ]
