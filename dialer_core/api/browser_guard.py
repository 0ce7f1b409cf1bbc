"""What a hostile web page open in the supervisor's browser cannot do to the API.

- **DNS rebinding**: every request must name, in ``Host``, a host this server was configured for
  (loopback names by default, plus the bind address and ``[api] allowed_hosts``). A page whose
  own name was rebound to our address sends its own name and is refused, so it reads nothing.
- **Cross-site requests** (forms, ``fetch`` from another origin): a state-changing request
  (anything but GET/HEAD/OPTIONS) is accepted only when its ``Origin`` is the server's own
  origin, or when it carries no ``Origin`` and no cross-site ``Sec-Fetch-Site`` (a command-line
  client, not a browser), or when the app's *session check* accepts it (a login session whose
  CSRF token the request echoes: a page on another site can make the browser send a cookie,
  never read the token).
- **Headers** on every response: a Content-Security-Policy that only allows the dashboard's own
  scripts, ``Cache-Control: no-store`` (nothing the API says is kept in a shared or disk cache),
  and the usual ``nosniff`` / ``DENY`` framing / same-origin resource headers.
- NUL bytes in the path or the query string are refused with 400 before any handler runs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from dialer_core.api.errors import ApiError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; media-src 'self' blob:; font-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# A check that a request is vouched for by a login session (its CSRF token matches); None: none.
SessionCheck = Callable[[web.Request], Awaitable[bool]]
SESSION_CHECK: web.AppKey[SessionCheck] = web.AppKey("pacedial_session_check")


def _host_only(netloc: str) -> str:
    """``Host`` / origin netloc without the port, lower case, IPv6 brackets removed."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[1 : netloc.find("]")] if "]" in netloc else netloc
    if netloc.count(":") == 1:
        return netloc.split(":", 1)[0]
    return netloc


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


@dataclass(frozen=True)
class HostPolicy:
    """The host names (no port) this server answers to."""

    allowed: frozenset[str]

    @classmethod
    def build(cls, bind_host: str = "127.0.0.1", extra: Iterable[str] = ()) -> HostPolicy:
        """Loopback names, the bind address (unless a wildcard) and the configured ``extra``."""
        names = {*LOOPBACK_NAMES, *(_host_only(h) for h in extra if h.strip())}
        bind = _host_only(bind_host)
        if bind and not _is_wildcard(bind):
            names.add(bind)
        return cls(frozenset(names))

    def check(self, request: web.Request) -> None:
        """403 unless the request's ``Host`` is one of ours."""
        raw = request.headers.get("Host", "")
        if _host_only(raw) not in self.allowed:
            raise ApiError(
                403,
                "host_not_allowed",
                f"Host {raw[:100]!r} is not a name this server answers to "
                "(add it to [api] allowed_hosts if it is yours)",
            )


HOSTS: web.AppKey[HostPolicy] = web.AppKey("pacedial_hosts", HostPolicy)


def _origin_refusal(request: web.Request) -> str:
    """Why a state-changing request may not be a same-origin one, or "" when it is."""
    origin = request.headers.get("Origin")
    if origin is None:
        fetch_site = request.headers.get("Sec-Fetch-Site", "")
        if fetch_site in ("cross-site", "same-site"):
            return f"request sent by a page on another site (Sec-Fetch-Site: {fetch_site})"
        return ""
    parts = urlsplit(origin.strip()) if origin.strip() != "null" else None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or parts.netloc.lower() != request.headers.get("Host", "").strip().lower()
    ):
        return f"Origin {origin[:100]!r} is not this server's origin"
    return ""


@web.middleware
async def browser_guard(request: web.Request, handler) -> web.StreamResponse:  # noqa: ANN001
    """Host check, NUL refusal and the same-origin rule for state-changing requests."""
    request.app[HOSTS].check(request)
    if "\x00" in request.path or "\x00" in request.query_string or "%00" in request.raw_path:
        raise ApiError(400, "bad_path", "NUL bytes are not allowed in the path or the query")
    if request.method not in SAFE_METHODS:
        why = _origin_refusal(request)
        if why:
            session_check = request.app.get(SESSION_CHECK)
            if session_check is None or not await session_check(request):
                raise ApiError(403, "cross_origin", f"{why}: refused (cross-site request)")
    return await handler(request)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """CSP, no-store and framing headers on every response, errors included."""
    headers = response.headers
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["Cache-Control"] = "no-store"
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    headers.setdefault("Referrer-Policy", "no-referrer")
