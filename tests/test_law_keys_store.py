"""The law's keys in the database: debtor identity across cases, one live call per number."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from dialer_core.cases_csv import parse_cases_csv
from dialer_core.store import attempts as store
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases
from dialer_core.store.dnc import fresh_dnc, load_dnc

NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
LEASE = timedelta(minutes=10)
HOUSE = "+8613800138000"

CSV = f"""external_id,debtor_name,amount,days_past_due,phone,debtor_id,tz
L1,Wang,100,30,{HOUSE},D1,
L2,Wang,200,30,+8613900139001,D1,
L3,Li,300,30,{HOUSE},D2,Asia/Urumqi
A1,Zhao,400,30,+8613700137000;+8613600136000,,
A2,Zhao,500,30,+8613600136000,,
A3,Qian,500,30,+8613500135000,,
""".encode()


async def seed(db, name: str = "keys") -> tuple[int, dict[str, int]]:
    parsed = parse_cases_csv(CSV)
    assert parsed.errors == ()
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, name)
        await import_cases(conn, cid, parsed.rows, parsed.errors, "t")
        rows = await conn.fetch("SELECT id, external_id FROM cases WHERE campaign_id = $1", cid)
    return cid, {r["external_id"]: r["id"] for r in rows}


async def keys(db) -> dict[str, str]:
    async with db.acquire() as conn:
        rows = await conn.fetch("SELECT external_id, debtor_key FROM cases")
    return {r["external_id"]: r["debtor_key"] for r in rows}


async def test_debtor_ids_and_shared_numbers_give_the_debtor_key(db):
    _, ids = await seed(db)
    k = await keys(db)
    assert k["L1"] == k["L2"] == "id:D1"  # one debtor, two loans
    assert k["L3"] == "id:D2"  # a household number does not merge two known debtors
    assert k["A1"] == k["A2"] and k["A1"].startswith("case:")  # no id, shared number: one
    assert k["A3"] not in {k["A1"], k["L1"], k["L3"]}
    async with db.acquire() as conn:
        zones = await conn.fetchval("SELECT address_zones FROM cases WHERE id = $1", ids["L3"])
    assert zones == ["Asia/Urumqi"]


async def test_an_unidentified_case_joins_the_debtor_it_shares_a_number_with(db):
    await seed(db)
    extra = "external_id,debtor_name,amount,days_past_due,phone\nX1,Wang,1,1,+8613900139001\n"
    parsed = parse_cases_csv(extra.encode())
    async with db.acquire() as conn:
        other = await ensure_campaign(conn, "other")
        await import_cases(conn, other, parsed.rows, parsed.errors, "t")
    assert (await keys(db))["X1"] == "id:D1"


async def test_one_open_attempt_per_number_across_cases_and_campaigns(db):
    cid, ids = await seed(db)
    async with db.acquire() as conn:
        contacts = await store.lease_contacts(conn, cid, "a", 10, NOW, LEASE)
        by_case = {c.case_id: c for c in contacts}
        l1, l3 = by_case[ids["L1"]], by_case[ids["L3"]]
        assert l1.e164 == l3.e164 == HOUSE
        assert l1.debtor_key == "id:D1" and l3.address_zones == ("Asia/Urumqi",)
        first = await store.create_attempt(conn, cid, l1, "a", "", NOW)
        assert first is not None
        # Another case (another debtor even) on the same number: refused, nothing written.
        assert await store.create_attempt(conn, cid, l3, "b", "", NOW) is None
        n = await conn.fetchval("SELECT count(*) FROM attempts WHERE e164 = $1", HOUSE)
        assert n == 1
        # Closed: the number is free again.
        done = store.AttemptResult(first, NOW, "busy", "busy", 17, "busy", 0.0, NOW + LEASE)
        assert await store.finish_attempt(conn, done)
        assert await store.create_attempt(conn, cid, l3, "b", "", NOW) is not None


async def test_racing_runners_ring_a_shared_number_once(db):
    cid, ids = await seed(db)
    async with db.acquire() as conn:
        contacts = await store.lease_contacts(conn, cid, "a", 10, NOW, LEASE)
    shared = [c for c in contacts if c.e164 == HOUSE]
    assert len(shared) == 2

    async def dial(contact, runner):
        async with db.acquire() as conn:
            return await store.create_attempt(conn, cid, contact, runner, "", NOW)

    for _ in range(5):
        got = await asyncio.gather(*(dial(c, f"r{i}") for i, c in enumerate(shared)))
        assert sum(g is not None for g in got) == 1
        async with db.acquire() as conn:
            await conn.execute("DELETE FROM attempts")


async def test_histories_load_by_number_and_debtor(db):
    cid, ids = await seed(db)
    async with db.acquire() as conn:
        contacts = {
            c.case_id: c for c in await store.lease_contacts(conn, cid, "a", 10, NOW, LEASE)
        }
        for ext, minutes in (("L2", 1), ("L3", 2), ("A3", 3)):
            c = contacts[ids[ext]]
            call = await store.create_attempt(
                conn, cid, c, "a", "", NOW + timedelta(minutes=minutes)
            )
            res = store.AttemptResult(call, NOW, "refused", "answered", 16, "", 30.0, None)
            await store.finish_attempt(conn, res)
        hist = await store.rule_histories(conn, [contacts[ids["L1"]]], NOW + timedelta(minutes=5))
    got = {(a.case_id, a.debtor) for a in hist[ids["L1"]]}
    # L2: same debtor (another loan); L3: same number (another debtor); A3: unrelated.
    assert got == {(str(ids["L2"]), "id:D1"), (str(ids["L3"]), "id:D2")}


async def test_a_call_that_ended_after_the_rounds_instant_was_in_flight_then(db):
    """A round checks the rules at its one clock reading: another runner's call that ended (or
    started) after that instant, though closed by the time its history is read, was in flight
    at it, so a call stamped with that instant never overlaps it on the number."""
    cid, ids = await seed(db, "instant")
    async with db.acquire() as conn:
        contacts = {
            c.case_id: c for c in await store.lease_contacts(conn, cid, "a", 10, NOW, LEASE)
        }
        house = contacts[ids["L3"]]
        call = await store.create_attempt(conn, cid, house, "a", "", NOW)
        ended = NOW + timedelta(minutes=2)
        res = store.AttemptResult(call, ended, "busy", "busy", 17, "busy", 0.0, ended + LEASE)
        await store.finish_attempt(conn, res)
        seen = {}
        for label, at in (
            ("before", NOW - timedelta(seconds=1)),
            ("during", NOW + LEASE / 10),
            ("after", ended + timedelta(seconds=1)),
        ):
            hist = await store.rule_histories(conn, [contacts[ids["L1"]]], at)
            seen[label] = [
                a.disposition for a in hist[ids["L1"]] if a.case_id == str(house.case_id)
            ]
    assert seen == {"before": ["in_progress"], "during": ["in_progress"], "after": ["busy"]}


async def test_a_dnc_entry_reaches_the_next_launch_round_not_the_next_reload(db):
    """The runner calls ``fresh_dnc`` before each launch round: an entry added (by anyone,
    over the API or SQL) is in the list the very next round uses, and an unchanged list costs
    one read and is not reloaded."""
    async with db.acquire() as conn:
        first = await load_dnc(conn, "keys")
        assert first.match(HOUSE) is None
        assert await fresh_dnc(conn, "keys", first) is first
        await conn.execute("INSERT INTO dnc_entries (pattern, source) VALUES ($1, 'global')", HOUSE)
        after = await fresh_dnc(conn, "keys", first)
        assert after is not first and after.match(HOUSE) is not None
        await conn.execute("DELETE FROM dnc_entries")
        assert (await fresh_dnc(conn, "keys", after)).match(HOUSE) is None
