"""Recovery by ownership: attempts of a runner that is gone are closed once and redialed;
the calls of a runner that is alive are never touched, on this host or another."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

from e2e_rig import attempts_of, rig_for
from virtual_time import in_virtual_time

from dialer_core.campaign.runner import CampaignRunner
from dialer_core.face.service import run_campaign
from dialer_core.ownership import RunnerIdentity, owner_gone
from dialer_core.store import attempts as store
from dialer_core.store.runners import OpenAttempt, register_runner
from pbx.asterisk.driver import AsteriskDriver


async def _orphans(db, cid: int, ident: RunnerIdentity, now: datetime, n: int, age: float):
    """A runner registered ``age`` seconds ago leased ``n`` contacts and wrote their attempts."""
    async with db.acquire() as conn:
        await register_runner(conn, ident.id, ident.host, ident.pid, ident.started_at, cid)
        await conn.execute(
            "UPDATE runners SET heartbeat_at = now() - make_interval(secs => $2) WHERE id = $1",
            ident.id,
            age,
        )
        contacts = await store.lease_contacts(conn, cid, ident.id, n, now, timedelta(minutes=10))
        ids = [await store.create_attempt(conn, cid, c, ident.id, "", now) for c in contacts]
    return ids, contacts


@in_virtual_time
async def test_attempts_of_a_gone_runner_are_closed_as_lost_and_redialed_not_a_live_ones(db):
    async with rig_for("asterisk", db, agents=2, time_scale=40) as rig:
        cid, campaign = await rig.seed_cases("crashed", 30)
        now = datetime.fromtimestamp(rig.clock(), UTC)
        # Another host: one runner stopped beating two minutes ago (crashed), one beats.
        dead = RunnerIdentity("other-host", 4242, datetime.now(UTC) - timedelta(hours=1))
        alive = RunnerIdentity("other-host", 4243, datetime.now(UTC))
        orphans, contacts = await _orphans(db, cid, dead, now, 3, age=120)
        held, _ = await _orphans(db, cid, alive, now, 2, age=1)
        runner = await rig.run_for(campaign, 2.0)
        rows = {r["cid"]: r for r in await attempts_of(db, cid)}
        async with db.acquire() as conn:
            schedule = {r["case_id"]: r for r in await conn.fetch("SELECT * FROM schedule")}
    for call_id, contact in zip(orphans, contacts, strict=True):
        row = rows[call_id]
        assert (row["state"], row["disposition"]) == ("done", "lost")
        assert row["next_attempt_at"] is not None
        # The case is free again (its lease was cleared) and comes back after the lost delay.
        assert schedule[contact.case_id]["leased_by"] is None
        assert schedule[contact.case_id]["next_attempt_at"] == row["next_attempt_at"]
    assert [rows[c]["state"] for c in held] == ["dialing", "dialing"]
    assert all(r["state"] == "done" for c, r in rows.items() if c not in held)
    assert runner.stats.launched >= 1


def test_an_owner_is_gone_only_when_stopped_silent_unknown_or_dead_on_this_host() -> None:
    def attempt(host: str | None, age: float | None = 1.0, stopped: bool = False) -> OpenAttempt:
        return OpenAttempt("c", 1, "r", host, 77 if host else None, age, stopped)

    def dead(pid: int) -> bool:
        return False

    assert owner_gone(attempt(None, None), "h")  # an id from before the runners table
    assert owner_gone(attempt("x", stopped=True), "h")
    assert owner_gone(attempt("x", age=31.0), "h", ttl=30)
    assert not owner_gone(attempt("x", age=29.0), "h", ttl=30, alive=dead)  # other host: beats
    assert owner_gone(attempt("h"), "h", alive=dead)  # this host, process gone
    assert not owner_gone(attempt("h"), "h", alive=lambda pid: pid == 77)
    assert RunnerIdentity.of_this_process().id != RunnerIdentity.of_this_process().id
    assert RunnerIdentity.of_this_process().id.split(":")[1] == str(os.getpid())


@in_virtual_time
async def test_a_second_runner_started_mid_campaign_touches_no_live_call_of_the_first(db):
    async with rig_for("asterisk", db, agents=3, time_scale=40) as rig:
        cid, campaign = await rig.seed_cases("shared", 60)
        second_driver = AsteriskDriver(
            host="127.0.0.1",
            port=rig.sim.ami_port,
            username="pacedial",
            secret="pacedial",
            dial_template="Local/{number}@sim-callee",
            answered_context="pacedial-answered",
            clock=rig.clock,
        )
        await second_driver.connect()
        stop = asyncio.Event()
        first: list[CampaignRunner] = []
        second: list[CampaignRunner] = []
        one = asyncio.create_task(
            run_campaign(db, rig.driver, campaign, rig.registry, stop, first, clock=rig.clock)
        )
        # Start the second runner while the first has calls in flight.
        for _ in range(200):
            await asyncio.sleep(0.05)
            if first and first[0].inflight:
                break
        live_before = set(first[0].inflight)
        assert live_before
        two = asyncio.create_task(
            run_campaign(db, second_driver, campaign, rig.registry, stop, second, clock=rig.clock)
        )
        await asyncio.sleep(2.5)
        stop.set()
        await asyncio.wait_for(asyncio.gather(one, two), 90)
        await second_driver.close()
        rows = await attempts_of(db, cid)
    by_id = {r["cid"]: r for r in rows}
    assert first[0].runner_id != second[0].runner_id
    # The first runner's calls ended by what happened on them, none closed as lost.
    assert all(by_id[c]["disposition"] not in ("lost", None) for c in live_before)
    assert not [r for r in rows if r["disposition"] == "lost"]
    assert {r["runner"] for r in rows} == {first[0].runner_id, second[0].runner_id}
    assert len(rig.originates_received) == len(set(rig.originates_received))
    assert all(r["state"] == "done" for r in rows)
