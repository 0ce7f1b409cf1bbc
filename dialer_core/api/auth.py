"""Bearer tokens with scopes (read, control, pii), and the rule that an open API stays local.

With no token configured every request gets ``read`` and ``control`` (never ``pii``), and the
server refuses to bind anything but a loopback address (:func:`check_bind`).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from dialer_core.api.errors import ApiError
from dialer_core.api.table import CONTROL, PII, READ, SCOPES

ANONYMOUS_SCOPES = frozenset({READ, CONTROL})
SCOPES_KEY: web.RequestKey[frozenset] = web.RequestKey("pacedial_scopes", frozenset)


class InsecureBind(ValueError):
    """Asked to listen on a non-loopback address without any token configured."""


@dataclass(frozen=True)
class TokenTable:
    """Tokens and the scopes each grants. Empty: no authentication (loopback only)."""

    tokens: Mapping[str, frozenset[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls, token: str | None = None, tokens: Mapping[str, Iterable[str]] | None = None
    ) -> TokenTable:
        """``token`` gets every scope; ``tokens`` maps more tokens to their scopes."""
        table: dict[str, frozenset[str]] = {}
        if token:
            table[token] = frozenset(SCOPES)
        for tok, scopes in (tokens or {}).items():
            bad = set(scopes) - set(SCOPES)
            if not tok or bad:
                raise ValueError(
                    f"API token scopes: expected {', '.join(SCOPES)}, got {sorted(bad)}"
                )
            table[tok] = frozenset(scopes)
        return cls(table)

    @property
    def enabled(self) -> bool:
        return bool(self.tokens)

    def scopes_for(self, request: web.Request) -> frozenset[str]:
        """The scopes of the request's bearer token; 401 when it is missing or unknown."""
        if not self.enabled:
            return ANONYMOUS_SCOPES
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise ApiError(401, "unauthorized", "missing 'Authorization: Bearer <token>' header")
        presented_b = presented.strip().encode()
        found: frozenset[str] | None = None
        for tok, scopes in self.tokens.items():  # compare with every token: constant time
            if hmac.compare_digest(tok.encode(), presented_b):
                found = scopes
        if found is None:
            raise ApiError(401, "unauthorized", "unknown API token")
        return found


def require(scopes: frozenset[str], needed: str | None) -> None:
    """403 unless ``needed`` is among ``scopes``."""
    if needed is not None and needed not in scopes:
        raise ApiError(403, "forbidden", f"this token lacks the {needed!r} scope")


def has_pii(request: web.Request) -> bool:
    """True when the caller may see full phone numbers and names."""
    return PII in request.get(SCOPES_KEY, frozenset())


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tokens: TokenTable) -> None:
    """Refuse to serve an unauthenticated API on anything but loopback."""
    if not tokens.enabled and not is_loopback(host):
        raise InsecureBind(
            f"refusing to bind the API to {host}: no API token is configured "
            "(set [api] token in the site file or PACEDIAL_API_TOKEN, or bind 127.0.0.1)"
        )
