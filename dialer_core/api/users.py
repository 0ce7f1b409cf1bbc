"""User administration: list people and create them (admin role or an admin-scoped token)."""

from __future__ import annotations

from aiohttp import web

from dialer_core import accounts
from dialer_core.api.context import ctx_of
from dialer_core.api.errors import ApiError, field, read_json_object
from dialer_core.api.table import ADMIN, Route
from dialer_core.store import users as user_store

TAG = "users"


def _out(user: user_store.User) -> dict:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "pbx_agent": user.pbx_agent,
        "active": user.active,
    }


async def list_users(request: web.Request) -> web.Response:
    async with ctx_of(request).pool.acquire() as conn:
        found = await user_store.list_users(conn)
    return web.json_response({"users": [_out(u) for u in found]})


async def create_user(request: web.Request) -> web.Response:
    doc = await read_json_object(request)
    username = field(doc, "username", str).strip().lower()
    role = field(doc, "role", str)
    try:
        password_hash = accounts.hash_password(field(doc, "password", str))
    except accounts.WeakPassword as exc:
        raise ApiError(400, "invalid_field", f"body.{exc}") from None
    async with ctx_of(request).pool.acquire() as conn:
        try:
            user = await user_store.create_user(
                conn,
                username,
                role,
                password_hash,
                display_name=field(doc, "display_name", str, required=False, default=""),
                pbx_agent=field(doc, "pbx_agent", str, required=False, default=None),
                phone=field(doc, "phone", str, required=False, default=None),
            )
        except user_store.UserError as exc:
            raise ApiError(409 if "taken" in str(exc) else 400, "invalid_user", str(exc)) from None
    return web.json_response(_out(user), status=201)


def routes() -> list[Route]:
    return [
        Route("GET", "/api/users", list_users, ADMIN, "People who can log in", TAG),
        Route(
            "POST",
            "/api/users",
            create_user,
            ADMIN,
            "Create a person: username, role, password, PBX seat (agents), phone",
            TAG,
            body=("application/json",),
            status=201,
        ),
    ]
