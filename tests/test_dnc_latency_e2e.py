"""A DNC entry added while a campaign runs is honoured within 1 s: no Originate to a listed
number reaches the (simulated) PBX more than 1 s after the entry was written, timed on the
PBX's own clock."""

from __future__ import annotations

import asyncio

from e2e_rig import rig_for
from virtual_time import in_virtual_time

from dialer_core.store.dnc import add_entry

LIMIT = 1.0


@in_virtual_time
async def test_a_dnc_entry_stops_originates_within_one_second(db):
    # Scale 10: the runner's launch rounds (one per loop tick) are close to a real site's.
    async with rig_for("asterisk", db, agents=3, time_scale=10.0) as rig:
        cid, campaign = await rig.seed_cases("dnc-latency", 40)
        listed: list[float] = []

        async def list_everyone(_runners) -> None:
            await asyncio.sleep(4.5)  # 45 simulated s: the campaign is dialing
            async with db.acquire() as conn:
                await add_entry(conn, "+86*", "global", "test: every demo number")
            listed.append(rig.clock())

        runner = await rig.run_for(campaign, 6.0, during=list_everyone)
        originates = [m for m in rig.sim.queue.timeline.marks if m.what == "originate"]
    at = listed[0]
    before = [m for m in originates if m.at <= at]
    late = [(m.at - at, m.detail[-4:]) for m in originates if m.at > at + LIMIT]
    async with db.acquire() as conn:
        waiting = await conn.fetchval("SELECT count(*) FROM schedule WHERE campaign_id = $1", cid)
    print(f"\n{len(before)} originates before the entry, {len(originates) - len(before)} after")
    assert len(before) >= 5, "the campaign was dialing when the number was listed"
    assert waiting > 0, "cases were left to dial after the entry"
    # The runner did try to go on dialing: the rules stopped the listed numbers.
    assert runner.stats.held_by_rules.get("dnc", 0) > 0, runner.stats.held_by_rules
    assert late == [], f"originates more than {LIMIT} s after the DNC entry: {late}"
