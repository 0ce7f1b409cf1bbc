"""Caller IDs at run time: local presence on real calls, and health verdicts on stored calls."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from e2e_rig import AsteriskRig, attempts_of, campaign_doc
from virtual_time import in_virtual_time

from dialer_core.callerid.config import load_callerid
from dialer_core.campaign.callerid_book import CallerIdBook
from dialer_core.campaign.config import parse_campaign
from dialer_core.cases_csv import parse_cases_csv
from dialer_core.compliance.region import region_of
from dialer_core.demo_data import demo_cases_csv
from dialer_core.store import callerid as cid_store
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases
from dialer_core.store.seed import add_attempts

POOL = {
    "daily_cap": 1000,
    "numbers": [
        {"number": "+862088880001", "province": "Guangdong", "city": "Guangzhou"},
        {"number": "+862088880002", "province": "Guangdong"},
        {"number": "+861088880001", "province": "Beijing"},
        {"number": "+862188880001", "default": True},
    ],
}


@in_virtual_time
async def test_each_call_presents_a_number_from_the_callees_region(db):
    doc = campaign_doc("presence")
    doc["callerid"] = POOL
    async with AsteriskRig(db, agents=3, time_scale=40, seed=8) as rig:
        cid, _ = await rig.seed_cases("presence", 150)
        campaign = parse_campaign(doc, "presence.toml")
        await rig.run_for(campaign, 4.0)
        rows = await attempts_of(db, cid)
    assert len(rows) >= 10
    for r in rows:
        region = region_of(r["e164"])
        if region.province == "Guangdong":
            assert r["caller_id"] in ("+862088880001", "+862088880002")
            if region.city == "Guangzhou":
                assert r["caller_id"] == "+862088880001"
        elif region.province == "Beijing":
            assert r["caller_id"] == "+861088880001"
        else:
            assert r["caller_id"] == "+862188880001"


def test_the_daily_cap_moves_to_the_next_tier_and_resting_numbers_are_skipped():
    cfg = load_callerid({**POOL, "daily_cap": 2}, "t.toml")
    book = CallerIdBook(cfg)
    now = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    region = region_of("+8618602012345")  # Guangzhou
    picks = [book.pick(region, now).number for _ in range(1)]
    for _ in range(5):
        choice = book.pick(region, now)
        book.note(choice.number, now)
        picks.append(choice.number)
    assert picks[:3] == ["+862088880001"] * 3  # first pick was not noted
    assert picks[3:5] == ["+862088880002"] * 2
    assert picks[5] == "+862188880001"  # city and province tiers spent: default pool
    book.resting = {"+862188880001"}
    assert book.pick(region, now).reason
    assert book.pick(region, now + timedelta(days=1)).number == "+862088880001"


async def test_a_number_whose_answer_rate_collapses_is_warned_then_rested(db):
    """Synthetic history: three numbers answer 30%, one answers 10% (a third)."""
    parsed = parse_cases_csv(demo_cases_csv(50, seed=5))
    rng = random.Random(3)
    now = datetime.now(UTC)
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, "health")
        await import_cases(conn, cid, parsed.rows, parsed.errors, "x")
        phones = await conn.fetch("SELECT id, case_id FROM phones")
        rates = {
            "+862088880001": 0.3,
            "+862088880002": 0.3,
            "+861088880001": 0.3,
            "+862188880001": 0.1,
        }
        rows = []
        for number, rate in rates.items():
            for i in range(400):
                phone = phones[i % len(phones)]
                at = now - timedelta(hours=rng.randrange(1, 72))
                answered = at if rng.random() < rate else None
                columns = {
                    "caller_id": number,
                    "created_at": at,
                    "answered_at": answered,
                    "ended_at": at,
                    "disposition": "no_answer",
                }
                rows.append((phone["case_id"], phone["id"], columns))
        await add_attempts(conn, cid, rows)
        stats = await cid_store.health_cells(conn, cid, now - timedelta(days=7))
    from dialer_core.callerid.health import pool_health

    verdicts = pool_health(stats, load_callerid(POOL, "t").health)
    assert verdicts["+862188880001"].status.value == "rest"
    assert all(verdicts[n].status.value == "ok" for n in rates if n != "+862188880001")
    async with db.acquire() as conn:
        changed = await cid_store.record_health(conn, list(verdicts.values()), now)
        assert [h.number for h in changed] == ["+862188880001"]
        assert await cid_store.resting_numbers(conn) == {"+862188880001"}
        # A second verdict does not repeat the event; a restore starts a fresh sample.
        assert await cid_store.record_health(conn, list(verdicts.values()), now) == []
        await cid_store.restore_number(conn, "+862188880001", now)
        assert await cid_store.resting_numbers(conn) == set()
        fresh = await cid_store.health_cells(conn, cid, now - timedelta(days=7))
        assert "+862188880001" not in fresh
