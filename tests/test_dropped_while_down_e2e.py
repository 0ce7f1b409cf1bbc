"""A debtor answered while pacedial is down hears the drop message from the PBX's dialplan
fallback and is booked ``abandoned`` at pacedial's next start, on both PBXs.

The shipped dialplans (conf/asterisk/extensions.conf, conf/freeswitch/dialplan_dialer.xml)
record the call id when pacedial's answered-call server cannot be reached (AstDB
``pacedial_dropped/<id>``, mod_db realm ``pacedial_dropped``) before playing the drop message;
the simulated PBXs do the same. At the next start the orphan recovery reads and deletes each
entry: the call is ``abandoned`` (answered, in the ledger), the others stay ``lost``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from e2e_rig import PBX_KINDS, attempts_of, rig_for
from virtual_time import in_virtual_time

from dialer_core.campaign.upkeep import recover_orphans
from dialer_core.ownership import RunnerIdentity
from dialer_core.store import attempts as store
from dialer_core.store.ledger import ledger_rows
from dialer_core.store.runners import register_runner
from pbx.model import CallRequest


@pytest.mark.parametrize("pbx", PBX_KINDS)
@in_virtual_time
async def test_calls_answered_while_pacedial_is_down_are_booked_abandoned(db, pbx):
    async with rig_for(pbx, db, agents=2, time_scale=40, seed=8) as rig:
        cid, campaign = await rig.seed_cases(f"down-{pbx}", 24)
        now = datetime.fromtimestamp(rig.clock(), UTC)
        # A runner that launched 24 calls, then died (its heartbeat stopped 2 minutes ago).
        dead = RunnerIdentity("other-host", 4242, datetime.now(UTC) - timedelta(hours=1))
        async with db.acquire() as conn:
            await register_runner(conn, dead.id, dead.host, dead.pid, dead.started_at, cid)
            await conn.execute(
                "UPDATE runners SET heartbeat_at = now() - interval '120 s' WHERE id = $1",
                dead.id,
            )
            contacts = await store.lease_contacts(conn, cid, dead.id, 24, now, timedelta(hours=1))
            ids = [await store.create_attempt(conn, cid, c, dead.id, "", now) for c in contacts]
        await rig.stop_answered()  # pacedial is down: nobody answers FastAGI / the socket
        for call_id, contact in zip(ids, contacts, strict=True):
            request = CallRequest(call_id, contact.e164, campaign.caller_id, ring_timeout=30)
            await rig.driver.originate(request)
        await asyncio.sleep(60 / rig.time_scale)  # a simulated minute: every call is over
        finished = rig.sim.calls_finished
        answered = {r.action_id for r in finished if r.answered}
        answered |= {r.uniqueid for r in finished if r.answered}

        async def write(result: store.AttemptResult) -> None:
            async with db.acquire() as conn:
                await store.finish_attempt(conn, result)

        me = RunnerIdentity.of_this_process()
        await recover_orphans(
            db, rig.driver, cid, me, campaign.compliance, rig.clock(), write
        )  # fmt: skip
        rows = {r["cid"]: r for r in await attempts_of(db, cid)}
        async with db.acquire() as conn:
            ledger = await ledger_rows(conn, cid, now - timedelta(hours=1))
        # Read once: each entry was deleted, so a second start books nothing twice.
        again = [await rig.driver.dropped_while_down(c) for c in ids]
    dropped = [c for c in ids if c in answered]
    assert len(finished) == len(ids) and dropped, (len(finished), len(dropped))
    for call_id in ids:
        row = rows[call_id]
        if call_id in dropped:
            assert (row["disposition"], row["abandoned"]) == ("abandoned", True), dict(row)
            assert row["answered_at"] is not None
        else:
            assert row["disposition"] == "lost", dict(row)
    assert sum(abandons for _, _, abandons in ledger) == len(dropped)
    assert again == [None] * len(ids)
