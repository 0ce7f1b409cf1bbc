"""On the simulated FreeSWITCH, matched to the captures (callcenter completes at the agent's
answer, mod_callcenter bridges the call away from the socket): an agent conversation of N
seconds is recorded with N seconds of talk. Before the fix every agent call was hung up
~0.2 s after the agent picked up.
"""

from __future__ import annotations

from e2e_rig import attempts_of, rig_for
from virtual_time import in_virtual_time


@in_virtual_time
async def test_an_agent_conversation_of_n_seconds_is_recorded_with_n_seconds_of_talk(db):
    async with rig_for("freeswitch", db, agents=3, time_scale=40, seed=3, agent_talk=90.0) as rig:
        cid, campaign = await rig.seed_cases("fs-talk", 80)
        await rig.run_for(campaign, 10.0)
        timeline = rig.sim.queue.timeline
        rows = await attempts_of(db, cid)
    talked = [r for r in rows if r["disposition"] == "agent_talked"]
    assert len(talked) >= 5
    for r in talked:
        connected = [m.at for m in timeline.of(r["cid"]) if m.what == "agent"]
        assert len(connected) == 1, r["cid"]
        conversation = r["ended_at"].timestamp() - connected[0]  # N: agent's answer to hang-up
        before = connected[0] - r["answered_at"].timestamp()  # answer → agent (AMD, queue)
        assert conversation > 5.0, conversation  # not cut at the agent's answer
        # billsec (the PBX's own answer-to-hang-up) = the time before the agent + N.
        assert abs(r["talk_seconds"] - (before + conversation)) <= 1.0, (
            r["talk_seconds"],
            before,
            conversation,
        )
