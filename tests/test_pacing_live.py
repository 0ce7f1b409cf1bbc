"""Pacing policies in the live runner: predictive over real sockets, the ledger in PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from e2e_rig import AsteriskRig, attempts_of, campaign_doc
from virtual_time import in_virtual_time

from dialer_core.campaign.assembly import make_runner
from dialer_core.campaign.config import parse_campaign
from dialer_core.cases_csv import parse_cases_csv
from dialer_core.demo_data import demo_cases_csv
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases
from dialer_core.store.ledger import load_ledger
from dialer_core.store.seed import add_attempts

WINDOWS = (3600, 86400, 2592000)


async def test_ledger_is_summed_from_the_attempts_of_every_runner(db):
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    parsed = parse_cases_csv(demo_cases_csv(5, seed=1))
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, "ledger")
        await import_cases(conn, cid, parsed.rows, parsed.errors, "x")
        phone = await conn.fetchrow("SELECT id, case_id FROM phones LIMIT 1")
        rows = [  # (minutes ago, disposition, abandoned, runner)
            (5, "agent_talked", False, "node-a"),
            (5, "abandoned", True, "node-b"),
            (30, "machine", False, "node-a"),
            (90, "agent_talked", False, "node-b"),
            (60 * 30, "agent_talked", False, "node-a"),
            (60 * 24 * 40, "abandoned", True, "x"),
        ]
        at = [now - timedelta(minutes=m) for m, _, _, _ in rows]
        await add_attempts(
            conn,
            cid,
            [
                (
                    phone["case_id"],
                    phone["id"],
                    {
                        "runner": r,
                        "created_at": t,
                        "answered_at": t,
                        "ended_at": t,
                        "disposition": d,
                        "abandoned": a,
                    },
                )
                for t, (_, d, a, r) in zip(at, rows, strict=True)
            ],
        )
        ledger = await load_ledger(conn, cid, now, WINDOWS)
    hour, day, month = ledger.totals(now.timestamp())
    assert (hour.answers, hour.abandons) == (2, 1)  # the machine is not a live answer
    assert (day.answers, day.abandons) == (3, 1)
    assert (month.answers, month.abandons) == (4, 1)  # 40 days ago is outside every window


@in_virtual_time
async def test_predictive_campaign_runs_live_and_a_restart_keeps_the_ledger(db):
    async with AsteriskRig(db, agents=4, time_scale=40, seed=6) as rig:
        cid, _ = await rig.seed_cases("predictive", 300)
        campaign = parse_campaign(campaign_doc("predictive", mode="predictive"), "p.toml")
        runner = await rig.run_for(campaign, 6.0)
        rows = await attempts_of(db, cid)
        assert runner.stats.launched >= 10
        assert all(r["state"] == "done" for r in rows)
        live = sum(1 for r in rows if r["answered_at"] and r["disposition"] != "machine")
        # A new runner (a restart, or another node) starts from the database's ledger.
        again = await make_runner(db, rig.driver, campaign, rig.answered.registry, rig.clock)
        totals = again.policy.ledger.totals(rig.clock())
        assert totals[-1].answers == live
        assert totals[-1].abandons == sum(1 for r in rows if r["abandoned"])
