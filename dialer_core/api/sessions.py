"""Browser logins: a session cookie per person, a CSRF token per session, role scopes.

A request is identified by its session cookie if it has one, else by its bearer token (machines),
else it is anonymous (only when no token is configured; loopback only). A state-changing request
that rides on a session cookie must echo the session's CSRF token in ``X-CSRF-Token``: a page
on another site can make the browser send the cookie, never read the token.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets

from aiohttp import web

from dialer_core import accounts
from dialer_core.api.context import ctx_of
from dialer_core.api.errors import ApiError, read_json_object
from dialer_core.api.table import Route
from dialer_core.store import users as user_store

COOKIE = "pacedial_session"
CSRF_HEADER = "X-CSRF-Token"
USER_KEY: web.RequestKey[user_store.User | None] = web.RequestKey("pacedial_user", object)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _now() -> dt.datetime:
    # Sessions and lock-outs live in the real world, even while a demo's calls run on a
    # simulated clock.
    return dt.datetime.now(dt.UTC)


async def identify(request: web.Request) -> frozenset[str]:
    """The caller's scopes; sets request[USER_KEY]. 401 for a dead session or a bad token."""
    ctx = ctx_of(request)
    token = request.cookies.get(COOKIE)
    request[USER_KEY] = None
    if token and "Authorization" not in request.headers:
        async with ctx.pool.acquire() as conn:
            found = await user_store.session(conn, token, _now())
        if found is None:
            raise ApiError(401, "session_expired", "your session has ended; log in again")
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), found.csrf.encode()):
                raise ApiError(403, "csrf", f"missing or wrong {CSRF_HEADER} header")
        request[USER_KEY] = found.user
        return accounts.ROLE_SCOPES[found.user.role]
    return ctx.tokens.scopes_for(request)


async def csrf_vouched(request: web.Request) -> bool:
    """True when the request rides on a live session and echoes that session's CSRF token.

    The browser guard's other way in for a state-changing request whose ``Origin`` is not the
    server's own (a reverse proxy that rewrites ``Host``, a browser that sends no origin).
    """
    token = request.cookies.get(COOKIE)
    sent = request.headers.get(CSRF_HEADER, "")
    if not token or not sent:
        return False
    async with ctx_of(request).pool.acquire() as conn:
        found = await user_store.session(conn, token, _now())
    return found is not None and hmac.compare_digest(sent.encode(), found.csrf.encode())


def current_user(request: web.Request) -> user_store.User:
    """The logged-in person, or 401 (API tokens are machines, not people)."""
    user = request.get(USER_KEY)
    if user is None:
        raise ApiError(401, "login_required", "log in as a person to use this")
    return user


async def login(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise ApiError(400, "invalid_login", "expected JSON strings 'username' and 'password'")
    ctx = ctx_of(request)
    now = _now()
    async with ctx.pool.acquire() as conn:
        creds = await user_store.credentials(conn, username.strip().lower())
        if creds is not None and accounts.is_locked(creds.locked_until, now):
            raise ApiError(
                423, "locked", "too many failed logins; try again later or ask an administrator"
            )
        ok, new_hash = (
            accounts.check_password(creds.password_hash, password)
            if creds is not None
            else (False, None)
        )
        if not ok:
            if creds is not None:
                until = accounts.lock_after_failure(creds.failed_logins, now)
                await user_store.record_login_failure(conn, creds.user.id, until)
            raise ApiError(401, "bad_login", "wrong username or password")
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        expires = now + accounts.SESSION_FOR
        await user_store.open_session(conn, creds.user.id, token, csrf, expires, new_hash=new_hash)
    response = web.json_response(_me(creds.user, csrf))
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(accounts.SESSION_FOR.total_seconds()),
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
    )
    return response


async def logout(request: web.Request) -> web.Response:
    token = request.cookies.get(COOKIE)
    if token:
        async with ctx_of(request).pool.acquire() as conn:
            await user_store.close_session(conn, token)
    response = web.json_response({"logged_out": True})
    response.del_cookie(COOKIE, path="/")
    return response


def _me(user: user_store.User, csrf: str | None) -> dict:
    return {
        "username": user.username,
        "name": user.name,
        "role": user.role,
        "scopes": sorted(accounts.ROLE_SCOPES[user.role]),
        "pbx_agent": user.pbx_agent,
        "csrf_token": csrf,
    }


async def me(request: web.Request) -> web.Response:
    user = current_user(request)
    token = request.cookies.get(COOKIE, "")
    async with ctx_of(request).pool.acquire() as conn:
        found = await user_store.session(conn, token, _now())
    return web.json_response(_me(user, found.csrf if found else None))


def routes() -> list[Route]:
    return [
        Route(
            "POST",
            "/api/login",
            login,
            None,
            "Log a person in: sets the session cookie, returns the CSRF token",
            "sessions",
            body=("application/json",),
        ),
        Route("POST", "/api/logout", logout, None, "End the session", "sessions"),
        Route(
            "GET",
            "/api/me",
            me,
            "",
            "The logged-in person: role, scopes, PBX seat and the session's CSRF token",
            "sessions",
        ),
    ]
