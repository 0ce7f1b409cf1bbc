"""The OpenAPI 3 document, built from the same route table the app registers."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from dialer_core.api.table import SCOPES, Route

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    400: "Malformed request",
    401: "Missing or unknown token",
    403: "Token lacks the scope",
    404: "Not found",
    409: "Conflict with the current state",
    415: "Unsupported body media type",
    422: "Body well-formed but invalid",
}


def _operation(route: Route) -> dict:
    params = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
        for p in route.path_params
    ]
    params += [
        {
            "name": q.name,
            "in": "query",
            "required": q.required,
            "description": q.description,
            "schema": {"type": q.type},
        }
        for q in route.query
    ]
    body_schema = {"type": "object"} if route.produces == "application/json" else {"type": "string"}
    responses: dict[str, dict] = {
        str(route.status): {
            "description": _STATUS_TEXT.get(route.status, "OK"),
            "content": {route.produces: {"schema": body_schema}},
        }
    }
    errors = [400, 404]
    if route.scope is not None:
        errors += [401, 403]
    if route.body:
        errors += [415, 422]
    if route.method != "GET":
        errors.append(409)
    for status in sorted(set(errors)):
        responses[str(status)] = {
            "description": _STATUS_TEXT[status],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    op: dict = {
        "operationId": route.handler.__name__,
        "summary": route.summary,
        "tags": [route.tag],
        "parameters": params,
        "responses": responses,
    }
    if route.scope is None:
        op["security"] = []
    else:
        op["security"] = [{"bearer": []}]
        op["x-scope"] = route.scope
    if route.body:
        op["requestBody"] = {
            "required": True,
            "content": {
                t: {"schema": {"type": "object"} if t == "application/json" else {"type": "string"}}
                for t in route.body
            },
        }
    return op


def build_openapi(routes: Iterable[Route], version: str) -> dict:
    """The OpenAPI 3.0 document describing ``routes``."""
    paths: dict[str, dict] = {}
    for route in routes:
        paths.setdefault(route.openapi_path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "pacedial API",
            "version": version,
            "description": "Campaign control, live stats, cases, agents, DNC, caller IDs, "
            "recordings. Scopes: " + ", ".join(SCOPES) + " (x-scope on each operation).",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": _ERROR},
        },
    }


def openapi_route(doc_routes: list[Route], version: str) -> Route:
    """The route serving the document (it documents itself too)."""

    async def openapi_json(request: web.Request) -> web.Response:
        return web.json_response(build_openapi([*doc_routes, route], version))

    route = Route("GET", "/api/openapi.json", openapi_json, None, "This OpenAPI document", "meta")
    return route
