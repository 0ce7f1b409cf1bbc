"""Case routes: CSV import (the CLI's validation and per-row report), contacts, attempts."""

from __future__ import annotations

import uuid

from aiohttp import web

from dialer_core.api.auth import has_pii
from dialer_core.api.context import ctx_of, name_out, phone_out
from dialer_core.api.errors import ApiError, query_int, read_csv_bytes
from dialer_core.api.table import CONTROL, READ, Param, Route
from dialer_core.cases_csv import CsvFileError, parse_cases_csv
from dialer_core.store import case_views as views
from dialer_core.store.cases import import_cases

TAG = "cases"
_ENCODINGS = ("auto", "utf-8", "gbk", "gb18030")


async def import_cases_csv(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    name = request.match_info["name"]
    country = request.query.get("country", "CN").upper()
    encoding = request.query.get("encoding", "auto").lower()
    if len(country) != 2 or not country.isalpha():
        raise ApiError(
            400, "invalid_query", f"query.country: expected ISO alpha-2, got {country!r}"
        )
    if encoding not in _ENCODINGS:
        raise ApiError(400, "invalid_query", f"query.encoding: expected {'|'.join(_ENCODINGS)}")
    source = request.query.get("source", "api upload")[:200]
    campaign_id = await ctx.campaign_id(name)
    data = await read_csv_bytes(request)
    try:
        parsed = parse_cases_csv(data, default_country=country, encoding=encoding)
    except CsvFileError as exc:
        raise ApiError(400, "invalid_csv", str(exc)) from None
    except LookupError as exc:  # unknown codec
        raise ApiError(400, "invalid_query", f"query.encoding: {exc}") from None
    async with ctx.pool.acquire() as conn:
        summary = await import_cases(conn, campaign_id, parsed.rows, parsed.errors, source)
    return web.json_response(
        {
            "encoding": parsed.encoding,
            "imported": summary.imported,
            "updated": summary.updated,
            "unchanged": summary.unchanged,
            "rejected": summary.rejected,
            "errors": [
                {"line": e.line, "column": e.column, "reason": e.reason} for e in parsed.errors
            ],
        }
    )


def _case_json(request: web.Request, r) -> dict:  # noqa: ANN001 - asyncpg.Record
    return {
        "id": r["id"],
        "external_id": r["external_id"],
        "debtor_name": name_out(request, r["debtor_name"]),
        "amount_minor": r["amount_minor"],
        "currency": r["currency"],
        "days_past_due": r["days_past_due"],
        "product": r["product"],
        "due_date": r["due_date"].isoformat() if r["due_date"] else None,
        "phones": [
            {
                "e164": phone_out(request, p["e164"]),
                "country": p["country"],
                "province": p["province"],
                "city": p["city"],
                "status": p["status"],
            }
            for p in (r["phones"] or [])
        ],
        "next_attempt_at": r["next_attempt_at"].isoformat() if r["next_attempt_at"] else None,
        "attempts": r["attempts"],
    }


async def list_cases(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    campaign_id = await ctx.campaign_id(request.match_info["name"])
    limit = query_int(request, "limit", 50, 1, 500)
    offset = query_int(request, "offset", 0, 0, 10_000_000)
    phone = request.query.get("phone", "").strip()
    if phone and not has_pii(request):
        raise ApiError(403, "forbidden", "searching by phone number needs the 'pii' scope")
    async with ctx.pool.acquire() as conn:
        rows = await views.list_cases(conn, campaign_id, phone, limit, offset)
    return web.json_response({"cases": [_case_json(request, r) for r in rows]})


async def get_case(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    campaign_id = await ctx.campaign_id(request.match_info["name"])
    external_id = request.match_info["external_id"]
    async with ctx.pool.acquire() as conn:
        row = await views.find_case(conn, campaign_id, external_id)
        if row is None:
            raise ApiError(404, "case_not_found", f"no case {external_id!r} in this campaign")
        attempts = await views.case_attempts(conn, row["id"])
    body = _case_json(request, row)
    body["attempt_history"] = [_attempt_json(request, a) for a in attempts]
    return web.json_response(body)


def _iso(value) -> str | None:  # noqa: ANN001
    return value.isoformat() if value is not None else None


def _attempt_json(request: web.Request, a) -> dict:  # noqa: ANN001
    return {
        "call_id": a["call_id"],
        "campaign": a["campaign"],
        "case": a["external_id"],
        "phone": phone_out(request, a["e164"]),
        "attempt_no": a["attempt_no"],
        "caller_id": a["caller_id"],
        "state": a["state"],
        "created_at": _iso(a["created_at"]),
        "answered_at": _iso(a["answered_at"]),
        "ended_at": _iso(a["ended_at"]),
        "disposition": a["disposition"],
        "pbx_result": a["pbx_result"],
        "q850_cause": a["q850_cause"],
        "cause_text": a["cause_text"],
        "talk_seconds": a["talk_seconds"],
        "agent": a["agent"],
        "abandoned": a["abandoned"],
        "next_attempt_at": _iso(a["next_attempt_at"]),
    }


async def list_attempts(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    campaign_id = await ctx.campaign_id(request.match_info["name"])
    limit = query_int(request, "limit", 100, 1, 1000)
    disposition = request.query.get("disposition", "")
    async with ctx.pool.acquire() as conn:
        rows = await views.list_attempts(conn, campaign_id, disposition, limit)
    return web.json_response({"attempts": [_attempt_json(request, r) for r in rows]})


async def get_attempt(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    raw = request.match_info["call_id"]
    try:
        call_id = str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(400, "invalid_call_id", f"call id {raw!r} is not a UUID") from None
    async with ctx.pool.acquire() as conn:
        row = await views.find_attempt(conn, call_id)
    if row is None:
        raise ApiError(404, "attempt_not_found", f"no attempt with call id {call_id}")
    return web.json_response(_attempt_json(request, row))


def routes() -> list[Route]:
    n = "/api/campaigns/{name}"
    return [
        Route(
            "POST",
            n + "/cases",
            import_cases_csv,
            CONTROL,
            "Import a CSV of cases (same validation as `pacedial import`); per-row errors",
            TAG,
            query=(
                Param("country", description="country of numbers without +CC (CN)"),
                Param("encoding", description="auto | utf-8 | gbk | gb18030"),
                Param("source", description="label stored with the import run"),
            ),
            body=("text/csv", "application/octet-stream", "text/plain"),
        ),
        Route(
            "GET",
            n + "/cases",
            list_cases,
            READ,
            "List cases with phones (masked without the pii scope)",
            TAG,
            query=(
                Param("limit", "integer"),
                Param("offset", "integer"),
                Param("phone", description="exact E.164 number (needs the pii scope)"),
            ),
        ),
        Route("GET", n + "/cases/{external_id}", get_case, READ, "One case and its attempts", TAG),
        Route(
            "GET",
            n + "/attempts",
            list_attempts,
            READ,
            "Latest attempts of a campaign",
            TAG,
            query=(Param("limit", "integer"), Param("disposition")),
        ),
        Route("GET", "/api/attempts/{call_id}", get_attempt, READ, "One attempt by call id", TAG),
    ]
