"""People's passwords and what each role may do: argon2id hashing and the lock-out rule.

Pure apart from the hashing itself (argon2-cffi, the reference implementation's bindings):
time is passed in.
"""

from __future__ import annotations

import datetime as dt

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MAX_FAILURES = 5  # consecutive failed logins before the account locks
LOCK_FOR = dt.timedelta(minutes=15)
SESSION_FOR = dt.timedelta(hours=12)  # one shift
MIN_PASSWORD = 10

# What each role's session may do (scopes of dialer_core.api.table). Agents see the case on
# their own call, never the lists; account managers and supervisors see personal data.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "agent": frozenset({"agent"}),
    "account_manager": frozenset({"read", "pii"}),
    "supervisor": frozenset({"read", "control", "pii"}),
    "admin": frozenset({"read", "control", "admin"}),
}

_hasher = PasswordHasher()


class WeakPassword(ValueError):
    """A password too short to accept."""


def hash_password(password: str) -> str:
    """The argon2id hash to store; refuses passwords shorter than MIN_PASSWORD."""
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(f"password: at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def check_password(stored: str, password: str) -> tuple[bool, str | None]:
    """(matches, new hash if the stored one uses outdated parameters)."""
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    return True, _hasher.hash(password) if _hasher.check_needs_rehash(stored) else None


def is_locked(locked_until: dt.datetime | None, now: dt.datetime) -> bool:
    """True while a lock-out is in force."""
    return locked_until is not None and now < locked_until


def lock_after_failure(failed_before: int, now: dt.datetime) -> dt.datetime | None:
    """When this failure is the MAX_FAILURES-th in a row: the time the lock ends."""
    return now + LOCK_FOR if failed_before + 1 >= MAX_FAILURES else None
