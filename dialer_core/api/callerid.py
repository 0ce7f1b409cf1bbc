"""Caller-ID route: a campaign's pool and each number's health over recent attempts.

Health compares each number's answer rate with the rest of the pool at the same hours and
regions (dialer_core.callerid.health says how); the counts are summed in SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from dialer_core.api.context import ctx_of
from dialer_core.api.errors import ApiError, query_int
from dialer_core.api.table import READ, Param, Route
from dialer_core.callerid.health import pool_health
from dialer_core.campaign.manager import CampaignNotFound
from dialer_core.store import callerid as cid_store


async def callerid_health(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    name = request.match_info["name"]
    days = query_int(request, "days", 7, 1, 90)
    try:
        campaign_id, config = await ctx.manager.load(name)
    except CampaignNotFound:
        raise ApiError(404, "campaign_not_found", f"no campaign named {name!r}") from None
    pool_cfg = config.callerid  # validated when the campaign was loaded
    since = datetime.fromtimestamp(ctx.clock(), UTC) - timedelta(days=days)
    async with ctx.pool.acquire() as conn:
        found = await cid_store.health_cells(conn, campaign_id, since)
    stats: dict[str, dict] = {n.number: {} for n in pool_cfg.numbers}
    if config.caller_id:
        stats.setdefault(config.caller_id, {})
    for number, cells in found.items():
        stats.setdefault(number, {}).update(cells)
    verdicts = pool_health(stats, pool_cfg.health)
    configured = {n.number: n for n in pool_cfg.numbers}
    numbers = []
    for number in sorted(stats):
        h = verdicts[number]
        cfg = configured.get(number)
        numbers.append(
            {
                "number": number,
                "province": cfg.province if cfg else None,
                "city": cfg.city if cfg else None,
                "default": cfg.default if cfg else number == config.caller_id,
                "in_pool": cfg is not None,
                "status": h.status.value,
                "calls": sum(c.calls for c in stats[number].values()),
                "answered": sum(c.answered for c in stats[number].values()),
                "rate": round(h.rate, 4),
                "expected": round(h.expected, 4),
                "p_value": h.p_value,
                "reason": h.reason,
                "needs_calls": h.needs,
            }
        )
    return web.json_response(
        {"campaign": name, "days": days, "daily_cap": pool_cfg.daily_cap, "numbers": numbers}
    )


def routes() -> list[Route]:
    return [
        Route(
            "GET",
            "/api/campaigns/{name}/callerid",
            callerid_health,
            READ,
            "Caller-ID pool and each number's health (answer rate vs the rest of the pool)",
            "callerid",
            query=(Param("days", "integer", "look-back in days (7)"),),
        )
    ]
