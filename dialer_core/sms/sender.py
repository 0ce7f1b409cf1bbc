"""POST one reminder to the centre's SMS gateway webhook, with retries and exponential backoff.

2xx: sent. 408, 429, 5xx, a timeout or a connection error: retried after the next backoff delay
(a ``Retry-After`` in seconds lengthens the wait, up to a minute); when the delays run out the
message gave up. Any other status (400 invalid number, 401 bad token, 3xx …) fails at once: a
retry would get the same answer. Every POST of one message carries the same
``Idempotency-Key`` so a gateway can drop duplicates after a lost answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
from yarl import URL

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({408, 429})
MAX_RETRY_AFTER = 60.0
SENT, FAILED, GAVE_UP = "sent", "failed", "gave_up"


@dataclass(frozen=True)
class SendOutcome:
    """How one message ended: status, POSTs made, the last HTTP status, the last error."""

    status: str  # sent | failed | gave_up
    tries: int
    response_code: int | None
    error: str = ""


def _retryable(status: int) -> bool:
    return status >= 500 or status in RETRY_STATUSES


def _retry_after(headers: Mapping[str, str]) -> float:
    try:
        return min(max(float(headers.get("Retry-After", "0")), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return 0.0  # an HTTP date: keep our own backoff


async def post_with_retries(
    session: aiohttp.ClientSession,
    url: str,
    payload: Mapping[str, Any],
    *,
    delays: Sequence[timedelta],
    timeout: float,
    idempotency_key: str,
    token: str = "",
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> SendOutcome:
    """POST ``payload`` as JSON until the gateway accepts or refuses it, or ``delays`` run out.

    ``delays[k]`` is the wait before POST number k+2, so at most ``len(delays) + 1`` POSTs.
    """
    headers = {"Idempotency-Key": idempotency_key}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    host = URL(url).host
    code: int | None = None
    error = ""
    for attempt in range(len(delays) + 1):
        extra_wait = 0.0
        try:
            async with session.post(
                url,
                json=dict(payload),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
            ) as resp:
                code = resp.status
                body = (await resp.text(errors="replace"))[:200]
                if 200 <= code < 300:
                    return SendOutcome(SENT, attempt + 1, code)
                error = f"HTTP {code} from {host}: {body.strip()}"
                if not _retryable(code):
                    return SendOutcome(FAILED, attempt + 1, code, error)
                extra_wait = _retry_after(resp.headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            code = None
            error = f"{type(exc).__name__} talking to {host}: {exc}".rstrip(": ")
        if attempt < len(delays):
            wait = max(delays[attempt].total_seconds(), extra_wait)
            log.info(
                "sms %s: try %d failed (%s); retrying in %.1fs",
                idempotency_key,
                attempt + 1,
                error,
                wait,
            )
            await sleep(wait)
    return SendOutcome(GAVE_UP, len(delays) + 1, code, error)
