"""A runner's bookkeeping beside its calls: recovering orphaned attempts and renewing leases.

Every duration here is in clock seconds (the runner's clock, simulated in the demo); the
loops only poll in real time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

import asyncpg

from dialer_core.campaign.call_io import hang_up
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
    (``dialer_core.ownership``): a live runner's calls are never hung up or closed. A call the
    PBX's dialplan fallback answered with the drop message while pacedial was unreachable
    (``driver.dropped_while_down``) is closed as ``abandoned``: it counts in the ledger and
    the rules' lock-out like any dropped call.
    """
    left = await orphaned_attempts(pool, campaign_id, identity)
    if not left:
        return
    live = await driver.live_calls()
    delay = rules.redial.rule_for("lost").delay
    for row in left:
        dropped = await driver.dropped_while_down(row.call_id)
        if dropped is not None:
            await _close_dropped(pool, row, dropped or now, now, rules, write)
            continue
        if row.call_id in live:
            await hang_up(driver, row.call_id)
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


async def _close_dropped(
    pool: asyncpg.Pool,
    row,
    at: float,
    now: float,
    rules: ComplianceRules,
    write: Callable[[store.AttemptResult], Awaitable[None]],
) -> None:
    """An orphan the dialplan fallback dropped: answered at ``at``, abandoned."""
    async with pool.acquire() as conn:
        await store.mark_state(conn, row.call_id, "answered", _dt(at))
        await store.record_abandon(conn, row.call_id)
    await write(
        store.AttemptResult(
            call_id=row.call_id,
            ended_at=_dt(at),
            disposition="abandoned",
            pbx_result="answered",
            q850_cause=None,
            cause_text="answered while pacedial was down: the PBX played the drop message",
            talk_seconds=0.0,
            next_attempt_at=_dt(now) + rules.redial.rule_for("abandoned").delay,
            abandoned=True,
        )
    )
    log.warning("attempt %s: answered and dropped while pacedial was down", row.call_id)


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
