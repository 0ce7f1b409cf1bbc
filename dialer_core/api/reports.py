"""The cycle report in the browser: the same page ``pacedial report`` writes, built on request."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from aiohttp import web

from dialer_core.api.context import ctx_of
from dialer_core.api.errors import ApiError
from dialer_core.api.table import READ, Param, Route
from dialer_core.reports.cycle import ReportError, build_cycle_report, report_html

MAX_DAYS = 92


def _day(request: web.Request, key: str, default: date) -> date:
    raw = request.query.get(key)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(
            400, "invalid_query", f"query.{key}: expected YYYY-MM-DD, got {raw!r}"
        ) from None


async def cycle_report(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    today = datetime.fromtimestamp(ctx.clock(), UTC).date()
    date_to = _day(request, "to", today)
    date_from = _day(request, "from", date_to - timedelta(days=6))
    if not date_from <= date_to <= date_from + timedelta(days=MAX_DAYS):
        raise ApiError(400, "invalid_query", f"query: from ≤ to, at most {MAX_DAYS} days apart")
    try:
        report = await build_cycle_report(
            ctx.pool,
            request.match_info["name"],
            date_from,
            date_to,
            tz=request.query.get("tz") or "UTC",
        )
    except ReportError as exc:
        status = 404 if "no campaign" in str(exc) else 400
        raise ApiError(status, "invalid_report", str(exc)) from None
    return web.Response(text=report_html(report), content_type="text/html", charset="utf-8")


def routes() -> list[Route]:
    return [
        Route(
            "GET",
            "/api/campaigns/{name}/report",
            cycle_report,
            READ,
            "The cycle report (HTML) for from..to (last 7 days) in a time zone (UTC)",
            "reports",
            query=(
                Param("from", description="first day, YYYY-MM-DD"),
                Param("to", description="last day, YYYY-MM-DD (today)"),
                Param("tz", description="time zone of days and hours (UTC)"),
            ),
            produces="text/html",
        )
    ]
