"""Agents with app_queue's / mod_callcenter's wrap-up (30 s, the shipped queues.conf) over 1.25
simulated hours: the pacer sees them unavailable until the wrap-up ends, so abandonment stays
within 3% of live calls in every rolling hour, progressive and predictive, on both PBXs. With a
wrong agent count (members the PBX reports free who never pick up) the abandonment brake holds
the rate and the campaign pauses with the alarm naming the agent picture.

Before wrap-up was learned from the PBX, a real Asterisk with this queue abandoned ~70%. Both
run in virtual time (``tests/virtual_time.py``): machine load cannot change what happens.
"""

from __future__ import annotations

import pytest
from e2e_rig import PBX_KINDS, attempts_of, campaign_doc, rig_for
from virtual_time import in_virtual_time

from dialer_core.campaign.config import parse_campaign
from dialer_core.pacing.brake import CAUSE_AGENTS

HOUR = 3600.0
SCALE = 60.0  # one simulated minute per (virtual) second
RUN = 1.25 * HOUR


def worst_rolling_hour(rows, start: float) -> tuple[float, int, int]:
    """The highest abandoned / live-answered share over every full hour ending at a live
    answer (start + 1 h onwards), and the totals over the run."""
    live = sorted(
        (r["answered_at"].timestamp(), r["disposition"] == "abandoned")
        for r in rows
        if r["answered_at"] is not None and r["disposition"] in ("agent_talked", "abandoned")
    )
    worst = 0.0
    for i, (end, _) in enumerate(live):
        if end >= start + HOUR:
            window = [a for t, a in live[: i + 1] if t > end - HOUR]
            worst = max(worst, sum(window) / len(window))
    return worst, sum(a for _, a in live), len(live)


@pytest.mark.parametrize("pbx", PBX_KINDS)
@pytest.mark.parametrize("mode", ["progressive", "predictive"])
@in_virtual_time
async def test_wrapup_30_keeps_abandonment_within_3_percent_every_rolling_hour(db, pbx, mode):
    async with rig_for(
        pbx, db, agents=6, time_scale=SCALE, seed=4, agent_talk=60.0, wrapuptime=30.0
    ) as rig:
        cid, _ = await rig.seed_cases(f"wrap-{mode}", 900)
        pacing = {"mode": mode, "lines_per_agent": 1.0}
        campaign = parse_campaign(campaign_doc(f"wrap-{mode}", **pacing), "t")
        start = rig.clock()
        await rig.run_for(campaign, RUN / SCALE)
        rows = await attempts_of(db, cid)
    worst, abandoned, live = worst_rolling_hour(rows, start)
    # Enough live calls that the hour means something: 6 agents, ~90 s per call + wrap-up.
    assert live >= 150, (live, abandoned)
    assert worst <= 0.03, (worst, abandoned, live)


@pytest.mark.parametrize("pbx", PBX_KINDS)
@pytest.mark.parametrize("mode", ["progressive", "predictive"])
@in_virtual_time
async def test_wrong_agent_count_brake_holds_and_the_campaign_pauses_with_the_alarm(db, pbx, mode):
    """8 members reported free, 5 of them never pick up: every call offered to one of those is
    abandoned. The brake cuts dialing, the alarm names the agent picture, the campaign pauses
    and launches nothing more."""
    async with rig_for(
        pbx, db, agents=8, phantom=5, time_scale=SCALE, seed=4, agent_talk=60.0, wrapuptime=30.0
    ) as rig:
        cid, _ = await rig.seed_cases(f"phantom-{mode}", 300)
        pacing = {"mode": mode, "lines_per_agent": 1.0}
        campaign = parse_campaign(campaign_doc(f"phantom-{mode}", **pacing), "t")
        runner = await rig.run_for(campaign, 0.5 * HOUR / SCALE)
        rows = await attempts_of(db, cid)
    alarm = runner.policy.alarm
    assert runner.paused and alarm is not None and CAUSE_AGENTS in alarm, alarm
    abandons = sorted(r["answered_at"] for r in rows if r["disposition"] == "abandoned")
    # Unbraked, a third of the first wave alone (5 of 8 lines) would be abandoned, and every
    # wave after it; the brake stops at the alarm's handful, and nothing is dialed after it.
    assert 3 <= len(abandons) <= 8, len(abandons)
    last_launch = max(r["created_at"] for r in rows)
    assert (last_launch - abandons[-1]).total_seconds() <= 60, (last_launch, abandons[-1])
    assert len(rows) < 40, len(rows)
