"""Case CSV upload: streamed to a temporary file, imported off the event loop, with progress.

``POST /api/campaigns/{name}/cases`` takes a CSV of any size (up to UPLOAD_MAX): the body goes
to a temporary file as it arrives, then ``dialer_core.importer`` parses it in a worker thread
and writes it in chunks, so calls and other requests go on meanwhile. By default the request
waits and answers with the summary; with ``?wait=false`` it answers 202 at once with the
import's id, and ``GET /api/imports/{id}`` follows it (bytes read, rows settled, counts).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from dialer_core.api.context import ApiContext, ctx_of
from dialer_core.api.errors import ApiError
from dialer_core.api.import_table import ImportTable
from dialer_core.api.table import CONTROL, READ, Param, Route

if TYPE_CHECKING:
    from dialer_core.importer import ImportResult

TAG = "cases"
UPLOAD_MAX = 2 * 1024**3  # 2 GiB: ~20 million cases
_ENCODINGS = ("auto", "utf-8", "gbk", "gb18030")
_TYPES = ("text/csv", "application/octet-stream", "text/plain")
_READ_SIZE = 1 << 16


def _result_json(result: ImportResult) -> dict[str, Any]:
    s = result.summary
    return {
        "state": "done" if result.committed else "rejected",
        "encoding": result.encoding,
        "committed": result.committed,
        "imported": s.imported,
        "updated": s.updated,
        "unchanged": s.unchanged,
        "rejected": s.rejected,
        "errors": [{"line": e.line, "column": e.column, "reason": e.reason} for e in result.errors],
    }


async def _spool(request: web.Request, spool) -> int:  # noqa: ANN001 - a binary temp file
    """Copy the body into ``spool`` as it arrives; its size, or a 413 past UPLOAD_MAX."""
    size = 0
    async for block in request.content.iter_chunked(_READ_SIZE):
        size += len(block)
        if size > UPLOAD_MAX:
            raise ApiError(413, "too_large", f"body: larger than {UPLOAD_MAX} bytes")
        await asyncio.to_thread(spool.write, block)
    if size == 0:
        raise ApiError(400, "empty_body", "request body is empty: expected a CSV file")
    await asyncio.to_thread(spool.seek, 0)
    return size


async def _run(ctx: ApiContext, import_id: str, campaign_id: int, spool, opts: dict) -> dict:  # noqa: ANN001
    # Imported here: the importer loads phonenumbers' geocoding tables (~0.5 s of CPU), paid
    # by the first upload, not by every `pacedial serve` and `demo` start.
    from dialer_core.cases_csv import CsvFileError
    from dialer_core.importer import import_case_file

    table: ImportTable = ctx.imports
    try:
        result = await import_case_file(
            ctx.pool,
            campaign_id,
            spool,
            bytes_total=table.entries[import_id]["bytes_total"],
            on_progress=lambda p: table.progress(import_id, p),
            **opts,
        )
    except CsvFileError as exc:
        table.finish(import_id, {"state": "failed", "error": str(exc)})
        raise ApiError(400, "invalid_csv", str(exc)) from None
    except LookupError as exc:  # unknown codec
        table.finish(import_id, {"state": "failed", "error": str(exc)})
        raise ApiError(400, "invalid_query", f"query.encoding: {exc}") from None
    except BaseException:
        table.finish(import_id, {"state": "failed", "error": "internal error"})
        raise
    finally:
        await asyncio.to_thread(spool.close)
    body = _result_json(result)
    table.finish(import_id, body)
    return {**table.entries[import_id]}


async def import_cases_csv(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    name = request.match_info["name"]
    country = request.query.get("country", "CN").upper()
    encoding = request.query.get("encoding", "auto").lower()
    wait = request.query.get("wait", "true").lower()
    if len(country) != 2 or not country.isalpha():
        raise ApiError(
            400, "invalid_query", f"query.country: expected ISO alpha-2, got {country!r}"
        )
    if encoding not in _ENCODINGS:
        raise ApiError(400, "invalid_query", f"query.encoding: expected {'|'.join(_ENCODINGS)}")
    if wait not in ("true", "false"):
        raise ApiError(400, "invalid_query", f"query.wait: expected true|false, got {wait!r}")
    strict = request.query.get("strict", "false").lower() == "true"
    if request.content_type not in _TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"body must be {' or '.join(_TYPES)}, got {request.content_type or 'none'}",
        )
    source = request.query.get("source", "api upload")[:200]
    campaign_id = await ctx.campaign_id(name)
    spool = await asyncio.to_thread(tempfile.TemporaryFile)
    try:
        size = await _spool(request, spool)
    except BaseException:
        await asyncio.to_thread(spool.close)
        raise
    import_id = ctx.imports.start(name, source, size)
    opts = {"source": source, "default_country": country, "encoding": encoding, "strict": strict}
    job = _run(ctx, import_id, campaign_id, spool, opts)
    if wait == "false":
        ctx.spawn(_quietly(job))
        return web.json_response(
            {"import": import_id, "state": "running", "progress": f"/api/imports/{import_id}"},
            status=202,
        )
    return web.json_response(await job)


async def _quietly(job: Awaitable[dict]) -> None:
    """A background import: its failure is already in the import table."""
    with contextlib.suppress(ApiError):
        await job


async def import_status(request: web.Request) -> web.Response:
    entry = ctx_of(request).imports.entries.get(request.match_info["import_id"])
    if entry is None:
        raise ApiError(404, "import_not_found", "no such import on this server")
    return web.json_response(entry)


def routes() -> list[Route]:
    return [
        Route(
            "POST",
            "/api/campaigns/{name}/cases",
            import_cases_csv,
            CONTROL,
            "Import a CSV of cases (as `pacedial import`): streamed, parsed off the event loop",
            TAG,
            query=(
                Param("country", description="country of numbers without +CC (CN)"),
                Param("encoding", description="auto | utf-8 | gbk | gb18030"),
                Param("source", description="label stored with the import run"),
                Param("strict", description="true: import nothing if any row is rejected"),
                Param("wait", description="false: answer 202 at once; follow /api/imports/{id}"),
            ),
            body=_TYPES,
        ),
        Route(
            "GET",
            "/api/imports/{import_id}",
            import_status,
            READ,
            "Progress or result of a case upload",
            TAG,
        ),
    ]
