"""Case allocation and follow-up: the pure rules, and their storage in a real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from dialer_core.allocation.followup import PromiseFacts, settle
from dialer_core.allocation.rules import CaseFacts, Manager, covers, plan_assignments
from dialer_core.face.cases_cli import main as cases_main
from dialer_core.store import allocation as store
from dialer_core.store import followup as followup_store
from dialer_core.store.attempts import lease_contacts
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.database import create_pool
from dialer_core.store.seed import add_attempt, add_case

NOW = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)

# -- pure rules ------------------------------------------------------------------------------


def test_specialist_before_generalist_and_least_loaded_among_equals():
    gd = Manager(1, "gd", regions=frozenset({"广东"}))  # Chinese name matches "Guangdong"
    any1 = Manager(2, "any1", load_cases=5)
    any2 = Manager(3, "any2", load_cases=1)
    cases = [CaseFacts(10, "Guangdong", 40, 500), CaseFacts(11, "Fujian", 40, 400)]
    plan = plan_assignments(cases, [gd, any1, any2])
    assert {a.case_id: a.manager_id for a in plan.assignments} == {10: 1, 11: 3}
    assert plan.unassigned == ()
    assert "gd" in plan.assignments[0].reason and "M2" in plan.assignments[0].reason


def test_bucket_amount_and_cap_limit_who_may_take_a_case():
    late = Manager(1, "late", dpd_buckets=frozenset({"M4", "M5"}), max_cases=1)
    big = Manager(2, "big", amount_min_minor=1_000_000)
    assert covers(late, CaseFacts(1, "", 100, 10)) and not covers(late, CaseFacts(1, "", 30, 10))
    assert not covers(big, CaseFacts(1, "", 0, 999_999))
    cases = [CaseFacts(1, "", 100, 50), CaseFacts(2, "", 110, 40), CaseFacts(3, "", 5, 10)]
    plan = plan_assignments(cases, [late, big])
    assert [(a.case_id, a.manager_id) for a in plan.assignments] == [(1, 1)]
    assert plan.unassigned == (2, 3)  # late is full after one; nobody covers case 3


def test_balance_by_amount_spreads_money_not_counts():
    a, b = Manager(1, "a"), Manager(2, "b")
    cases = [CaseFacts(1, "", 1, 900), CaseFacts(2, "", 1, 300), CaseFacts(3, "", 1, 300)]
    by_amount = plan_assignments(cases, [a, b], balance="amount")
    assert {x.case_id: x.manager_id for x in by_amount.assignments} == {1: 1, 2: 2, 3: 2}
    by_count = plan_assignments(cases, [a, b])
    assert sorted(Counter_of(by_count)) == [1, 2]
    with pytest.raises(ValueError, match="balance"):
        plan_assignments(cases, [a], balance="vibes")


def Counter_of(plan) -> list[int]:  # noqa: N802 - reads as a noun in the assertion
    counts: dict[int, int] = {}
    for x in plan.assignments:
        counts[x.manager_id] = counts.get(x.manager_id, 0) + 1
    return list(counts.values())


def test_promise_settlement_rules():
    due = date(2025, 3, 5)
    p = PromiseFacts(1, 9, 1000, due, paid_minor=0, missed_before=0)
    assert settle(p, date(2025, 3, 5)) is None  # the due day is not over yet
    first = settle(p, date(2025, 3, 6))
    assert (first.status, first.followup) == ("missed", "sms")
    partial = settle(PromiseFacts(1, 9, 1000, due, 400, 0), date(2025, 3, 6))
    assert (partial.followup, partial.priority) == ("call", 10) and "short 600" in partial.note
    repeat = settle(PromiseFacts(1, 9, 1000, due, 0, 2), date(2025, 3, 6))
    assert (repeat.followup, repeat.priority) == ("call", 20)
    kept = settle(PromiseFacts(1, 9, 1000, due, 1000, 0), date(2025, 3, 1))
    assert (kept.status, kept.followup) == ("kept", None)


# -- storage ---------------------------------------------------------------------------------


async def seed(conn) -> tuple[int, dict[str, int]]:
    cid = await ensure_campaign(conn, "spring")
    ids: dict[str, int] = {}
    for ext, dpd, amount, province in [
        ("gd1", 40, 900_00, "Guangdong"),
        ("gd2", 200, 50_00, "Guangdong"),
        ("fj1", 10, 300_00, "Fujian"),
        ("fj2", 20, 100_00, "Fujian"),
    ]:
        case = await add_case(
            conn,
            cid,
            ext,
            [f"+8613800{len(ids) + 1:06d}"],
            phone={"country": "CN", "province": province},
            schedule_at=NOW + timedelta(days=1),
            amount_minor=amount,
            days_past_due=dpd,
        )
        ids[ext] = case.id
    await store.upsert_manager(conn, "lin", regions=("Guangdong",))
    await store.upsert_manager(conn, "wu")
    await store.upsert_manager(conn, "zhao", dpd_buckets=("M7",), max_cases=5)
    return cid, ids


async def test_rule_assignment_is_applied_in_bulk_with_history(db):
    async with db.acquire() as conn:
        cid, ids = await seed(conn)
        plan = await store.assign_by_rules(conn, cid, at=NOW)
        holders = dict(await conn.fetch("SELECT case_id, manager_id FROM case_assignments"))
        names = dict(await conn.fetch("SELECT id, name FROM managers"))
        assert {ext: names[holders[i]] for ext, i in ids.items()} == {
            "gd1": "lin",
            "gd2": "zhao",  # region + bucket specialists tie on specificity: zhao is less loaded
            "fj1": "wu",
            "fj2": "wu",
        }
        assert len(plan.assignments) == 4
        again = await store.assign_by_rules(conn, cid, at=NOW)
        assert again.assignments == ()  # nothing left unassigned
        hist = await store.assignment_history(conn, ids["gd1"])
        assert [(e.kind, e.from_manager, e.to_manager) for e in hist] == [("rule", None, "lin")]
        loads = {m.name: m.load_cases for m in await store.active_managers(conn)}
        assert loads == {"lin": 1, "wu": 2, "zhao": 1}


async def test_reassignment_keeps_history_and_ignores_no_ops(db):
    async with db.acquire() as conn:
        cid, ids = await seed(conn)
        await store.assign_by_rules(conn, cid, at=NOW)
        later = NOW + timedelta(hours=1)
        moved = await store.assign_cases(
            conn, [ids["fj1"]], "lin", at=later, by="sup", reason="vacation", kind="reassign"
        )
        assert moved == 1
        assert await store.assign_cases(conn, [ids["fj1"]], "lin", at=later, by="sup") == 0
        assert await store.unassign(conn, [ids["fj1"]], at=later, by="sup") == 1
        hist = await store.assignment_history(conn, ids["fj1"])
        assert [(e.kind, e.from_manager, e.to_manager, e.by) for e in hist] == [
            ("rule", None, "wu", "rules"),
            ("reassign", "wu", "lin", "sup"),
            ("unassign", "lin", None, "sup"),
        ]
        with pytest.raises(store.AllocationError, match="no account manager named 'ghost'"):
            await store.assign_cases(conn, [ids["fj1"]], "ghost", at=later, by="sup")


async def test_worklist_orders_by_due_task_then_amount_and_masks_phones(db):
    async with db.acquire() as conn:
        cid, ids = await seed(conn)
        await store.assign_by_rules(conn, cid, at=NOW)
        await followup_store.schedule_visit(
            conn, ids["fj2"], NOW + timedelta(hours=3), now=NOW, note="x"
        )
        items = await store.worklist(conn, "wu")
        assert [w.external_id for w in items] == ["fj2", "fj1"]  # the task first
        first = items[0]
        assert (first.next_task_kind, first.open_tasks) == ("visit", 1)
        assert first.phone_last4 == f"{ids['fj2']:06d}"[-4:]
        assert items[1].next_task_kind is None and items[1].amount_minor == 300_00


async def test_callback_re_enters_the_schedule_and_is_leased_first(db):
    async with db.acquire() as conn:
        cid, ids = await seed(conn)
        await store.assign_by_rules(conn, cid, at=NOW)
        # fj1 was finished (no schedule row); its callback brings it back.
        await conn.execute("DELETE FROM schedule WHERE case_id = $1", ids["fj1"])
        at = NOW + timedelta(hours=2)
        task = await followup_store.schedule_callback(conn, ids["fj1"], at, now=NOW, priority=50)
        await followup_store.schedule_callback(conn, ids["gd1"], at, now=NOW, priority=5)
        row = await conn.fetchrow("SELECT * FROM schedule WHERE case_id = $1", ids["fj1"])
        assert (row["next_attempt_at"], row["priority"]) == (at, 50)
        assert await lease_contacts(conn, cid, "r", 5, at - timedelta(seconds=1), LEASE) == []
        leased = await lease_contacts(conn, cid, "r", 5, at, LEASE)
        assert [c.case_id for c in leased] == [ids["fj1"], ids["gd1"]]
        assert await conn.fetchval(
            "SELECT manager_id FROM tasks WHERE id = $1", task
        ) == await store.manager_id(conn, "wu")
        await conn.execute("UPDATE phones SET status = 'stopped' WHERE case_id = $1", ids["gd2"])
        with pytest.raises(store.AllocationError, match="no active phone"):
            await followup_store.schedule_callback(conn, ids["gd2"], at, now=NOW)


LEASE = timedelta(minutes=10)


async def test_missed_promise_creates_a_follow_up_and_a_payment_keeps_one(db):
    async with db.acquire() as conn:
        cid, ids = await seed(conn)
        await store.assign_by_rules(conn, cid, at=NOW)
        due = date(2025, 3, 5)
        note = await followup_store.record_outcome(
            conn, ids["fj1"], "wu", "promise_to_pay", now=NOW, note="will pay friday",
            ptp_amount_minor=20_000, ptp_date=due, tz="Asia/Shanghai",
        )  # fmt: skip
        assert note > 0
        await followup_store.record_promise(conn, ids["fj2"], 5_000, due, now=NOW, source="human")
        task = await conn.fetchrow(
            "SELECT kind, due_at, status FROM tasks WHERE case_id = $1", ids["fj1"]
        )
        assert task["kind"] == "promise_due"
        assert task["due_at"] == datetime(2025, 3, 4, 16, tzinfo=UTC)  # 5 March in Shanghai
        await followup_store.record_payment(
            conn, ids["fj2"], 5_000, NOW + timedelta(days=1), reference="r1"
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            await followup_store.record_payment(conn, ids["fj2"], 5_000, NOW, reference="r1")
        # On the due day nothing is missed yet; fj2 is already kept.
        early = await followup_store.check_promises(conn, today=due, now=NOW)
        assert [(s.case_id, s.status) for s in early] == [(ids["fj2"], "kept")]
        late = NOW + timedelta(days=5)
        settled = await followup_store.check_promises(conn, today=date(2025, 3, 6), now=late)
        assert [(s.case_id, s.status, s.followup) for s in settled] == [
            (ids["fj1"], "missed", "sms")
        ]
        tasks = await conn.fetch(
            "SELECT kind, status, manager_id, due_at FROM tasks WHERE case_id = $1 ORDER BY id",
            ids["fj1"],
        )
        assert [(t["kind"], t["status"]) for t in tasks] == [
            ("promise_due", "done"),
            ("sms", "open"),
        ]
        assert tasks[1]["manager_id"] == await store.manager_id(conn, "wu")
        assert await followup_store.check_promises(conn, today=date(2025, 3, 7), now=late) == []


async def test_robot_promises_from_attempts_become_promises_once(db):
    async with db.acquire() as conn:
        cid, ids = await seed(conn)
        phone = await conn.fetchval("SELECT id FROM phones WHERE case_id = $1", ids["gd1"])
        call = await add_attempt(
            conn,
            cid,
            ids["gd1"],
            phone,
            disposition="promise_to_pay",
            detail={
                "handled_by": "robot",
                "robot_outcome": "promise_to_pay",
                "ptp_amount_minor": 12_345,
                "ptp_date": "2025-03-04",
            },
        )
        assert (
            await followup_store.import_robot_promises(conn, cid, now=NOW, tz="Asia/Shanghai") == 1
        )
        assert (
            await followup_store.import_robot_promises(conn, cid, now=NOW, tz="Asia/Shanghai") == 0
        )
        p = await conn.fetchrow("SELECT * FROM promises WHERE call_id = $1", call)
        assert (p["amount_minor"], p["due_date"], p["source"]) == (
            12_345,
            date(2025, 3, 4),
            "robot",
        )


async def test_agent_outcome_after_a_call_is_written_to_the_attempt(db):
    async with db.acquire() as conn:
        cid, ids = await seed(conn)
        phone = await conn.fetchval("SELECT id FROM phones WHERE case_id = $1", ids["fj1"])
        call = await add_attempt(
            conn, cid, ids["fj1"], phone, disposition="agent_talked", agent="wu"
        )
        await store.upsert_manager(conn, "wu")
        await followup_store.record_outcome(
            conn, ids["fj1"], "wu", "promise_to_pay", now=NOW, call_id=call,
            ptp_amount_minor=800, ptp_date=date(2025, 3, 9),
        )  # fmt: skip
        detail = await conn.fetchval("SELECT detail FROM attempts WHERE call_id = $1", call)
        assert detail == {
            "agent_outcome": "promise_to_pay",
            "ptp_amount_minor": 800,
            "ptp_date": "2025-03-09",
        }
        with pytest.raises(store.AllocationError, match="needs ptp_amount_minor"):
            await followup_store.record_outcome(conn, ids["fj1"], "wu", "promise_to_pay", now=NOW)


def test_cases_cli_assigns_lists_and_calls_back(db_dsn, monkeypatch, capsys):
    async def prepare():
        pool = await create_pool(db_dsn, min_size=1, max_size=2)
        try:
            async with pool.acquire() as conn:
                await seed(conn)
        finally:
            await pool.close()

    asyncio.run(prepare())
    monkeypatch.setenv("PACEDIAL_DATABASE_URL", db_dsn)
    assert cases_main(["add-manager", "qian", "--buckets", "M1", "--max-cases", "1"]) == 0
    assert cases_main(["assign", "--campaign", "spring"]) == 0
    assert "assigned 4, left unassigned 0" in capsys.readouterr().out
    assert cases_main(["reassign", "--campaign", "spring", "--case", "gd1", "--to", "wu"]) == 0
    assert cases_main(["history", "--campaign", "spring", "--case", "gd1"]) == 0
    out = capsys.readouterr().out
    assert "reassign lin → wu" in out
    at = "2025-03-02T10:00:00+08:00"
    assert cases_main(["callback", "--campaign", "spring", "--case", "gd1", "--at", at]) == 0
    assert cases_main(["worklist", "--manager", "wu"]) == 0
    out = capsys.readouterr().out
    assert "gd1" in out and "callback 2025-03-02 02:00" in out
    assert "+86" not in out  # phones are masked to their last 4 digits
    assert cases_main(["reassign", "--campaign", "spring", "--case", "nope", "--to", "wu"]) == 2
    assert "has no case 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cases_main(["add-manager", "x", "--buckets", "M9"])
