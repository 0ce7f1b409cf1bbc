"""AMD that exists: a campaign with ``[amd] enabled`` does not start on a PBX without the
detector (Asterisk without app_amd; FreeSWITCH 1.10 as shipped, without the third-party
mod_amd), so no answered call is ever dropped for want of a module; with it, it dials.
"""

from __future__ import annotations

import pytest
from e2e_rig import PBX_KINDS, attempts_of, campaign_doc, rig_for
from virtual_time import in_virtual_time

from dialer_core.campaign.assembly import AmdMissing
from dialer_core.campaign.config import parse_campaign
from pbx.sim.admin import AdminConfig

AMD_MODULE = {"asterisk": "app_amd", "freeswitch": "mod_amd"}


@pytest.mark.parametrize("pbx", PBX_KINDS)
@in_virtual_time
async def test_a_campaign_with_amd_refuses_to_start_on_a_pbx_without_the_detector(db, pbx):
    modules = tuple(m for m in AdminConfig().modules if m != AMD_MODULE[pbx])
    async with rig_for(pbx, db, agents=2, time_scale=40, admin=AdminConfig(modules)) as rig:
        cid, _ = await rig.seed_cases(f"amd-missing-{pbx}", 20)
        doc = {**campaign_doc(f"amd-missing-{pbx}"), "amd": {"enabled": True}}
        campaign = parse_campaign(doc, "test campaign")
        with pytest.raises(AmdMissing, match=f"amd-missing-{pbx}.*{AMD_MODULE[pbx]}"):
            await rig.run_for(campaign, 1.0)
        assert rig.originates_received == []
        assert await attempts_of(db, cid) == []
        # Without [amd] the same campaign dials: only the detector was missing.
        plain = parse_campaign(campaign_doc(f"amd-missing-{pbx}"), "test campaign")
        await rig.run_for(plain, 1.0)
        assert rig.originates_received


@in_virtual_time
async def test_the_simulated_freeswitch_without_mod_amd_hangs_up_as_the_capture_shows(db):
    """``execute amd`` on a FreeSWITCH without mod_amd: the call is hung up with
    DESTINATION_OUT_OF_ORDER (``outbound_execute_missing_app.txt``) — what the check prevents."""
    modules = tuple(m for m in AdminConfig().modules if m != "mod_amd")
    admin = AdminConfig(modules)
    async with rig_for("freeswitch", db, agents=2, time_scale=40, admin=admin) as rig:
        cid, _ = await rig.seed_cases("amd-unchecked", 20)
        doc = {**campaign_doc("amd-unchecked"), "amd": {"enabled": True}}
        campaign = parse_campaign(doc, "test campaign")
        rig.driver.amd_missing = _nothing_missing  # as if the start-up check were skipped
        await rig.run_for(campaign, 3.0)
        rows = await attempts_of(db, cid)
    answered = [r for r in rows if r["answered_at"] is not None]
    assert answered and all(r["q850_cause"] == 27 for r in answered)  # DESTINATION_OUT_OF_ORDER
    assert not any(r["disposition"] == "agent_talked" for r in rows)


async def _nothing_missing() -> str:
    return ""
