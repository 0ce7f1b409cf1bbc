"""JSON errors: ``{"error": {"code", "message"}}`` with the right status, for every failure."""

from __future__ import annotations

import logging
import tomllib
from typing import Any

from aiohttp import web

from pbx import json_limits

log = logging.getLogger(__name__)
MAX_JSON_DEPTH = 16  # no request body of this API nests deeper than 3
JSON_INT_RANGE = (-(2**63), 2**63 - 1)  # what PostgreSQL's bigint holds


class ApiError(Exception):
    """An error the client can act on: HTTP status, a stable code and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str, **headers: str) -> web.Response:
    """The JSON error body every failure uses."""
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers or None
    )


@web.middleware
async def error_middleware(request: web.Request, handler) -> web.StreamResponse:  # noqa: ANN001
    """Turn ApiError, aiohttp's own HTTP errors and crashes into JSON errors."""
    try:
        return await handler(request)
    except ApiError as exc:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        return error_response(exc.status, exc.code, exc.message, **headers)
    except web.HTTPRequestEntityTooLarge as exc:
        return error_response(413, "body_too_large", exc.text or "request body too large")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
        message = {
            404: f"no such resource: {request.method} {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
        }.get(exc.status, exc.reason)
        return error_response(exc.status, code, message)
    except Exception:
        log.exception("API %s %s failed", request.method, request.path)
        return error_response(500, "internal_error", "internal error; see the server log")


def _require_type(request: web.Request, accepted: tuple[str, ...]) -> None:
    if request.content_type not in accepted:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"body must be {' or '.join(accepted)}, got {request.content_type or 'none'}",
        )


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 4xx saying what is wrong with it."""
    _require_type(request, ("application/json",))
    raw = await request.read()
    try:
        doc = json_limits.loads(
            raw, max_depth=MAX_JSON_DEPTH, int_range=JSON_INT_RANGE, allow_nul=False
        )
    except json_limits.JsonLimitError as exc:
        raise ApiError(400, "malformed_json", f"request body: {exc}") from None
    if not isinstance(doc, dict):
        raise ApiError(400, "malformed_json", "request body must be a JSON object")
    return doc


async def read_toml_or_json(request: web.Request) -> dict[str, Any]:
    """A document sent as TOML (application/toml, text/plain) or as a JSON object."""
    if request.content_type == "application/json":
        return await read_json_object(request)
    _require_type(request, ("application/toml", "text/plain", "application/json"))
    raw = await request.read()
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ApiError(400, "malformed_toml", f"request body is not UTF-8: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ApiError(400, "malformed_toml", f"request body is not valid TOML: {exc}") from None
    except RecursionError:
        raise ApiError(400, "malformed_toml", "request body is nested too deeply") from None
    why = json_limits.violation(doc, MAX_JSON_DEPTH, allow_nul=False)
    if why:
        raise ApiError(400, "malformed_toml", f"request body: {why}")
    return doc


async def read_csv_bytes(request: web.Request) -> bytes:
    """A CSV upload: the raw request body (text/csv or application/octet-stream)."""
    _require_type(request, ("text/csv", "application/octet-stream", "text/plain"))
    data = await request.read()
    if not data.strip():
        raise ApiError(400, "empty_body", "request body is empty: expected a CSV file")
    return data


def field(doc: dict[str, Any], key: str, kind: type, *, required: bool = True, default=None):  # noqa: ANN001,ANN201
    """``doc[key]`` checked against ``kind``; a 400 names the key and the expectation."""
    if key not in doc:
        if required:
            raise ApiError(400, "missing_field", f"body.{key}: required")
        return default
    value = doc[key]
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok:
        raise ApiError(400, "invalid_field", f"body.{key}: expected {kind.__name__}, got {value!r}")
    return value


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high], or a 400 naming it."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            400, "invalid_query", f"query.{name}: expected an integer, got {raw!r}"
        ) from None
    if not low <= value <= high:
        raise ApiError(400, "invalid_query", f"query.{name}: expected {low}..{high}, got {value}")
    return value
