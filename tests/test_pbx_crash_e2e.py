"""A PBX failure cutting the answered-call links (FastAGI / outbound ESL) of calls that are with
an agent: each is ``agent_talked`` and marked interrupted, never ``abandoned``, on both PBXs.

The simulated PBX aborts the sockets as a dying Asterisk or FreeSWITCH does (no HANGUP line, no
reply, no hangup event); the conversations go on, and the PBX's own control link (AMI / inbound
ESL) reports their ends.
"""

from __future__ import annotations

import asyncio

import pytest
from e2e_rig import PBX_KINDS, attempts_of, rig_for
from virtual_time import in_virtual_time

from dialer_core.campaign.calls import State


@pytest.mark.parametrize("pbx", PBX_KINDS)
@in_virtual_time
async def test_conversations_cut_by_a_pbx_failure_are_agent_talked_not_abandoned(db, pbx):
    cut: set[str] = set()
    async with rig_for(pbx, db, agents=3, time_scale=40, seed=6, agent_talk=120.0) as rig:
        cid, campaign = await rig.seed_cases(f"crash-{pbx}", 60)

        async def crash_once_agents_talk(holder) -> None:
            for _ in range(400):
                await asyncio.sleep(0.05)
                talking = [
                    x.call_id for x in holder[0].inflight.values() if x.state is State.CONNECTED
                ] if holder else []
                if len(talking) >= 2:
                    break
            assert len(talking) >= 2, "no agent conversation to cut"
            cut.update(talking)
            assert rig.cut_answered_links() >= len(talking)

        await rig.run_for(campaign, 8.0, during=crash_once_agents_talk)
        rows = {r["cid"]: r for r in await attempts_of(db, cid)}
    for call_id in cut:
        row = rows[call_id]
        assert row["disposition"] == "agent_talked", (pbx, dict(row))
        assert not row["abandoned"]
        assert row["agent"]
        assert "interrupted" in row["detail"], (pbx, row["detail"])
