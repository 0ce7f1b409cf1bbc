"""A runner's bookkeeping beside its calls: recovering orphaned attempts and renewing leases.

Every duration here is in clock seconds (the runner's clock, simulated in the demo); the
loops only poll in real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

import asyncpg

from dialer_core.compliance.rules import ComplianceRules
from dialer_core.ownership import RunnerIdentity, orphaned_attempts
from dialer_core.store import attempts as store
from dialer_core.store.database import DATABASE_ERRORS
from pbx.driver import PbxDriver

log = logging.getLogger(__name__)
POLL = 0.5  # real seconds between looks at the clock


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


async def recover_orphans(
    pool: asyncpg.Pool,
    driver: PbxDriver,
    campaign_id: int,
    identity: RunnerIdentity,
    rules: ComplianceRules,
    now: float,
    write: Callable[[store.AttemptResult], Awaitable[None]],
) -> None:
    """Open attempts of runners that are gone are closed as 'lost' and redialed.

    Only attempts whose runner stopped, stopped beating or died on this host are touched
    (``dialer_core.ownership``): a live runner's calls are never hung up or closed.
    """
    left = await orphaned_attempts(pool, campaign_id, identity)
    if not left:
        return
    live = await driver.live_calls()
    delay = rules.redial.rule_for("lost").delay
    for row in left:
        if row.call_id in live:
            with contextlib.suppress(Exception):
                await driver.hangup(row.call_id)
        await write(
            store.AttemptResult(
                call_id=row.call_id,
                ended_at=_dt(now),
                disposition="lost",
                pbx_result="unknown",
                q850_cause=None,
                cause_text=f"open when runner {row.runner} stopped",
                talk_seconds=0.0,
                next_attempt_at=_dt(now) + delay,
            )
        )
        log.warning("closed attempt %s left open by runner %s", row.call_id, row.runner)


async def renew_leases_forever(
    pool: asyncpg.Pool,
    runner_id: str,
    lease: float,
    clock: Callable[[], float],
    cases: Callable[[], Iterable[int]],
) -> None:
    """Every quarter lease (clock seconds), extend the leases of the cases in flight."""
    every = max(1.0, lease / 4)
    due = clock() + every
    while True:
        await asyncio.sleep(POLL)
        now = clock()
        if now < due:
            continue
        due = now + every
        in_flight = list(cases())
        if not in_flight:
            continue
        try:
            async with pool.acquire() as conn:
                await store.renew_leases(conn, runner_id, in_flight, _dt(now + lease))
        except DATABASE_ERRORS as exc:
            log.warning("lease renewal failed: %s", exc)
