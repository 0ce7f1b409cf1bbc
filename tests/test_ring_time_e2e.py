"""The ring time the law counts runs from the first ring: an unanswered call rings the
campaign's whole ``ring_timeout`` after its first ring, whatever the delay before it, and is
closed as no answer when pacedial hangs it up (47 CFR 64.1200(a)(6), Ofcom: 15 s)."""

from __future__ import annotations

import asyncio

import pytest
from e2e_rig import PBX_KINDS, attempts_of, rig_for
from virtual_time import in_virtual_time

from dialer_core.campaign import calls as c
from dialer_core.face.service import run_campaign
from pbx.sim import CalleeConfig, CalleeMix


@pytest.mark.parametrize("pbx", PBX_KINDS)
@in_virtual_time
async def test_an_unanswered_call_rings_the_full_ring_time_from_its_first_ring(db, pbx):
    callees = CalleeConfig(mix=CalleeMix.only(human=0.3, no_answer=0.7))
    async with rig_for(pbx, db, agents=3, time_scale=1, callees=callees) as rig:
        cid, campaign = await rig.seed_cases(f"ring-{pbx}", 80)
        # Real speed (time scale 1), in virtual time: the runner's ring timer and the PBX's
        # clock tick together; the stop's drain may take minutes of talk.
        stop, holder = asyncio.Event(), []
        task = asyncio.create_task(
            run_campaign(db, rig.driver, campaign, rig.registry, stop, holder, clock=rig.clock)
        )
        await asyncio.sleep(150)
        stop.set()
        await asyncio.wait_for(task, 900)
        runner = holder[0]
        rows = await attempts_of(db, cid)
    unanswered = [r for r in rows if r["disposition"] == "no_answer"]
    assert len(unanswered) >= 3, [r["disposition"] for r in rows]
    for r in unanswered:
        rang = (r["ended_at"] - r["ringing_at"]).total_seconds()
        # Hung up by the runner once the ring time had passed, before the PBX's own give-up
        # (ring time + the allowance for the delay before the first ring).
        assert campaign.ring_timeout <= rang < campaign.ring_timeout + 2, (r["cid"], rang)
        assert r["pbx_result"] == "no_answer"
    assert runner.stats.rang_out == len(unanswered)
    assert c.RING_START_ALLOWANCE >= 5  # the post-dial delay of real lines (REFERENCE: 2-5 s)
