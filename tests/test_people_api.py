"""People on the floor over HTTP: logins, CSRF, lock-out, roles and the agent's disposition.

Real PostgreSQL; no PBX is needed for these routes (the agent's calls are seeded through the
store's own lease → attempt → finish path, as the runner writes them).
"""

from __future__ import annotations

import contextlib
import io
import time
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer

from dialer_core import accounts
from dialer_core.api.app import create_app
from dialer_core.campaign.manager import CampaignManager
from dialer_core.cases_csv import parse_cases_csv
from dialer_core.face.users_cli import main as users_main
from dialer_core.reports.cycle import build_cycle_report
from dialer_core.store import attempts as attempt_store
from dialer_core.store import users as user_store
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases

SEAT = "Local/agent1@sim-agents/n"
PASSWORD = "correct horse battery"
CSV = (
    "external_id,debtor_name,amount,days_past_due,phone\n"
    "L1,张三,1200.50,30,13800138000\n"
    "L2,李四,80.00,12,13900139000\n"
)


@contextlib.asynccontextmanager
async def served(db, **kw):
    manager = CampaignManager(db, None, None, clock=time.time)
    client = TestClient(TestServer(create_app(db, manager, **kw)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def add_user(db, username: str, role: str, **kw) -> None:
    async with db.acquire() as conn:
        await user_store.create_user(conn, username, role, accounts.hash_password(PASSWORD), **kw)


async def login(client, username: str, password: str = PASSWORD) -> str:
    resp = await client.post("/api/login", json={"username": username, "password": password})
    assert resp.status == 200, await resp.text()
    return (await resp.json())["csrf_token"]


async def handled_call(db, seat: str = SEAT) -> tuple[str, int]:
    """A campaign, two cases and one finished call the agent at ``seat`` talked on."""
    # Five minutes ago, but never before midnight UTC: the floor counts the calls of today.
    now = datetime.now(UTC)
    now = max(now - timedelta(minutes=5), now.replace(hour=0, minute=0, second=0, microsecond=0))
    parsed = parse_cases_csv(CSV.encode())
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, "north", "progressive", {})
        await import_cases(conn, cid, parsed.rows, parsed.errors, "test")
        await conn.execute("UPDATE schedule SET next_attempt_at = $1", now)
        [contact] = await attempt_store.lease_contacts(
            conn, cid, "r1", 1, now, timedelta(minutes=5)
        )
        call_id = await attempt_store.create_attempt(conn, cid, contact, "r1", "+862088880000", now)
        await attempt_store.finish_attempt(
            conn,
            attempt_store.AttemptResult(
                call_id=call_id,
                ended_at=now + timedelta(seconds=95),
                disposition="agent_talked",
                pbx_result="answered",
                q850_cause=16,
                cause_text="Normal Clearing",
                talk_seconds=80.0,
                next_attempt_at=now + timedelta(days=1),
                agent=seat,
            ),
        )
    return call_id, contact.case_id


def test_passwords_are_stored_as_argon2id_at_rfc_9106_cost(shipped_password_hasher):
    """The shipped hasher (the other tests hash at argon2's cheapest cost: tests/conftest.py):
    argon2id at RFC 9106's second recommended option (3 passes over 64 MiB), and its hashes
    check."""
    from argon2 import Type, profiles

    hasher, floor = shipped_password_hasher, profiles.RFC_9106_LOW_MEMORY
    assert hasher.type is Type.ID
    assert hasher.time_cost >= floor.time_cost and hasher.memory_cost >= floor.memory_cost
    stored = hasher.hash(PASSWORD)
    assert stored.startswith("$argon2id$") and hasher.verify(stored, PASSWORD)
    assert not hasher.check_needs_rehash(stored)


async def test_login_sets_an_httponly_session_and_me_names_the_person(db):
    await add_user(db, "wang", "agent", display_name="王 Wang", pbx_agent=SEAT)
    async with served(db) as client:
        resp = await client.post("/api/login", json={"username": "wang", "password": PASSWORD})
        assert resp.status == 200
        cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        me = await (await client.get("/api/me")).json()
        assert me["name"] == "王 Wang" and me["role"] == "agent" and me["pbx_agent"] == SEAT
        assert me["csrf_token"]
        await client.post("/api/logout", headers={"X-CSRF-Token": me["csrf_token"]})
        assert (await client.get("/api/me")).status == 401


async def test_wrong_passwords_lock_the_account_even_for_the_right_one(db):
    await add_user(db, "li", "supervisor")
    async with served(db) as client:
        for _ in range(accounts.MAX_FAILURES):
            resp = await client.post("/api/login", json={"username": "li", "password": "nope"})
            assert resp.status == 401
        resp = await client.post("/api/login", json={"username": "li", "password": PASSWORD})
        assert resp.status == 423
        unknown = await client.post("/api/login", json={"username": "zz", "password": "nope"})
        assert unknown.status == 401  # same answer as a wrong password: no user oracle
        async with db.acquire() as conn:
            await user_store.set_password(conn, "li", accounts.hash_password(PASSWORD + "!"))
        await login(client, "li", PASSWORD + "!")


async def test_a_session_request_that_changes_state_needs_the_csrf_token(db):
    await add_user(db, "wang", "agent", pbx_agent=SEAT)
    call_id, _ = await handled_call(db)
    async with served(db) as client:
        csrf = await login(client, "wang")
        body = {"call_id": call_id, "outcome": "refused_to_pay"}
        resp = await client.post("/api/agent/disposition", json=body)
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "csrf"
        resp = await client.post(
            "/api/agent/disposition", json=body, headers={"X-CSRF-Token": "forged"}
        )
        assert resp.status == 403
        async with db.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM case_notes") == 0
        resp = await client.post(
            "/api/agent/disposition", json=body, headers={"X-CSRF-Token": csrf}
        )
        assert resp.status == 201, await resp.text()


@pytest.mark.parametrize(
    ("role", "method", "path", "status"),
    [
        ("agent", "GET", "/api/campaigns", 403),
        ("agent", "GET", "/api/users", 403),
        ("account_manager", "GET", "/api/campaigns", 200),
        ("account_manager", "POST", "/api/campaigns/north/pause", 403),
        ("account_manager", "GET", "/api/agent/desk", 403),
        ("supervisor", "GET", "/api/users", 403),
        ("supervisor", "GET", "/api/campaigns/north/floor", 200),
        ("admin", "GET", "/api/users", 200),
    ],
)
async def test_each_role_reaches_only_its_routes(db, role, method, path, status):
    extra = {"pbx_agent": SEAT} if role == "agent" else {}
    await add_user(db, "someone", role, **extra)
    async with db.acquire() as conn:
        await ensure_campaign(conn, "north", "progressive", {})
    async with served(db, token="MACHINE") as client:
        csrf = await login(client, "someone")
        resp = await client.request(method, path, headers={"X-CSRF-Token": csrf})
        assert resp.status == status, await resp.text()


async def test_an_api_token_is_not_a_person_at_the_agent_desktop(db):
    async with served(db, token="MACHINE") as client:
        resp = await client.get("/api/agent/desk", headers={"Authorization": "Bearer MACHINE"})
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "login_required"


async def test_admin_creates_people_and_bad_input_writes_nothing(db):
    await add_user(db, "root", "admin")
    async with served(db) as client:
        csrf = await login(client, "root")
        h = {"X-CSRF-Token": csrf}
        ok = {"username": "zhao", "role": "agent", "password": PASSWORD, "pbx_agent": SEAT}
        assert (await client.post("/api/users", json=ok, headers=h)).status == 201
        for bad, status in [
            ({**ok, "username": "qian", "pbx_agent": SEAT}, 409),  # the seat is taken
            ({**ok, "username": "sun", "password": "short"}, 400),
            ({**ok, "username": "Bad Name/"}, 400),
            ({**ok, "username": "zhou", "role": "god"}, 400),
            ({**ok, "username": "wu", "pbx_agent": None}, 400),  # an agent needs a seat
        ]:
            resp = await client.post("/api/users", json=bad, headers=h)
            assert resp.status == status, (bad, await resp.text())
        users = (await (await client.get("/api/users")).json())["users"]
        assert sorted(u["username"] for u in users) == ["root", "zhao"]


async def test_the_agent_sees_the_case_masked_and_saves_a_promise_the_report_counts(db):
    await add_user(db, "wang", "agent", display_name="Wang", pbx_agent=SEAT)
    await add_user(db, "boss", "supervisor")
    call_id, case_id = await handled_call(db)
    async with served(db) as client:
        csrf = await login(client, "wang")
        h = {"X-CSRF-Token": csrf}
        desk = await (await client.get("/api/agent/desk")).json()
        call = desk["call"]
        assert call["call_id"] == call_id and call["live"] is False
        assert call["case"]["debtor_name"] == "张三"
        assert call["case"]["amount"] == "1,200.50 CNY"
        assert [p["e164"] for p in call["phones"]] == ["+*********8000"]
        assert "张三" in call["script"] and "1,200.50 CNY" in call["script"]

        today = datetime.now(UTC).date()
        promise = {
            "call_id": call_id,
            "outcome": "promise_to_pay",
            "ptp_amount": "600.25",
            "ptp_date": (today + timedelta(days=3)).isoformat(),
            "installments": 2,
            "callback_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            "note": "pays half on Friday",
        }
        for bad in [
            {**promise, "outcome": "maybe"},
            {**promise, "ptp_amount": "abc"},
            {**promise, "ptp_amount": "-5"},
            {**promise, "ptp_date": "2020-01-01"},
            {**promise, "callback_at": "tomorrow"},
            {**promise, "call_id": "00000000-0000-0000-0000-000000000000"},
        ]:
            resp = await client.post("/api/agent/disposition", json=bad, headers=h)
            assert resp.status in (400, 404), (bad, await resp.text())
        async with db.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM promises") == 0
        resp = await client.post("/api/agent/disposition", json=promise, headers=h)
        assert resp.status == 201, await resp.text()
        again = await client.post("/api/agent/disposition", json=promise, headers=h)
        assert again.status == 409
        desk = await (await client.get("/api/agent/desk")).json()
        assert desk["call"] is None  # nothing left to disposition

        async with db.acquire() as conn:
            p = await conn.fetchrow("SELECT * FROM promises")
            assert (p["amount_minor"], p["source"], p["case_id"]) == (60025, "human", case_id)
            tasks = {r["kind"] for r in await conn.fetch("SELECT kind FROM tasks")}
            assert tasks == {"promise_due", "callback"}
            detail = await conn.fetchval(
                "SELECT detail FROM attempts WHERE call_id = $1::uuid", call_id
            )
            assert detail["agent_outcome"] == "promise_to_pay"
            assert detail["ptp_installments"] == 2

        await client.post("/api/logout", headers=h)
        csrf = await login(client, "boss")
        floor = await (await client.get("/api/campaigns/north/floor?tz=UTC")).json()
        assert floor["today"]["promises"] == 1
        assert floor["today"]["promised"] == "600.25 CNY"
        [agent] = floor["agents"]
        assert (agent["name"], agent["calls"], agent["promises"]) == ("Wang", 1, 1)
        assert agent["right_party_rate"] == 1.0

    report = await build_cycle_report(db, "north", today - timedelta(days=1), today)
    [row] = [g for g in report.table("agents").rows if g.agent == SEAT]
    assert (row.metrics.promises, row.metrics.promised_minor) == (1, 60025)
    assert row.metrics.right_party == 1


def test_the_fifth_failure_in_a_row_locks_for_a_while():
    now = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    until = accounts.lock_after_failure(accounts.MAX_FAILURES - 1, now)
    assert until == now + accounts.LOCK_FOR
    assert accounts.lock_after_failure(accounts.MAX_FAILURES - 2, now) is None
    assert accounts.is_locked(until, now) and not accounts.is_locked(until, until)


def test_users_cli_adds_lists_and_resets_passwords(db_dsn, monkeypatch, capsys):
    monkeypatch.setenv("PACEDIAL_DATABASE_URL", db_dsn)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert users_main(["add", "Chen", "--role", "agent", "--seat", SEAT, "--name", "陈"]) == 0
    assert "chen: agent, seat " + SEAT in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert users_main(["add", "zhou", "--role", "supervisor"]) == 2
    assert "at least 10 characters" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert users_main(["add", "chen2", "--role", "agent", "--seat", SEAT]) == 2
    assert "PBX seat already taken" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "!\n"))
    assert users_main(["passwd", "chen"]) == 0
    assert users_main(["list"]) == 0
    out = capsys.readouterr().out
    assert "chen" in out and "陈" in out and "zhou" not in out


async def test_the_cycle_report_is_served_to_readers_and_bad_periods_are_refused(db):
    await handled_call(db)
    async with served(db, token="MACHINE", tokens={"R": ["read"]}) as client:
        h = {"Authorization": "Bearer R"}
        today = datetime.now(UTC).date()
        resp = await client.get(
            f"/api/campaigns/north/report?from={today - timedelta(days=1)}&to={today}", headers=h
        )
        assert resp.status == 200 and resp.content_type == "text/html"
        assert "north" in await resp.text()
        for query, status in [
            ("from=2026-13-01", 400),
            (f"from={today}&to={today - timedelta(days=1)}", 400),
            ("from=2026-01-01&to=2026-12-31", 400),
            ("tz=Mars/Olympus", 400),
        ]:
            resp = await client.get(f"/api/campaigns/north/report?{query}", headers=h)
            assert resp.status == status, (query, await resp.text())
        resp = await client.get("/api/campaigns/nope/report", headers=h)
        assert resp.status == 404


async def test_desk_floor_and_spy_refuse_bad_input_with_the_field_named(db):
    await add_user(db, "wang", "agent", pbx_agent=SEAT)
    await add_user(db, "boss", "supervisor")
    async with db.acquire() as conn:
        await ensure_campaign(conn, "north", "progressive", {})
    async with served(db) as client:
        h = {"X-CSRF-Token": await login(client, "wang")}
        for body, field_name in [
            ({"state": "dance"}, "body.state"),
            ({"state": "paused", "code": "nap"}, "body.code"),
            ({"state": "paused"}, "body.code"),
        ]:
            resp = await client.post("/api/agent/state", json=body, headers=h)
            assert resp.status == 400 and field_name in (await resp.json())["error"]["message"]
        await client.post("/api/logout", headers=h)
        h = {"X-CSRF-Token": await login(client, "boss")}
        resp = await client.get("/api/campaigns/north/floor?tz=Mars/Olympus")
        assert resp.status == 400 and "query.tz" in (await resp.json())["error"]["message"]
        assert (await client.get("/api/campaigns/nope/floor")).status == 404
        for body, status in [
            ({"agent": SEAT, "mode": "shout", "phone": "PJSIP/1"}, 400),
            ({"agent": SEAT}, 400),  # no phone given and none on the supervisor's user
            ({"agent": SEAT, "phone": "PJSIP/1"}, 409),  # the agent is not on a call
        ]:
            resp = await client.post("/api/agents/spy", json=body, headers=h)
            assert resp.status == status, (body, await resp.text())
