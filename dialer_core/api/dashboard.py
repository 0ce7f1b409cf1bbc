"""The dashboard: one HTML page and its static JS/CSS, served by the API process itself."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from dialer_core.api.errors import ApiError
from dialer_core.api.table import Route

STATIC_DIR = Path(__file__).parent / "static"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def _page(name: str) -> web.FileResponse:
    return web.FileResponse(
        STATIC_DIR / name,
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache"},
    )


async def index(request: web.Request) -> web.FileResponse:
    return _page("index.html")


async def agent_desktop(request: web.Request) -> web.FileResponse:
    return _page("agent.html")


async def static_file(request: web.Request) -> web.FileResponse:
    name = request.match_info["file"]
    path = STATIC_DIR / name
    # Only plain file names of the known types, from this folder.
    if "/" in name or name.startswith(".") or path.suffix not in _TYPES or not path.is_file():
        raise ApiError(404, "not_found", f"no static file {name!r}")
    return web.FileResponse(
        path, headers={"Content-Type": _TYPES[path.suffix], "Cache-Control": "no-cache"}
    )


def routes() -> list[Route]:
    return [
        Route("GET", "/", index, None, "The supervisor's floor", "dashboard", produces="text/html"),
        Route(
            "GET",
            "/agent",
            agent_desktop,
            None,
            "The agent desktop",
            "dashboard",
            produces="text/html",
        ),
        Route(
            "GET",
            "/static/{file}",
            static_file,
            None,
            "Dashboard JavaScript and CSS",
            "dashboard",
            produces="text/javascript",
        ),
    ]
