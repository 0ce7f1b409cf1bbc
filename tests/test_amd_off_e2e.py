"""AMD turned off per call by the pacing policy (pacing.amd_plan), end to end on the simulated
PBXs in virtual time: the Originate carries ``PACEDIAL_AMD=off``, the answered-call handler
skips the detector and hands the answer to an agent; the same campaign with no false positives
to plan for runs AMD on every answer.
"""

from __future__ import annotations

import pytest
from e2e_rig import PBX_KINDS, attempts_of, campaign_doc, rig_for
from law_audit import is_abandoned, is_live, law_findings
from virtual_time import in_virtual_time

from dialer_core.campaign.config import parse_campaign


def _doc(name: str, fp: float) -> dict:
    doc = campaign_doc(name, mode="predictive", amd_false_positive_rate=fp)
    return {**doc, "amd": {"enabled": True}}


async def _amd_rows(db, cid: int) -> int:
    async with db.acquire() as conn:
        return await conn.fetchval(
            """SELECT count(*) FROM amd_decisions d JOIN attempts a ON a.call_id = d.call_id
               WHERE a.campaign_id = $1""",
            cid,
        )


@pytest.mark.parametrize("pbx", PBX_KINDS)
@in_virtual_time
async def test_a_call_placed_with_amd_off_reaches_an_agent_without_the_detector(db, pbx):
    async with rig_for(pbx, db, agents=3, time_scale=40) as rig:
        # 20 % false positives on a new campaign's 34 assumed answers: not one fits the
        # hour's budget, so the policy turns AMD off on every call
        cid, _ = await rig.seed_cases(f"amd-off-{pbx}", 30)
        campaign = parse_campaign(_doc(f"amd-off-{pbx}", 0.2), "test campaign")
        runner = await rig.run_for(campaign, 2.0)
        assert runner.policy.amd_off_share == 1.0
        rows = await attempts_of(db, cid)
        assert any(r["disposition"] == "agent_talked" for r in rows)
        assert await _amd_rows(db, cid) == 0  # the detector never ran
        assert await law_findings(db, [f"amd-off-{pbx}"], "cn") == []
        async with db.acquire() as conn:  # the outside audit's reading of those calls
            audited = await conn.fetch(
                "SELECT a.*, NULL AS amd, NULL AS truth FROM attempts a WHERE a.campaign_id = $1",
                cid,
            )
        for r in audited:  # an answer with no verdict is live; dropped, it is abandoned
            if r["answered_at"] is not None:
                assert is_live(r) and is_abandoned(r) == (r["disposition"] == "abandoned")

        cid, _ = await rig.seed_cases(f"amd-on-{pbx}", 30)
        campaign = parse_campaign(_doc(f"amd-on-{pbx}", 0.0), "test campaign")
        runner = await rig.run_for(campaign, 2.0)
        assert runner.policy.amd_off_share == 0.0
        answered = [r for r in await attempts_of(db, cid) if r["answered_at"] is not None]
        assert answered and await _amd_rows(db, cid) > 0  # AMD heard the answers
