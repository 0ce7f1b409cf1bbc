"""The store's seeding factories: rows with the columns asked for, and nothing else accepted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dialer_core.store.campaigns import ensure_campaign, find_campaign
from dialer_core.store.case_views import case_attempts
from dialer_core.store.seed import add_attempt, add_attempts, add_case

AT = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)


async def test_a_seeded_case_and_its_attempts_read_back(db):
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, "seeded")
        case = await add_case(
            conn, cid, "S1", ["+8613800000001", "+8613800000002"], phone={"province": "Hunan"}
        )
        assert len(case.phone_ids) == 2 and case.phone_id == case.phone_ids[0]
        first = await add_attempt(
            conn, cid, case.id, case.phone_id, created_at=AT, disposition="busy"
        )
        await add_attempts(
            conn,
            cid,
            [(case.id, case.phone_ids[1], {"created_at": AT, "disposition": "no_answer"})],
        )
        rows = await case_attempts(conn, case.id)
        assert (await find_campaign(conn, "seeded")).id == cid
    assert [(r["call_id"], r["disposition"]) for r in rows][0] == (first, "busy")
    assert sorted(r["e164"] for r in rows) == ["+8613800000001", "+8613800000002"]


async def test_an_unknown_column_is_refused_by_name(db):
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, "seeded-bad")
        with pytest.raises(ValueError, match=r"cases: unknown column\(s\) \['id; DROP'\]"):
            await add_case(conn, cid, "S1", ["+8613800000003"], **{"id; DROP": 1})
        case = await add_case(conn, cid, "S2", ["+8613800000004"])
        with pytest.raises(ValueError, match="every row needs the columns"):
            await add_attempts(
                conn,
                cid,
                [
                    (case.id, case.phone_id, {"disposition": "busy"}),
                    (case.id, case.phone_id, {"disposition": "busy", "agent": "x"}),
                ],
            )
