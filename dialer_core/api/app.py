"""``create_app``: the aiohttp application serving the API, live stats, metrics and dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import asyncpg
from aiohttp import web

from dialer_core.api import (
    agent_preview,
    agents,
    callerid,
    campaigns,
    case_upload,
    cases,
    dashboard,
    desktop,
    dnc,
    floor,
    link,
    metrics,
    preview,
    recordings,
    reports,
    sessions,
    sse,
    users,
)
from dialer_core.api.auth import SCOPES_KEY, TokenTable, require
from dialer_core.api.browser_guard import (
    HOSTS,
    SESSION_CHECK,
    HostPolicy,
    browser_guard,
    security_headers,
)
from dialer_core.api.context import CTX, ApiContext
from dialer_core.api.errors import error_middleware
from dialer_core.api.live_stats import LiveStats
from dialer_core.api.openapi import openapi_route
from dialer_core.api.table import Route
from dialer_core.campaign.manager import CampaignManager

MAX_BODY = 64 * 1024 * 1024  # a large case CSV upload
ROUTES_KEY: web.AppKey[list[Route]] = web.AppKey("pacedial_routes", list)


def _version() -> str:
    try:
        return version("pacedial")
    except PackageNotFoundError:
        return "0"


def resource_routes() -> list[Route]:
    """Every route but the OpenAPI document's own, in registration order."""
    return [
        *sessions.routes(),
        *users.routes(),
        *desktop.routes(),
        *agent_preview.routes(),
        *floor.routes(),
        *campaigns.routes(),
        *case_upload.routes(),
        *cases.routes(),
        *sse.routes(),
        *preview.routes(),
        *agents.routes(),
        *dnc.routes(),
        *callerid.routes(),
        *recordings.routes(),
        *reports.routes(),
        *metrics.routes(),
        *link.routes(),
        *dashboard.routes(),
    ]


def _guarded(route: Route):  # noqa: ANN202
    """The route's handler behind its token check; the caller's scopes go in request[SCOPES_KEY]."""

    @functools.wraps(route.handler)
    async def handler(request: web.Request) -> web.StreamResponse:
        scopes = await sessions.identify(request) if route.scope is not None else frozenset()
        if route.scope:
            require(scopes, route.scope)
        request[SCOPES_KEY] = scopes
        return await route.handler(request)

    return handler


def create_app(
    pool: asyncpg.Pool,
    manager: CampaignManager,
    *,
    token: str | None = None,
    tokens: Mapping[str, Iterable[str]] | None = None,
    recordings_dir: str | Path | None = None,
    clock: Callable[[], float] | None = None,
    live_interval: float = 1.0,
    pbx_status: Callable[[], dict[str, str]] | None = None,
    bind_host: str = "127.0.0.1",
    allowed_hosts: Iterable[str] = (),
) -> web.Application:
    """The application. ``token`` grants every scope; ``tokens`` maps tokens to scope lists.

    With neither, requests are unauthenticated (read + control, never pii) and the caller must
    bind loopback only (``dialer_core.api.auth.check_bind``; ``serve`` does). ``clock``
    defaults to the manager's. Requests must name in ``Host`` a loopback name, ``bind_host`` or
    one of ``allowed_hosts`` (see dialer_core.api.browser_guard).
    """
    table = TokenTable.build(token, tokens)
    # The manager's clock: the runners write attempt times with it (simulated in the demo).
    clock = clock or getattr(manager, "clock", time.time)
    ctx = ApiContext(
        pool=pool,
        manager=manager,
        tokens=table,
        recordings_dir=Path(recordings_dir) if recordings_dir else None,
        clock=clock,
        live_interval=live_interval,
        live=LiveStats(pool, manager, clock, ttl=min(0.9, live_interval * 0.9)),
        pbx_status=pbx_status,
    )
    app = web.Application(middlewares=[error_middleware, browser_guard], client_max_size=MAX_BODY)
    app[CTX] = ctx
    app[HOSTS] = HostPolicy.build(bind_host, allowed_hosts)
    app[SESSION_CHECK] = sessions.csrf_vouched
    routes = resource_routes()
    routes.append(openapi_route(list(routes), _version()))
    app[ROUTES_KEY] = routes
    for route in routes:
        app.router.add_route(route.method, route.path, _guarded(route))
    app.on_response_prepare.append(security_headers)

    async def on_shutdown(app: web.Application) -> None:
        ctx.closing.set()

    async def on_cleanup(app: web.Application) -> None:
        pending = list(ctx.background)
        if pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 5)

    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app
