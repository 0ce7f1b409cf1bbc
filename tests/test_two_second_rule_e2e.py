"""The 2-second rule from the end of the greeting, timed on the simulated PBX's own clock.

With AMD on, every agent connection and the start of every drop message fall within 2.0 s of
the AMD verdict (AMD's listening time is never added on top), on both PBX kinds: app_queue's
whole-second timeout on Asterisk, the dialer's own deadline (exit key) on FreeSWITCH.
"""

from __future__ import annotations

import pytest
from e2e_rig import PBX_KINDS, attempts_of, campaign_doc, rig_for
from law_audit import law_findings
from virtual_time import in_virtual_time

from agi_scripts.queue import agent_window
from dialer_core.campaign.config import parse_campaign
from dialer_core.cases_csv import parse_cases_csv
from dialer_core.demo_data import demo_cases_csv
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases

RULE = 2.0
EPS = 1e-6  # float rounding of the simulated epoch seconds


@pytest.mark.parametrize("pbx", PBX_KINDS)
@in_virtual_time
async def test_connects_and_drop_messages_start_within_2s_of_the_amd_verdict(db, pbx):
    # Two members, one of whom never picks up (``phantom``): calls offered to the other reach
    # an agent, calls offered to the phantom wait out the 2 s and get the drop message.
    async with rig_for(
        pbx, db, agents=2, phantom=1, time_scale=40, agent_talk=40.0, wrapuptime=2
    ) as rig:
        name = f"two-seconds-{pbx}"
        doc = {**campaign_doc(name), "amd": {"enabled": True}}
        campaign = parse_campaign(doc, "test campaign")
        parsed = parse_cases_csv(demo_cases_csv(30, seed=11))
        async with db.acquire() as conn:
            cid = await ensure_campaign(conn, name, campaign.mode, campaign.raw)
            await import_cases(conn, cid, parsed.rows, parsed.errors, "demo")
        await rig.run_for(campaign, 15.0)  # 10 simulated minutes
        timeline = rig.sim.queue.timeline
    rows = {r["cid"]: r for r in await attempts_of(db, cid)}
    drop = campaign.compliance.abandon.prompt
    connected = dropped = 0
    for verdict in [m for m in timeline.marks if m.what == "amd" and m.detail == "HUMAN"]:
        marks = [m for m in timeline.of(verdict.call_id) if m.at >= verdict.at]
        agent = [m for m in marks if m.what == "agent"]
        drops = [m for m in marks if m.what == "play" and drop in m.detail]
        deadline = verdict.at + RULE + EPS
        for m in agent + drops:
            assert m.at <= deadline, (pbx, m.what, m.at - verdict.at)
        connected += bool(agent)
        if drops:
            dropped += 1
            assert rows[verdict.call_id]["abandoned"], "a drop message is an abandoned call"
            # The window was used, not cut short: app_queue waits whole seconds.
            assert drops[0].at >= verdict.at + 1.0 - EPS
    # ... and the reverse: every abandoned call got the drop message (the law's message on
    # abandon), and the outside auditor's checker finds nothing (cn preset).
    for r in rows.values():
        if r["abandoned"]:
            plays = [m for m in timeline.of(r["cid"]) if m.what == "play" and drop in m.detail]
            assert plays, ("abandoned without the drop message", r["cid"])
    assert await law_findings(db, [name], "cn") == []
    print(f"\n{pbx}: {connected} connected, {dropped} drop messages, all within {RULE} s")
    assert connected >= 2 and dropped >= 2


def test_the_agent_window_runs_from_the_verdict_and_only_shrinks():
    assert agent_window(100.0, 100.0, 2.0) == 2.0
    assert agent_window(100.0, 100.4, 2.0) == pytest.approx(1.6)  # routing time comes off
    assert agent_window(100.0, 103.0, 2.0) == 0.0  # nothing left: the drop message at once
