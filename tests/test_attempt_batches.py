"""Bulk attempt writes: one batch leaves the database exactly as the same writes one by one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialer_core.cases_csv import parse_cases_csv
from dialer_core.demo_data import demo_cases_csv
from dialer_core.store import attempts as store
from dialer_core.store.attempt_batches import (
    create_attempts,
    finish_attempts,
    mark_states,
    write_round,
)
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases

NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
LEASE = timedelta(minutes=10)
CASES = 60


async def _campaign(conn, name: str) -> int:
    parsed = parse_cases_csv(demo_cases_csv(CASES, seed=11))
    cid = await ensure_campaign(conn, name)
    await import_cases(conn, cid, parsed.rows, parsed.errors, "demo")
    return cid


def _result(call_id: str, k: int) -> store.AttemptResult:
    """Every kind of close, in turn: redial, stop phone, advance, close case, no redial."""
    kind = k % 5
    return store.AttemptResult(
        call_id,
        NOW,
        ["busy", "invalid", "wrong_party", "promise", "no_answer"][kind],
        "x",
        17,
        "cause",
        1.5,
        None if kind == 4 else NOW + timedelta(minutes=k),
        stop_phone=kind == 1,
        advance_phone=kind == 2,
        close_case=kind == 3,
        reason=f"r{k}",
        agent="a1" if k % 2 else "",
        abandoned=k % 7 == 0,
        detail={"k": k},
    )


async def _state(conn, cid: int) -> list[tuple]:
    """Schedule, phones and attempts of a campaign, by the case's external id (not row ids)."""
    rows = await conn.fetch(
        """SELECT c.external_id, s.next_attempt_at, sp.position AS next_phone, s.attempts,
                  s.leased_by, a.state, a.disposition, a.agent, a.abandoned, a.detail,
                  a.next_attempt_at AS a_next,
                  (SELECT array_agg(p.status || ':' || coalesce(p.stop_reason, '')
                                    ORDER BY p.position) FROM phones p WHERE p.case_id = c.id)
           FROM cases c
           LEFT JOIN schedule s ON s.case_id = c.id
           LEFT JOIN phones sp ON sp.id = s.phone_id
           LEFT JOIN attempts a ON a.case_id = c.id
           WHERE c.campaign_id = $1 ORDER BY c.external_id""",
        cid,
    )
    return [tuple(r.values()) for r in rows]


async def test_a_batch_of_closes_writes_what_single_closes_write(db):
    async with db.acquire() as conn:
        one, many = await _campaign(conn, "one"), await _campaign(conn, "many")
        for cid in (one, many):
            contacts = await store.lease_contacts(conn, cid, "r", CASES, NOW, LEASE)
            contacts.sort(key=lambda c: c.external_id)
            ids = await create_attempts(conn, cid, [(c, "+861") for c in contacts], "r", NOW)
            assert None not in ids and len(set(ids)) == CASES
            results = [_result(call_id, k) for k, call_id in enumerate(ids)]
            if cid == one:
                assert all([await store.finish_attempt(conn, r) for r in results])
            else:
                # The same call twice in a batch is closed once: the first result wins.
                twice = [*results, _result(ids[0], 4)]
                assert await finish_attempts(conn, twice) == [True] * CASES + [False]
                assert await finish_attempts(conn, results[:3]) == [False] * 3
        assert await _state(conn, one) == await _state(conn, many)


async def test_a_round_split_by_case_over_two_connections_writes_what_one_transaction_writes(db):
    async with db.acquire() as conn:
        one, split = await _campaign(conn, "round-one"), await _campaign(conn, "round-split")
    for cid in (one, split):
        async with db.acquire() as conn:
            contacts = await store.lease_contacts(conn, cid, "r", CASES, NOW, LEASE)
            contacts.sort(key=lambda c: c.external_id)
            ids = await create_attempts(conn, cid, [(c, "+861") for c in contacts], "r", NOW)
        assert None not in ids
        progress = [(call_id, "ringing", NOW) for call_id in ids]
        closes = [*[_result(call_id, k) for k, call_id in enumerate(ids[:-5])], _result(ids[0], 4)]
        # split_at=0: even this round is written as two halves of the cases, side by side.
        ways = 1 if cid == one else 2
        written = await write_round(db, progress, ids[-5:], closes, ways=ways, split_at=0)
        assert written == [True] * (CASES - 5) + [False]
        assert await write_round(db, [], [], closes[:3], split_at=0) == [False] * 3
        async with db.acquire() as conn:
            open_left = await conn.fetch(
                "SELECT state, abandoned FROM attempts WHERE campaign_id = $1 AND state <> 'done'",
                cid,
            )
            assert [tuple(r) for r in open_left] == [("ringing", True)] * 5
            # Closed, so that the other campaign may dial the same demo numbers.
            assert await finish_attempts(conn, [_result(c, 4) for c in ids[-5:]]) == [True] * 5
    async with db.acquire() as conn:
        assert await _state(conn, one) == await _state(conn, split)


async def test_a_batch_insert_refuses_only_the_cases_already_open(db):
    async with db.acquire() as conn:
        cid = await _campaign(conn, "c")
        contacts = await store.lease_contacts(conn, cid, "a", 10, NOW, LEASE)
        first = await create_attempts(conn, cid, [(c, "") for c in contacts[:4]], "a", NOW)
        again = await create_attempts(conn, cid, [(c, "") for c in contacts], "b", NOW)
        assert None not in first
        assert [x is None for x in again] == [True] * 4 + [False] * 6
        assert await conn.fetchval("SELECT count(*) FROM attempts WHERE state <> 'done'") == 10


async def test_progress_in_bulk_keeps_first_times_and_never_goes_back_or_reopens(db):
    async with db.acquire() as conn:
        cid = await _campaign(conn, "c")
        contacts = await store.lease_contacts(conn, cid, "a", 3, NOW, LEASE)
        a, b, c = await create_attempts(conn, cid, [(x, "") for x in contacts], "a", NOW)
        t1, t2 = NOW + timedelta(seconds=1), NOW + timedelta(seconds=2)
        await store.finish_attempt(conn, _result(c, 0))
        await mark_states(conn, [(a, "ringing", t1), (b, "answered", t1), (c, "ringing", t1)])
        await mark_states(conn, [(a, "answered", t2), (a, "ringing", t2), (b, "ringing", t2)])
        rows = {
            r["call_id"]: r
            for r in await conn.fetch(
                "SELECT call_id::text, state, ringing_at, answered_at FROM attempts"
            )
        }
        assert (rows[a]["state"], rows[a]["ringing_at"], rows[a]["answered_at"]) == (
            "answered",
            t1,
            t2,
        )
        assert (rows[b]["state"], rows[b]["answered_at"]) == ("answered", t1)
        assert (rows[c]["state"], rows[c]["ringing_at"]) == ("done", None)
