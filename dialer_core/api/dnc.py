"""Do-not-call routes: list, add one entry, import a CSV (per-row errors), delete."""

from __future__ import annotations

from aiohttp import web

from dialer_core.api.context import ctx_of, phone_out
from dialer_core.api.errors import ApiError, field, query_int, read_csv_bytes, read_json_object
from dialer_core.api.table import CONTROL, READ, Param, Route
from dialer_core.compliance.dnc import DncError, normalize_number, parse_dnc_csv
from dialer_core.store import dnc as store
from dialer_core.store.dnc import StoredDncEntry

TAG = "dnc"


def _entry_json(request: web.Request, e: StoredDncEntry) -> dict:
    return {
        "id": e.id,
        "pattern": phone_out(request, e.pattern),
        "source": e.source,
        "reason": e.reason,
        "created_at": e.created_at.isoformat(),
    }


async def list_dnc(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    limit = query_int(request, "limit", 100, 1, 1000)
    offset = query_int(request, "offset", 0, 0, 100_000_000)
    source = request.query.get("source", "")
    async with ctx.pool.acquire() as conn:
        total, rows = await store.list_entries(conn, source, limit, offset)
    return web.json_response({"total": total, "entries": [_entry_json(request, r) for r in rows]})


async def add_dnc(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    doc = await read_json_object(request)
    number = field(doc, "number", str)
    source = field(doc, "source", str, required=False, default="global")
    reason = field(doc, "reason", str, required=False, default="")
    region = field(doc, "default_region", str, required=False, default=None)
    try:
        pattern = normalize_number(number, region)
    except DncError as exc:
        raise ApiError(422, "invalid_number", f"body.number: {exc}") from None
    async with ctx.pool.acquire() as conn:
        entry, inserted = await store.add_entry(conn, pattern, source, reason)
    return web.json_response(_entry_json(request, entry), status=201 if inserted else 200)


async def import_dnc(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    source = request.query.get("source", "global")
    region = request.query.get("default_region") or None
    data = await read_csv_bytes(request)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_csv", f"DNC CSV is not UTF-8: {exc}") from None
    parsed = parse_dnc_csv(text, source, region)
    errors = [{"line": e.line, "column": e.column, "reason": e.reason} for e in parsed.errors]
    if not parsed.entries and parsed.errors and parsed.errors[0].column == "-":
        raise ApiError(400, "invalid_csv", str(parsed.errors[0]))
    async with ctx.pool.acquire() as conn:
        added = await store.add_entries(conn, parsed.entries)
    return web.json_response(
        {
            "added": added,
            "already_listed": len(parsed.entries) - added,
            "rejected": len(errors),
            "errors": errors,
        }
    )


async def delete_dnc(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise ApiError(400, "invalid_id", f"DNC entry id {raw!r} is not a number")
    async with ctx.pool.acquire() as conn:
        gone = await store.delete_entry(conn, int(raw))
    if gone is None:
        raise ApiError(404, "dnc_entry_not_found", f"no DNC entry {raw}")
    return web.json_response({"deleted": gone})


def routes() -> list[Route]:
    return [
        Route(
            "GET",
            "/api/dnc",
            list_dnc,
            READ,
            "DNC entries (numbers masked without the pii scope)",
            TAG,
            query=(Param("limit", "integer"), Param("offset", "integer"), Param("source")),
        ),
        Route(
            "POST",
            "/api/dnc",
            add_dnc,
            CONTROL,
            "Add one number or +prefix* pattern",
            TAG,
            body=("application/json",),
            status=201,
        ),
        Route(
            "POST",
            "/api/dnc/import",
            import_dnc,
            CONTROL,
            "Import a DNC CSV (number column, optional reason); per-row errors",
            TAG,
            query=(Param("source"), Param("default_region", description="e.g. CN")),
            body=("text/csv", "application/octet-stream", "text/plain"),
        ),
        Route("DELETE", "/api/dnc/{id}", delete_dnc, CONTROL, "Remove a DNC entry", TAG),
    ]
