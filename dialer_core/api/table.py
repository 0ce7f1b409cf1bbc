"""The API's route table: one list of routes that the app registers and OpenAPI documents."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

READ, CONTROL, PII = "read", "control", "pii"
AGENT, ADMIN = "agent", "admin"  # a person at the agent desktop; user administration
SCOPES = (READ, CONTROL, PII, AGENT, ADMIN)
_PATH_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


@dataclass(frozen=True)
class Param:
    """A query parameter (path parameters are read from the path itself)."""

    name: str
    type: str = "string"  # OpenAPI scalar type: string | integer | number | boolean
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Route:
    """One operation: method + aiohttp path, its handler, the scope it needs, its docs."""

    method: str
    path: str  # aiohttp syntax, e.g. /api/campaigns/{name} or /static/{file}
    handler: Handler
    scope: str | None  # None: public; "": any identified caller; else the scope needed
    summary: str
    tag: str
    query: tuple[Param, ...] = ()
    body: tuple[str, ...] = ()  # accepted request media types; () = no body
    produces: str = "application/json"
    status: int = 200

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(m.group(1) for m in _PATH_PARAM.finditer(self.path))

    @property
    def openapi_path(self) -> str:
        """The path in OpenAPI syntax (regex constraints dropped)."""
        return _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", self.path)
