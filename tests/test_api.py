"""The HTTP API against real PostgreSQL and the simulated PBX over loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import socket
import time
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from e2e_rig import AsteriskRig, campaign_doc
from virtual_time import in_virtual_time

from dialer_core import accounts
from dialer_core.api.app import ROUTES_KEY, create_app
from dialer_core.api.auth import InsecureBind, TokenTable, check_bind
from dialer_core.api.metrics import families
from dialer_core.campaign.manager import CampaignManager
from dialer_core.face.serve import run_serve, serve_api
from dialer_core.operator_errors import NotLoopback
from dialer_core.store import users as user_store
from dialer_core.store.seed import add_attempts

TOKENS = {"R": ["read"], "C": ["read", "control"], "P": ["read", "pii"]}
CAMPAIGN_TOML = """
[campaign]
name = "north"
[pacing]
mode = "progressive"
lines_per_agent = 1.5
[dialing]
caller_id = "+862088880000"
ring_timeout = 20
max_in_flight = 40
[queue]
name = "collectors"
agent_wait = 2
[redial]
busy = "10m"
no_answer = "1h"
"""
CSV_GOOD_AND_BAD = (
    "external_id,debtor_name,amount,days_past_due,phone\n"
    "A1,张三,1200.50,30,13800138000\n"
    "A2,李四,abc,12,13900139000\n"
    "A3,王五,80.00,5,12\n"
    "A4,赵六,99.00,61,+8613700137000\n"
).encode()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def api(db, rig: AsteriskRig, wall_clock: bool = False, **kw):
    clock = time.time if wall_clock else rig.clock
    manager = CampaignManager(db, rig.driver, rig.answered.registry, clock=clock)
    kw.setdefault("token", "ADMIN")
    kw.setdefault("tokens", TOKENS)
    app = create_app(db, manager, live_interval=0.2, **kw)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client, manager
    finally:
        await manager.stop_all()
        await client.close()


async def count(db, table: str) -> int:
    async with db.acquire() as conn:
        return await conn.fetchval(f"SELECT count(*) FROM {table}")


async def error_of(resp, status: int) -> str:
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert set(body["error"]) == {"code", "message"} and body["error"]["message"]
    return body["error"]["code"]


async def seeded(client, db, rig, name="north", cases=120, **pacing):
    doc = campaign_doc(name, **pacing)
    resp = await client.post("/api/campaigns", json=doc, headers=auth("ADMIN"))
    assert resp.status == 201, await resp.text()
    from dialer_core.demo_data import demo_cases_csv

    resp = await client.post(
        f"/api/campaigns/{name}/cases",
        data=demo_cases_csv(cases, seed=11),
        headers={**auth("ADMIN"), "Content-Type": "text/csv"},
    )
    assert resp.status == 200, await resp.text()
    return await resp.json()


# --- the route table and its OpenAPI document ---------------------------------------------------


async def test_openapi_lists_exactly_the_registered_routes(db):
    async with AsteriskRig(db, agents=1, time_scale=40) as rig, api(db, rig) as (client, _):
        resp = await client.get("/api/openapi.json")
        doc = await resp.json()
        registered = set()
        for route in client.app.router.routes():
            if route.method == "HEAD":
                continue
            info = route.resource.get_info()
            path = info.get("path") or info["formatter"]
            registered.add((route.method.lower(), re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)))
        documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
        assert doc["openapi"].startswith("3.")
        assert registered == documented
        assert len(registered) == len(client.app[ROUTES_KEY]) >= 29
        for path, ops in doc["paths"].items():
            for op in ops.values():
                names = {p["name"] for p in op["parameters"] if p["in"] == "path"}
                assert names == set(re.findall(r"\{(\w+)\}", path))


# --- authentication ----------------------------------------------------------------------------


async def test_missing_or_unknown_token_is_401_and_scopes_are_enforced(db):
    async with AsteriskRig(db, agents=1, time_scale=40) as rig, api(db, rig) as (client, _):
        assert await error_of(await client.get("/api/campaigns"), 401) == "unauthorized"
        resp = await client.get("/api/campaigns", headers=auth("nope"))
        assert await error_of(resp, 401) == "unauthorized"
        assert resp.headers["WWW-Authenticate"] == "Bearer"
        resp = await client.get("/api/campaigns", headers={"Authorization": "Basic Ug=="})
        assert await error_of(resp, 401) == "unauthorized"
        assert (await client.get("/api/campaigns", headers=auth("R"))).status == 200
        resp = await client.post("/api/campaigns", data=CAMPAIGN_TOML, headers=auth("R"))
        assert await error_of(resp, 403) == "forbidden"
        assert await count(db, "campaigns") == 0
        assert (await client.get("/metrics")).status == 401
        # The page and the OpenAPI document carry no data and need no token.
        assert (await client.get("/")).status == 200
        assert (await client.get("/static/app.js")).status == 200
        assert (await client.get("/api/openapi.json")).status == 200
        assert await error_of(await client.get("/static/..%2fapp.py"), 404) == "not_found"
        assert await error_of(await client.get("/api/nothing", headers=auth("R")), 404)


async def test_without_tokens_the_api_is_open_but_never_shows_pii(db):
    async with (
        AsteriskRig(db, agents=1, time_scale=40) as rig,
        api(db, rig, token=None, tokens=None) as (
            client,
            _,
        ),
    ):
        resp = await client.post(
            "/api/campaigns", data=CAMPAIGN_TOML, headers={"Content-Type": "application/toml"}
        )
        assert resp.status == 201
        resp = await client.post(
            "/api/campaigns/north/cases",
            data=CSV_GOOD_AND_BAD,
            headers={"Content-Type": "text/csv"},
        )
        assert resp.status == 200
        cases = (await (await client.get("/api/campaigns/north/cases")).json())["cases"]
        assert cases[0]["phones"][0]["e164"] == "+*********8000"
        assert cases[0]["debtor_name"] == "张*"


def test_an_open_api_refuses_to_bind_beyond_loopback():
    open_table = TokenTable.build()
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.53"):
        check_bind(host, open_table)
    for host in ("0.0.0.0", "::", "192.168.1.20", "example.org"):
        with pytest.raises(InsecureBind, match="no API token"):
            check_bind(host, open_table)
    check_bind("0.0.0.0", TokenTable.build("secret"))
    with pytest.raises(ValueError, match="scopes"):
        TokenTable.build(tokens={"x": ["root"]})


async def test_serve_api_refuses_a_public_address_without_a_token(db):
    async with AsteriskRig(db, agents=1, time_scale=40) as rig:
        manager = CampaignManager(db, rig.driver, rig.answered.registry)
        with pytest.raises(NotLoopback, match="token"):
            async with serve_api(db, manager, host="0.0.0.0", port=0):
                pytest.fail("served without a token")
        async with serve_api(db, manager, host="127.0.0.1", port=0) as url:
            assert url.startswith("http://127.0.0.1:")
            async with TestClient(TestServer(create_app(db, manager))) as probe:
                assert (await probe.session.get(url + "api/campaigns")).status == 200


# --- campaigns --------------------------------------------------------------------------------


async def test_campaign_create_from_toml_validates_and_writes_nothing_on_bad_bodies(db):
    async with AsteriskRig(db, agents=1, time_scale=40) as rig, api(db, rig) as (client, _):
        h = {**auth("C"), "Content-Type": "application/toml"}
        resp = await client.post("/api/campaigns", data="[campaign\nname=", headers=h)
        assert await error_of(resp, 400) == "malformed_toml"
        bad = CAMPAIGN_TOML.replace("lines_per_agent = 1.5", "lines_per_agent = 99")
        resp = await client.post("/api/campaigns", data=bad, headers=h)
        assert await error_of(resp, 422) == "invalid_campaign"
        assert "pacing.lines_per_agent" in (await resp.json())["error"]["message"]
        resp = await client.post(
            "/api/campaigns", data=CAMPAIGN_TOML, headers={**auth("C"), "Content-Type": "image/png"}
        )
        assert await error_of(resp, 415) == "unsupported_media_type"
        resp = await client.post(
            "/api/campaigns",
            data="[1, 2]",
            headers={**auth("C"), "Content-Type": "application/json"},
        )
        assert await error_of(resp, 400) == "malformed_json"
        assert await count(db, "campaigns") == 0
        resp = await client.post("/api/campaigns", data=CAMPAIGN_TOML, headers=h)
        assert resp.status == 201 and (await resp.json())["name"] == "north"
        resp = await client.post("/api/campaigns", data=CAMPAIGN_TOML, headers=h)
        assert await error_of(resp, 409) == "campaign_exists"
        resp = await client.post("/api/campaigns?replace=true", data=CAMPAIGN_TOML, headers=h)
        assert resp.status == 200 and (await resp.json())["replaced"]
        listed = (await (await client.get("/api/campaigns", headers=auth("R"))).json())["campaigns"]
        assert [(c["name"], c["state"], c["mode"]) for c in listed] == [
            ("north", "stopped", "progressive")
        ]
        got = await (await client.get("/api/campaigns/north", headers=auth("R"))).json()
        assert (
            got["pacing"]["lines_per_agent"] == 1.5 and got["cases"] == 0 and got["runner"] is None
        )
        resp = await client.get("/api/campaigns/south", headers=auth("R"))
        assert await error_of(resp, 404) == "campaign_not_found"
        for action in ("start", "pause", "resume", "stop"):
            resp = await client.post(f"/api/campaigns/south/{action}", headers=auth("C"))
            assert await error_of(resp, 404) == "campaign_not_found"
        resp = await client.post("/api/campaigns/north/pause", headers=auth("C"))
        assert await error_of(resp, 409) == "not_running"


async def test_case_import_reports_bad_rows_and_rejects_unusable_files(db):
    async with AsteriskRig(db, agents=1, time_scale=40) as rig, api(db, rig) as (client, _):
        await client.post(
            "/api/campaigns",
            data=CAMPAIGN_TOML,
            headers={**auth("C"), "Content-Type": "text/plain"},
        )
        h = {**auth("C"), "Content-Type": "text/csv"}
        resp = await client.post(
            "/api/campaigns/north/cases", data=b"name,amount\nx,1\n", headers=h
        )
        assert await error_of(resp, 400) == "invalid_csv"
        assert "missing column" in (await resp.json())["error"]["message"]
        resp = await client.post("/api/campaigns/north/cases", data=b"", headers=h)
        assert await error_of(resp, 400) == "empty_body"
        resp = await client.post(
            "/api/campaigns/north/cases?encoding=latin9", data=CSV_GOOD_AND_BAD, headers=h
        )
        assert await error_of(resp, 400) == "invalid_query"
        resp = await client.post("/api/campaigns/nowhere/cases", data=CSV_GOOD_AND_BAD, headers=h)
        assert await error_of(resp, 404) == "campaign_not_found"
        assert await count(db, "imports") == 0 and await count(db, "cases") == 0
        resp = await client.post(
            "/api/campaigns/north/cases?source=day1.csv", data=CSV_GOOD_AND_BAD, headers=h
        )
        body = await resp.json()
        assert resp.status == 200
        assert (body["imported"], body["rejected"]) == (2, 2)
        lines = sorted((e["line"], e["column"]) for e in body["errors"])
        assert lines == [(3, "amount"), (4, "phone")]
        assert await count(db, "cases") == 2
        async with db.acquire() as conn:
            assert await conn.fetchval("SELECT source FROM imports") == "day1.csv"
        # The same file again changes nothing.
        body = await (
            await client.post("/api/campaigns/north/cases", data=CSV_GOOD_AND_BAD, headers=h)
        ).json()
        assert (body["imported"], body["unchanged"]) == (0, 2)


async def test_case_upload_in_the_background_reports_progress_then_its_result(db):
    from dialer_core.demo_data import demo_cases_csv

    async with AsteriskRig(db, agents=1, time_scale=40) as rig, api(db, rig) as (client, _):
        await client.post(
            "/api/campaigns",
            data=CAMPAIGN_TOML,
            headers={**auth("C"), "Content-Type": "text/plain"},
        )
        data = demo_cases_csv(300, seed=3)
        resp = await client.post(
            "/api/campaigns/north/cases?wait=false&source=big.csv",
            data=data,
            headers={**auth("C"), "Content-Type": "text/csv"},
        )
        assert resp.status == 202, await resp.text()
        started = await resp.json()
        assert started["state"] == "running"
        for _ in range(600):
            status = await (await client.get(started["progress"], headers=auth("R"))).json()
            if status["state"] != "running":
                break
            assert status["bytes_done"] <= status["bytes_total"] == len(data)
            await asyncio.sleep(0.05)
        assert status["state"] == "done" and status["imported"] == 300
        assert status["bytes_done"] == len(data) and status["rows_done"] == 300
        assert await count(db, "cases") == 300
        resp = await client.get("/api/imports/nope", headers=auth("R"))
        assert await error_of(resp, 404) == "import_not_found"
        resp = await client.post(
            "/api/campaigns/north/cases?strict=true",
            data=CSV_GOOD_AND_BAD,
            headers={**auth("C"), "Content-Type": "text/csv"},
        )
        body = await resp.json()
        assert (body["state"], body["committed"], body["rejected"]) == ("rejected", False, 2)


async def test_phone_numbers_and_names_are_masked_without_the_pii_scope(db):
    async with AsteriskRig(db, agents=1, time_scale=40) as rig, api(db, rig) as (client, _):
        await client.post(
            "/api/campaigns",
            data=CAMPAIGN_TOML,
            headers={**auth("C"), "Content-Type": "text/plain"},
        )
        await client.post(
            "/api/campaigns/north/cases",
            data=CSV_GOOD_AND_BAD,
            headers={**auth("C"), "Content-Type": "text/csv"},
        )
        masked = await (await client.get("/api/campaigns/north/cases/A1", headers=auth("R"))).json()
        full = await (await client.get("/api/campaigns/north/cases/A1", headers=auth("P"))).json()
        assert masked["phones"][0]["e164"] == "+*********8000"
        assert masked["debtor_name"] == "张*"
        assert full["phones"][0]["e164"] == "+8613800138000" and full["debtor_name"] == "张三"
        assert full["amount_minor"] == 120050 and full["attempt_history"] == []
        resp = await client.get(
            "/api/campaigns/north/cases?phone=%2B8613800138000", headers=auth("R")
        )
        assert await error_of(resp, 403) == "forbidden"
        found = await (
            await client.get("/api/campaigns/north/cases?phone=%2B8613800138000", headers=auth("P"))
        ).json()
        assert [c["external_id"] for c in found["cases"]] == ["A1"]
        resp = await client.get("/api/campaigns/north/cases/ZZ", headers=auth("R"))
        assert await error_of(resp, 404) == "case_not_found"
        resp = await client.get("/api/campaigns/north/cases?limit=0", headers=auth("R"))
        assert await error_of(resp, 400) == "invalid_query"


# --- running a campaign: controls, live stats, attempts, metrics, caller ID ---


async def sse_events(client, path: str, n: int, token="R") -> list[dict]:
    resp = await client.get(path, headers=auth(token))
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    events: list[dict] = []
    buffer = b""
    async with asyncio.timeout(10):
        while len(events) < n:
            buffer += await resp.content.readany()
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                for line in block.decode().splitlines():
                    if line.startswith("data: "):
                        events.append(json.loads(line[6:]))
    resp.close()
    return events[:n]


@in_virtual_time
async def test_a_campaign_runs_pauses_and_stops_over_the_api_with_live_numbers(db):
    async with AsteriskRig(db, agents=3, time_scale=40) as rig, api(db, rig) as (client, manager):
        await seeded(client, db, rig)
        resp = await client.post("/api/campaigns/north/start", headers=auth("C"))
        assert resp.status == 200 and (await resp.json())["state"] == "running"
        await asyncio.sleep(2.5)
        events = await sse_events(client, "/api/campaigns/north/live", 3)
        last = events[-1]
        assert last["state"] == "running" and last["launched"] > 0
        assert last["dial_rate_per_min"] > 0
        assert [w["label"] for w in last["windows"]] == ["1h", "24h", "30d"]
        assert last["target_abandon_rate"] == pytest.approx(0.03)
        assert len(last["agents"]) == 3 and sum(last["agent_counts"].values()) == 3
        assert events[0]["at"] < events[-1]["at"]
        # Pacing change goes straight into the running policy.
        resp = await client.patch(
            "/api/campaigns/north/pacing", json={"lines_per_agent": 2.0}, headers=auth("C")
        )
        assert resp.status == 200 and (await resp.json())["applied_live"]
        assert manager.get("north").runner.policy.lines_per_agent == 2.0
        resp = await client.patch(
            "/api/campaigns/north/pacing", json={"trunk_channels": 3}, headers=auth("C")
        )
        assert await error_of(resp, 422) == "invalid_pacing"
        resp = await client.patch(
            "/api/campaigns/north/pacing",
            data="{",
            headers={**auth("C"), "Content-Type": "application/json"},
        )
        assert await error_of(resp, 400) == "malformed_json"
        resp = await client.post("/api/campaigns/north/pause", headers=auth("C"))
        assert (await resp.json())["state"] == "paused"
        launched = manager.get("north").runner.stats.launched
        await asyncio.sleep(0.6)
        assert manager.get("north").runner.stats.launched == launched
        stats = await (await client.get("/api/campaigns/north/stats", headers=auth("R"))).json()
        assert stats["state"] == "paused"
        resp = await client.post("/api/campaigns/north/resume", headers=auth("C"))
        assert (await resp.json())["state"] == "running"
        detail = await (await client.get("/api/campaigns/north", headers=auth("R"))).json()
        assert (
            detail["runner"]["launched"] >= launched and detail["pacing"]["lines_per_agent"] == 2.0
        )
        # Agents, attempts, caller ID health and metrics while it runs.
        agents = await (await client.get("/api/agents", headers=auth("R"))).json()
        assert len(agents["pbx"]) == 3 and len(agents["campaigns"]["north"]) == 3
        metrics_text = await (await client.get("/metrics", headers=auth("R"))).text()
        resp = await client.post("/api/campaigns/north/stop", headers=auth("C"))
        assert resp.status == 202 and (await resp.json())["state"] == "stopping"
        await asyncio.wait_for(manager.get("north").task, 60)
        attempts = (
            await (
                await client.get("/api/campaigns/north/attempts?limit=1000", headers=auth("R"))
            ).json()
        )["attempts"]
        assert len(attempts) == manager.get("north").runner.stats.launched
        assert all(a["state"] == "done" and a["phone"].startswith("+*") for a in attempts)
        one = await (
            await client.get(f"/api/attempts/{attempts[0]['call_id']}", headers=auth("P"))
        ).json()
        assert one["call_id"] == attempts[0]["call_id"] and not one["phone"].startswith("+*")
        assert await error_of(await client.get("/api/attempts/not-a-uuid", headers=auth("R")), 400)
        resp = await client.get(
            "/api/attempts/00000000-0000-0000-0000-000000000000", headers=auth("R")
        )
        assert await error_of(resp, 404) == "attempt_not_found"
        callerid = await (
            await client.get("/api/campaigns/north/callerid", headers=auth("R"))
        ).json()
        [number] = callerid["numbers"]
        assert number["number"] == "+862088880000" and number["calls"] == len(attempts)
        assert number["status"] in ("ok", "insufficient", "warn", "rest")
        state = (await (await client.get("/api/campaigns", headers=auth("R"))).json())["campaigns"][
            0
        ]["state"]
        assert state == "stopped"
    names = set(families(metrics_text))
    for family in (
        "pacedial_calls_total",
        "pacedial_calls_in_flight",
        "pacedial_dial_rate_per_minute",
        "pacedial_agents",
        "pacedial_pbx_link_up",
        "pacedial_pbx_ping_seconds",
        "pacedial_db_roundtrip_seconds",
        "pacedial_db_pending_results",
    ):
        assert family in names, family
    assert 'pacedial_pbx_link_up{peer="127.0.0.1:' in metrics_text
    assert re.search(r'pacedial_agents\{campaign="north",state="\w+"\} \d+', metrics_text)
    assert "+86" not in metrics_text.replace("+862088880000", "")


async def test_abandon_rate_windows_are_summed_from_the_attempts_table(db):
    async with (
        AsteriskRig(db, agents=1, time_scale=40) as rig,
        api(db, rig, wall_clock=True) as (
            client,
            _,
        ),
    ):
        await seeded(client, db, rig, cases=5)
        async with db.acquire() as conn:
            cid = await conn.fetchval("SELECT id FROM campaigns WHERE name = 'north'")
            phone = await conn.fetchrow("SELECT id, case_id FROM phones LIMIT 1")
            # 3 connected + 1 abandoned in the last hour; 2 abandoned two days ago.
            rows = [("agent_talked", False, timedelta(minutes=10))] * 3
            rows += [("abandoned", True, timedelta(minutes=5))]
            rows += [("abandoned", True, timedelta(days=2))] * 2
            now = await conn.fetchval("SELECT now()")
            await add_attempts(
                conn,
                cid,
                [
                    (
                        phone["case_id"],
                        phone["id"],
                        {"created_at": now - age, "disposition": d, "abandoned": a},
                    )
                    for d, a, age in rows
                ],
            )
        snap = await (await client.get("/api/campaigns/north/stats", headers=auth("R"))).json()
    by = {w["label"]: w for w in snap["windows"]}
    assert (by["1h"]["connected"], by["1h"]["abandoned"]) == (3, 1)
    assert by["1h"]["rate"] == pytest.approx(0.25)
    assert by["24h"]["rate"] == pytest.approx(0.25)
    assert (by["30d"]["abandoned"], by["30d"]["rate"]) == (3, pytest.approx(0.5))
    assert snap["state"] == "stopped" and snap["in_flight"] == 0


# --- preview, DNC, recordings ---


async def test_preview_shows_the_next_due_case_and_skip_puts_it_back(db):
    async with AsteriskRig(db, agents=1, time_scale=40) as rig, api(db, rig) as (client, _):
        await seeded(client, db, rig, cases=3)
        first = await (
            await client.get("/api/campaigns/north/preview/next", headers=auth("P"))
        ).json()
        assert first["case"]["phone"].startswith("+86") and first["mode"] == "progressive"
        resp = await client.post(
            "/api/campaigns/north/preview/skip",
            json={"case_id": first["case"]["case_id"], "minutes": 30},
            headers=auth("C"),
        )
        assert resp.status == 200
        second = await (
            await client.get("/api/campaigns/north/preview/next", headers=auth("R"))
        ).json()
        assert second["case"]["case_id"] != first["case"]["case_id"]
        assert second["case"]["phone"].startswith("+*")
        resp = await client.post(
            "/api/campaigns/north/preview/skip", json={"case_id": "x"}, headers=auth("C")
        )
        assert await error_of(resp, 400) == "invalid_field"
        resp = await client.post(
            "/api/campaigns/north/preview/skip", json={"case_id": 999999}, headers=auth("C")
        )
        assert await error_of(resp, 409) == "case_unavailable"
        resp = await client.post(
            "/api/campaigns/north/preview/dial", json={"agent": "x"}, headers=auth("C")
        )
        assert await error_of(resp, 409) == "not_running"


async def preview_started(client, db, rig, manager):
    """Campaign north in preview mode without an auto-dial timer, started; its runner once it
    knows its agents."""
    await seeded(client, db, rig, cases=10, mode="preview", preview_auto_dial_seconds=0)
    await client.post("/api/campaigns/north/start", headers=auth("C"))
    runner = manager.get("north").runner
    for _ in range(50):
        if runner.book.agents:
            break
        await asyncio.sleep(0.05)
    return runner


async def test_preview_dial_asks_the_preview_policy_for_that_agent(db):
    async with AsteriskRig(db, agents=2, time_scale=40) as rig, api(db, rig) as (client, manager):
        runner = await preview_started(client, db, rig, manager)
        await asyncio.sleep(0.5)
        assert runner.stats.launched == 0  # preview without a timer waits for the agent
        agent = sorted(runner.book.agents)[0]
        resp = await client.post(
            "/api/campaigns/north/preview/dial", json={"agent": agent}, headers=auth("C")
        )
        assert resp.status == 202
        for _ in range(40):
            if runner.stats.launched:
                break
            await asyncio.sleep(0.05)
        assert runner.stats.launched == 1
        resp = await client.post(
            "/api/campaigns/north/preview/dial", json={"agent": "ghost"}, headers=auth("C")
        )
        assert await error_of(resp, 404) == "agent_not_found"


async def test_agent_desktop_previews_skips_and_dials_for_its_own_seat(db):
    async with AsteriskRig(db, agents=2, time_scale=40) as rig, api(db, rig) as (client, manager):
        runner = await preview_started(client, db, rig, manager)
        seat = sorted(runner.book.agents)[0]
        password = "correct horse battery"
        async with db.acquire() as conn:
            for user, where in (("wang", seat), ("li", "PJSIP/elsewhere")):
                await user_store.create_user(
                    conn, user, "agent", accounts.hash_password(password), pbx_agent=where
                )

        async def login(user: str) -> dict[str, str]:
            resp = await client.post("/api/login", json={"username": user, "password": password})
            return {"X-CSRF-Token": (await resp.json())["csrf_token"]}

        csrf = await login("wang")
        shown = await (await client.get("/api/agent/preview")).json()
        assert shown["campaign"] == "north" and shown["auto_dial_seconds"] == 0
        first = shown["case"]["case_id"]
        resp = await client.post(
            "/api/agent/preview/skip", json={"case_id": first, "minutes": 30}, headers=csrf
        )
        assert resp.status == 200
        again = await (await client.get("/api/agent/preview")).json()
        assert again["case"]["case_id"] != first
        assert runner.stats.launched == 0  # preview without a timer waits for the agent
        resp = await client.post("/api/agent/preview/dial", headers=csrf)
        assert resp.status == 202 and (await resp.json())["agent"] == seat
        for _ in range(40):
            if runner.stats.launched:
                break
            await asyncio.sleep(0.05)
        assert runner.stats.launched == 1
        resp = await client.post("/api/agent/preview/skip", json={"case_id": first})
        assert resp.status == 403  # no CSRF token: a session's change is refused
        csrf = await login("li")  # a seat no preview campaign counts
        none = await (await client.get("/api/agent/preview")).json()
        assert none == {"campaign": None, "auto_dial_seconds": None, "case": None}
        resp = await client.post("/api/agent/preview/dial", headers=csrf)
        assert await error_of(resp, 409) == "no_preview_campaign"
        resp = await client.get("/api/agent/preview", headers=auth("C"))
        assert resp.status == 403  # a machine token is not an agent


async def test_dnc_entries_add_list_import_and_delete(db):
    async with AsteriskRig(db, agents=1, time_scale=40) as rig, api(db, rig) as (client, _):
        resp = await client.post(
            "/api/dnc",
            json={"number": "13800138000", "default_region": "CN", "reason": "asked"},
            headers=auth("C"),
        )
        assert resp.status == 201
        entry = await resp.json()
        assert entry["pattern"] == "+*********8000"
        resp = await client.post("/api/dnc", json={"number": "12ab"}, headers=auth("C"))
        assert await error_of(resp, 422) == "invalid_number"
        resp = await client.post("/api/dnc", json={"reason": "x"}, headers=auth("C"))
        assert await error_of(resp, 400) == "missing_field"
        resp = await client.post(
            "/api/dnc", data="not json", headers={**auth("C"), "Content-Type": "application/json"}
        )
        assert await error_of(resp, 400) == "malformed_json"
        assert await count(db, "dnc_entries") == 1
        csv_text = (
            "number,reason\n+8613900139000,complaint\n+86137*,prefix\nhello,bad\n"
            "+8613800138000,dup\n"
        )
        resp = await client.post(
            "/api/dnc/import?source=global",
            data=csv_text,
            headers={**auth("C"), "Content-Type": "text/csv"},
        )
        body = await resp.json()
        assert (body["added"], body["already_listed"], body["rejected"]) == (2, 1, 1)
        assert body["errors"][0]["line"] == 4
        resp = await client.post(
            "/api/dnc/import", data="reason\nx\n", headers={**auth("C"), "Content-Type": "text/csv"}
        )
        assert await error_of(resp, 400) == "invalid_csv"
        listed = await (await client.get("/api/dnc", headers=auth("P"))).json()
        assert listed["total"] == 3
        assert {e["pattern"] for e in listed["entries"]} == {
            "+8613800138000",
            "+8613900139000",
            "+86137*",
        }
        resp = await client.delete(f"/api/dnc/{entry['id']}", headers=auth("C"))
        assert resp.status == 200
        assert await error_of(
            await client.delete(f"/api/dnc/{entry['id']}", headers=auth("C")), 404
        )
        assert await error_of(await client.delete("/api/dnc/abc", headers=auth("C")), 400)
        assert await count(db, "dnc_entries") == 2


async def test_recordings_list_stream_and_refuse_paths_outside_the_directory(db, tmp_path):
    rec = tmp_path / "rec"
    (rec / "2024-05-01").mkdir(parents=True)
    call_id = "0f8e2c4a-1b2c-4d5e-8f90-123456789abc"
    (rec / "2024-05-01" / f"{call_id}.wav").write_bytes(b"RIFF....WAVEfmt fake")
    (tmp_path / "secret.wav").write_bytes(b"outside")
    (rec / "notes.txt").write_text("not audio")
    async with (
        AsteriskRig(db, agents=1, time_scale=40) as rig,
        api(db, rig, recordings_dir=rec) as (client, _),
    ):
        listed = await (
            await client.get(f"/api/recordings?call_id={call_id}", headers=auth("R"))
        ).json()
        assert [(r["path"], r["call_id"], r["bytes"]) for r in listed["recordings"]] == [
            (f"2024-05-01/{call_id}.wav", call_id, 20)
        ]
        path = f"/api/recordings/2024-05-01/{call_id}.wav"
        assert await error_of(await client.get(path, headers=auth("R")), 403) == "forbidden"
        resp = await client.get(path, headers=auth("P"))
        assert resp.status == 200 and await resp.read() == b"RIFF....WAVEfmt fake"
        for evil in ("..%2Fsecret.wav", "2024-05-01%2F..%2F..%2Fsecret.wav", "%2Fetc%2Fpasswd"):
            resp = await client.get(f"/api/recordings/{evil}", headers=auth("P"))
            assert await error_of(resp, 400) == "bad_path", evil
        resp = await client.get("/api/recordings/notes.txt", headers=auth("P"))
        assert await error_of(resp, 404) == "recording_not_found"
    async with AsteriskRig(db, agents=1, time_scale=40) as rig, api(db, rig) as (client, _):
        resp = await client.get("/api/recordings", headers=auth("R"))
        assert await error_of(resp, 404) == "recordings_disabled"


# --- pacedial serve --------------------------------------------------------------------------


async def test_run_serve_serves_a_site_until_stopped_and_refuses_an_open_public_bind(
    db, db_dsn, tmp_path
):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with AsteriskRig(db, agents=1, time_scale=40) as rig:
        site = tmp_path / "site.toml"
        body = (
            f'[database]\nurl = "{db_dsn}"\n'
            f'[asterisk]\nhost = "127.0.0.1"\nport = {rig.sim.ami_port}\n'
            'username = "pacedial"\nsecret = "pacedial"\n'
            '[fastagi]\nhost = "127.0.0.1"\nport = 0\n'
        )
        site.write_text(body + f'[api]\nhost = "127.0.0.1"\nport = {port}\ntoken = "T"\n')
        stop, out = asyncio.Event(), io.StringIO()
        task = asyncio.create_task(run_serve(str(site), stop, out=out))
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                if f"http://127.0.0.1:{port}/" in out.getvalue():
                    break
                await asyncio.sleep(0.05)
            url = f"http://127.0.0.1:{port}/api/campaigns"
            assert (await http.get(url)).status == 401
            assert (await http.get(url, headers=auth("T"))).status == 200
        stop.set()
        assert await asyncio.wait_for(task, 10) == 0
        site.write_text(body + '[api]\nhost = "0.0.0.0"\n')
        with pytest.raises(NotLoopback, match=r"\[api\] host 0.0.0.0"):
            await run_serve(str(site), asyncio.Event())
