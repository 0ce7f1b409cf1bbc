"""Users and their browser sessions: all SQL for people who log in.

Passwords arrive here already hashed (dialer_core.accounts hashes them); session tokens are
stored as their SHA-256 so a copy of the table opens no session.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import asyncpg

ROLES = ("agent", "account_manager", "supervisor", "admin")


class UserError(ValueError):
    """A user that cannot be created or changed as asked (the message says why)."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    role: str
    pbx_agent: str | None
    phone: str | None
    active: bool

    @property
    def name(self) -> str:
        """What the floor shows: the display name, else the username."""
        return self.display_name or self.username


@dataclass(frozen=True)
class Credentials:
    user: User
    password_hash: str
    failed_logins: int
    locked_until: dt.datetime | None


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str
    expires_at: dt.datetime


_USER_COLS = "u.id, u.username, u.display_name, u.role, u.pbx_agent, u.phone, u.active"


def _user(row: asyncpg.Record) -> User:
    return User(
        row["id"],
        row["username"],
        row["display_name"],
        row["role"],
        row["pbx_agent"],
        row["phone"],
        row["active"],
    )


def token_digest(token: str) -> bytes:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode()).digest()


async def create_user(
    conn: asyncpg.Connection,
    username: str,
    role: str,
    password_hash: str,
    *,
    display_name: str = "",
    pbx_agent: str | None = None,
    phone: str | None = None,
) -> User:
    """A new user; an agent or account manager also becomes an account manager of that name.

    Human dispositions are stored against the ``managers`` row (notes, promises, tasks), so the
    reports count an agent's promises the way they count an account manager's.
    """
    if role not in ROLES:
        raise UserError(f"role: expected one of {', '.join(ROLES)}, got {role!r}")
    if role == "agent" and not pbx_agent:
        raise UserError("an agent needs a PBX seat (queue member interface or callcenter agent)")
    async with conn.transaction():
        try:
            row = await conn.fetchrow(
                f"""INSERT INTO users AS u (username, display_name, role, password_hash,
                                            pbx_agent, phone)
                    VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_USER_COLS}""",
                username,
                display_name,
                role,
                password_hash,
                pbx_agent,
                phone,
            )
        except asyncpg.UniqueViolationError as exc:
            what = "PBX seat" if "pbx_agent" in str(exc) else "username"
            raise UserError(f"{what} already taken") from None
        except asyncpg.CheckViolationError:
            raise UserError(
                f"username {username!r}: lower-case letters, digits, '.', '_' or '-'"
            ) from None
        if role in ("agent", "account_manager"):
            await conn.execute(
                """INSERT INTO managers (name, display_name) VALUES ($1, $2)
                   ON CONFLICT (name) DO NOTHING""",
                username,
                display_name,
            )
    return _user(row)


async def list_users(conn: asyncpg.Connection) -> list[User]:
    """Every user, by username."""
    rows = await conn.fetch(f"SELECT {_USER_COLS} FROM users u ORDER BY u.username")
    return [_user(r) for r in rows]


async def set_password(conn: asyncpg.Connection, username: str, password_hash: str) -> None:
    """Replace a password; unlocks the account and ends its sessions."""
    uid = await conn.fetchval(
        """UPDATE users SET password_hash = $2, failed_logins = 0, locked_until = NULL
           WHERE username = $1 RETURNING id""",
        username,
        password_hash,
    )
    if uid is None:
        raise UserError(f"no user named {username!r}")
    await conn.execute("DELETE FROM user_sessions WHERE user_id = $1", uid)


async def credentials(conn: asyncpg.Connection, username: str) -> Credentials | None:
    """What a login is checked against; None for an unknown or deactivated user."""
    row = await conn.fetchrow(
        f"""SELECT {_USER_COLS}, u.password_hash, u.failed_logins, u.locked_until
            FROM users u WHERE u.username = $1 AND u.active""",
        username,
    )
    if row is None:
        return None
    return Credentials(_user(row), row["password_hash"], row["failed_logins"], row["locked_until"])


async def record_login_failure(
    conn: asyncpg.Connection, user_id: int, locked_until: dt.datetime | None
) -> None:
    """Count a failed login; with ``locked_until`` lock the account and restart the count."""
    await conn.execute(
        """UPDATE users SET failed_logins = CASE WHEN $2::timestamptz IS NULL
                                                 THEN failed_logins + 1 ELSE 0 END,
                            locked_until = coalesce($2, locked_until)
           WHERE id = $1""",
        user_id,
        locked_until,
    )


async def open_session(
    conn: asyncpg.Connection,
    user_id: int,
    token: str,
    csrf: str,
    expires_at: dt.datetime,
    *,
    new_hash: str | None = None,
) -> None:
    """A new session after a good login: failures reset, an updated hash stored if given."""
    async with conn.transaction():
        await conn.execute(
            """UPDATE users SET failed_logins = 0, locked_until = NULL,
                                password_hash = coalesce($2, password_hash)
               WHERE id = $1""",
            user_id,
            new_hash,
        )
        await conn.execute(
            """INSERT INTO user_sessions (token_sha256, user_id, csrf, expires_at)
               VALUES ($1, $2, $3, $4)""",
            token_digest(token),
            user_id,
            csrf,
            expires_at,
        )


async def session(conn: asyncpg.Connection, token: str, now: dt.datetime) -> Session | None:
    """The live session of ``token`` (not expired, user still active), or None."""
    row = await conn.fetchrow(
        f"""SELECT {_USER_COLS}, s.csrf, s.expires_at
            FROM user_sessions s JOIN users u ON u.id = s.user_id
            WHERE s.token_sha256 = $1 AND s.expires_at > $2 AND u.active""",
        token_digest(token),
        now,
    )
    if row is None:
        return None
    return Session(_user(row), row["csrf"], row["expires_at"])


async def close_session(conn: asyncpg.Connection, token: str) -> None:
    """Log out: the session is gone."""
    await conn.execute("DELETE FROM user_sessions WHERE token_sha256 = $1", token_digest(token))


async def purge_sessions(conn: asyncpg.Connection, now: dt.datetime) -> int:
    """Delete expired sessions; how many."""
    status = await conn.execute("DELETE FROM user_sessions WHERE expires_at <= $1", now)
    return int(status.split()[-1])


async def users_by_seat(conn: asyncpg.Connection) -> dict[str, User]:
    """Agents by their PBX seat, for naming the floor's agent board."""
    rows = await conn.fetch(f"SELECT {_USER_COLS} FROM users u WHERE u.pbx_agent IS NOT NULL")
    return {r["pbx_agent"]: _user(r) for r in rows}
