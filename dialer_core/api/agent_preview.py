"""The agent desktop's preview: the next case of the agent's preview campaign, dial it, skip it.

The same case, dial request and skip as the floor's preview routes (``dialer_core.api.preview``),
for the agent's own seat: the campaign is the preview campaign running here whose pacer counts
that seat, so an agent can neither dial for another seat nor skip in another campaign.
"""

from __future__ import annotations

from aiohttp import web

from dialer_core.api.context import ctx_of
from dialer_core.api.desktop import seat_of
from dialer_core.api.errors import ApiError
from dialer_core.api.preview import preview_doc, skip_case_in
from dialer_core.api.table import AGENT, Route
from dialer_core.campaign.manager import AgentNotHere, NotPreview

TAG = "agent desktop"


def _campaign(request: web.Request, seat: str) -> str | None:
    """The running preview campaign whose agents include ``seat`` (None: not in one)."""
    for name, rc in sorted(ctx_of(request).manager.running.items()):
        if rc.config.mode == "preview" and seat in rc.runner.book.agents and not rc.task.done():
            return name
    return None


def _required(request: web.Request) -> tuple[str, str]:
    seat = seat_of(request)
    name = _campaign(request, seat)
    if name is None:
        raise ApiError(409, "no_preview_campaign", f"seat {seat!r} is in no preview campaign")
    return name, seat


async def next_case(request: web.Request) -> web.Response:
    name = _campaign(request, seat_of(request))
    if name is None:
        return web.json_response({"campaign": None, "auto_dial_seconds": None, "case": None})
    return web.json_response(await preview_doc(request, name))


async def dial(request: web.Request) -> web.Response:
    name, seat = _required(request)
    try:
        ctx_of(request).manager.request_preview(name, seat)
    except (NotPreview, AgentNotHere) as exc:  # the campaign stopped or the seat left meanwhile
        raise ApiError(409, "no_preview_campaign", str(exc)) from None
    return web.json_response({"campaign": name, "agent": seat, "requested": True}, status=202)


async def skip(request: web.Request) -> web.Response:
    name, _ = _required(request)
    return web.json_response(await skip_case_in(request, name))


def routes() -> list[Route]:
    base = "/api/agent/preview"
    return [
        Route("GET", base, next_case, AGENT, "The next case of the agent's preview campaign", TAG),
        Route(
            "POST",
            base + "/dial",
            dial,
            AGENT,
            "Dial the previewed case now from the agent's seat",
            TAG,
            status=202,
        ),
        Route(
            "POST",
            base + "/skip",
            skip,
            AGENT,
            "Put the previewed case back for N minutes (60)",
            TAG,
            body=("application/json",),
        ),
    ]
