"""A PBX that shuts down and boots slowly while a campaign dials (simulated Asterisk as in
originate_during_shutdown.txt, restart_shutdown.txt and restart_reconnect.txt): refused
Originates consume no attempt, nothing is sent twice, and nothing is sent before FullyBooted."""

from __future__ import annotations

import asyncio

from e2e_rig import attempts_of, rig_for
from virtual_time import in_virtual_time


@in_virtual_time
async def test_graceful_shutdown_then_slow_boot_consumes_no_attempts(db):
    async with rig_for("asterisk", db, agents=4, time_scale=20, seed=6) as rig:
        cid, campaign = await rig.seed_cases("restart", 200)
        phases: dict[str, int] = {}

        async def restart_when_busy(holder):
            for _ in range(100):
                await asyncio.sleep(0.05)
                if holder and len(holder[0].inflight) >= 2:
                    break
            rig.sim.shut_down_gracefully()  # every action: "Asterisk is shutting down"
            await asyncio.sleep(1.0)
            phases["before_restart"] = len(rig.originates_received)
            await rig.sim.restart()  # sockets closed; logins work, no FullyBooted yet
            await asyncio.sleep(1.0)
            phases["booted_at"] = len(rig.originates_received)
            rig.sim.finish_boot()

        runner = await rig.run_for(campaign, 5.0, during=restart_when_busy)
        rows = await attempts_of(db, cid)
        originated = rig.originates_received
    assert len(originated) == len(set(originated)), "an originate was sent twice"
    # Nothing reached the PBX between the restart and its FullyBooted.
    assert phases["booted_at"] == phases["before_restart"]
    assert len(originated) > phases["booted_at"], "dialing resumed after the boot"
    refused = [r for r in rows if r["disposition"] == "not_dialed"]
    assert refused, "the runner tried to dial during the shutdown"
    assert all("Asterisk is shutting down" in r["cause_text"] for r in refused)
    assert not any("Extension does not exist" in (r["cause_text"] or "") for r in rows)
    # Refused calls are not attempts: the rules and redials see none of them.
    assert all(r["answered_at"] is None and r["cid"] not in originated for r in refused)
    assert runner.stats.held_by_rules.get("pbx_refused") == len(refused)
    # The back-off keeps refusals few: ~0.5 + 1 s of doubling waits in 1 s of shutdown.
    assert len(refused) <= 5 * campaign.max_in_flight
    assert all(r["state"] == "done" for r in rows)
