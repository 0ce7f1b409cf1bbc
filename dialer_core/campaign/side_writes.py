"""Writing a call's progress and the handler's facts (AMD, recording, abandon) as they happen.

These writes are advisory: the final result carries what matters, so a failed one is logged
and dropped (the abandon flag, for one, is written again with the result).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import asyncpg

from dialer_core.campaign import calls as c
from dialer_core.store import attempts as store
from dialer_core.store.database import DATABASE_ERRORS

log = logging.getLogger(__name__)
SideWrite = c.Progress | c.RecordAmd | c.RecordRecording | c.RecordAbandon


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


async def write_side(pool: asyncpg.Pool, call_id: str, e: SideWrite) -> None:
    """Perform one advisory write for ``call_id``; a database error is logged, not raised."""
    try:
        async with pool.acquire() as conn:
            if isinstance(e, c.Progress):
                await store.mark_state(conn, call_id, e.state, _dt(e.at))
            elif isinstance(e, c.RecordAmd):
                await store.record_amd(conn, call_id, e.status, e.cause, e.action, _dt(e.at))
            elif isinstance(e, c.RecordRecording):
                await store.record_recording(conn, call_id, e.path, _dt(e.at))
            else:
                await store.record_abandon(conn, call_id)
    except DATABASE_ERRORS as exc:
        log.warning("could not record %s for call %s: %s", type(e).__name__, call_id, exc)
