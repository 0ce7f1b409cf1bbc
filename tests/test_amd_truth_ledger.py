"""The abandonment ledger from the database: AMD false positives are abandoned live calls, a
callee who hung up while AMD listened is no live answer, a true machine is none either."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialer_core.campaign.config import parse_campaign
from dialer_core.cases_csv import parse_cases_csv
from dialer_core.store.amd import record_amd_truth
from dialer_core.store.attempts import record_amd
from dialer_core.store.audit import campaign_attempts
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases
from dialer_core.store.ledger import ledger_rows
from dialer_core.store.seed import add_attempt

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
# (disposition, abandoned, AMD status, truth written later)
CALLS = [
    ("agent_talked", False, "HUMAN", "human"),  # live
    ("abandoned", True, "HUMAN", "human"),  # live, abandoned
    ("machine", False, "MACHINE", "machine"),  # a machine: not live
    ("machine", False, "MACHINE", "human"),  # a false positive: live and abandoned
    ("answered", False, "HANGUP", None),  # hung up while AMD listened: not live
]


def totals(rows: list[tuple[int, int, int]]) -> tuple[int, int]:
    return sum(r[1] for r in rows), sum(r[2] for r in rows)


async def uk_campaign_phones(conn, name: str, mode: str, prefix: str, count: int):
    """A uk campaign ``name`` with ``count`` one-phone cases (external ids ``prefix``0..., numbers
    +4420712345NN for 'A', +4420712346NN for 'B'...); its id and the phones' (case_id, id)
    rows in case order."""
    doc = {
        "campaign": {"name": name},
        "pacing": {"mode": mode},
        "dialing": {"caller_id": "+442071234000", "ring_timeout": 20},
        "compliance": {"preset": "uk"},
    }
    campaign = parse_campaign(doc, f"{name}.toml")
    csv = "external_id,debtor_name,amount,days_past_due,phone\n" + "".join(
        f"{prefix}{i},N,100,30,+442071234{5 + ord(prefix) - ord('A')}{i:02d}\n"
        for i in range(count)
    )
    parsed = parse_cases_csv(csv.encode())
    cid = await ensure_campaign(conn, campaign.name, campaign.mode, campaign.raw)
    await import_cases(conn, cid, parsed.rows, parsed.errors, "t")
    phones = await conn.fetch(
        "SELECT p.case_id, p.id FROM phones p JOIN cases c ON c.id = p.case_id "
        "WHERE c.campaign_id = $1 ORDER BY c.external_id",
        cid,
    )
    return cid, phones


async def answered_call(conn, cid, phone, i, disposition, abandoned, detail=None) -> str:
    """The ``i``-th call of the test: placed at T0 + 10 i s, answered 5 s later, 30 s long."""
    at = T0 + timedelta(seconds=10 * i)
    return await add_attempt(
        conn,
        cid,
        phone["case_id"],
        phone["id"],
        created_at=at,
        answered_at=at + timedelta(seconds=5),
        ended_at=at + timedelta(seconds=30),
        disposition=disposition,
        abandoned=abandoned,
        **({"detail": detail} if detail is not None else {}),
    )


async def test_false_positives_are_abandons_and_hangups_during_amd_are_not_live(db):
    async with db.acquire() as conn:
        cid, phones = await uk_campaign_phones(conn, "amd-ledger", "progressive", "A", len(CALLS))
        truths = []
        for i, ((disposition, abandoned, status, truth), p) in enumerate(
            zip(CALLS, phones, strict=True)
        ):
            call_id = await answered_call(conn, cid, p, i, disposition, abandoned)
            at = T0 + timedelta(seconds=10 * i)
            await record_amd(conn, call_id, status, "", "hangup", at + timedelta(seconds=8))
            if truth:
                truths.append((call_id, truth))
        before = await ledger_rows(conn, cid, T0)
        assert await record_amd_truth(conn, truths) == 4
        after = await ledger_rows(conn, cid, T0)
        records = (await campaign_attempts(conn, cid)).records
        with pytest.raises(ValueError, match="expected 'human' or 'machine'"):
            await record_amd_truth(conn, [(truths[0][0], "robot")])
    assert totals(before) == (2, 1)  # truth unknown: the machine verdicts are not live
    assert totals(after) == (3, 2)  # the false positive is a live call hung up on
    # ... and an abandoned call on the rules' keys (the uk 72 h lock-out of the number).
    fp = [r for r in records if r.amd_false_positive]
    assert len(fp) == 1 and fp[0].attempt.abandoned and fp[0].live


async def test_with_amd_off_an_answer_is_live_unless_the_agent_found_a_machine(db):
    """Calls placed with AMD off (no verdict): an agent's conversation and a dropped answer are
    live answers (the drop an abandon); a machine the agent disposed of is none."""
    calls = [
        ("agent_talked", False, {}),
        ("abandoned", True, {}),
        ("agent_talked", False, {"agent_outcome": "answering_machine"}),
    ]
    async with db.acquire() as conn:
        cid, phones = await uk_campaign_phones(conn, "amd-off-ledger", "predictive", "B", 3)
        for i, ((disposition, abandoned, detail), p) in enumerate(zip(calls, phones, strict=True)):
            await answered_call(conn, cid, p, i, disposition, abandoned, detail)
        rows = await ledger_rows(conn, cid, T0)
    assert totals(rows) == (2, 1)
