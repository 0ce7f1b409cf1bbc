"""A hostile page in the supervisor's browser, and hostile requests: nothing gets in.

The API runs in its default mode (no token, loopback). Each attack is made over raw HTTP with
the headers a browser would send, and the headline ones from a page served on another port in
headless Chromium (Debian's /usr/bin/chromium through Playwright): a CSRF form post, a
``no-cors`` fetch from a foreign origin, and a DNS-rebinding page. After each, the database
shows nothing was written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from e2e_rig import AsteriskRig, campaign_doc

from dialer_core import accounts
from dialer_core.campaign.manager import CampaignManager
from dialer_core.face.serve import serve_api
from dialer_core.face.site import parse_site
from dialer_core.store import users as user_store

EVIL_TOML = '[campaign]\nname = "evil"\n'


async def count(db, sql: str, *args) -> int:
    async with db.acquire() as conn:
        return await conn.fetchval(sql, *args)


@contextlib.asynccontextmanager
async def open_api(db, rig: AsteriskRig, **kw):
    manager = CampaignManager(db, rig.driver, rig.answered.registry, clock=rig.clock)
    try:
        async with serve_api(db, manager, host="127.0.0.1", port=0, **kw) as url:
            yield url.rstrip("/"), manager
    finally:
        await manager.stop_all()


@contextlib.asynccontextmanager
async def attacker_site(html: str):
    """A page on another port (another origin), as any site the supervisor visits."""
    app = web.Application()

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app.router.add_get("/", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def raw(method: str, url: str, **kw) -> tuple[int, dict, dict]:
    async with aiohttp.ClientSession() as http, http.request(method, url, **kw) as resp:
        body = await resp.read()
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {}
        return resp.status, dict(resp.headers), doc


async def test_cross_site_posts_are_refused_and_write_nothing(db):
    async with AsteriskRig(db, agents=2, time_scale=40) as rig, open_api(db, rig) as (url, m):
        cid, _ = await rig.seed_cases("north", 20)
        port = urlsplit(url).port
        evil = {"Origin": "http://127.0.0.1:1"}
        # A form post (text/plain body crafted to be TOML) from another origin: refused.
        status, _, doc = await raw(
            "POST",
            f"{url}/api/campaigns",
            data=EVIL_TOML,
            headers={**evil, "Content-Type": "text/plain"},
        )
        assert (status, doc["error"]["code"]) == (403, "cross_origin")
        # A DNC import and a case upload the same way: refused.
        for path, body in (
            ("/api/dnc/import", "number\n+8613800138000\n"),
            ("/api/campaigns/north/cases", "external_id,amount,phone\nX1,1,13800138001\n"),
        ):
            status, _, doc = await raw(
                "POST", url + path, data=body, headers={**evil, "Content-Type": "text/plain"}
            )
            assert status == 403, path
        # Without Origin but marked cross-site by the browser (Sec-Fetch-Site): refused.
        status, _, _ = await raw(
            "POST",
            f"{url}/api/campaigns",
            data=EVIL_TOML,
            headers={"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"},
        )
        assert status == 403
        # "Origin: null" (sandboxed frames, data: pages): refused.
        status, _, _ = await raw(
            "POST", f"{url}/api/campaigns/north/start", headers={"Origin": "null"}
        )
        assert status == 403
        assert not m.running
        # A running campaign cannot be paused from another origin either.
        status, _, _ = await raw("POST", f"{url}/api/campaigns/north/start")
        assert status == 200
        status, _, _ = await raw("POST", f"{url}/api/campaigns/north/pause", headers=evil)
        assert status == 403 and m.get("north").state == "running"
        # The dashboard's own origin (and a command-line client without Origin) may.
        own = {"Origin": f"http://127.0.0.1:{port}"}
        status, _, _ = await raw("POST", f"{url}/api/campaigns/north/pause", headers=own)
        assert status == 200 and m.get("north").state == "paused"
        assert await count(db, "SELECT count(*) FROM campaigns WHERE name = 'evil'") == 0
        assert await count(db, "SELECT count(*) FROM dnc_entries") == 0
        assert await count(db, "SELECT count(*) FROM cases WHERE campaign_id = $1", cid) == 20


async def test_a_login_session_with_its_csrf_token_is_the_other_way_in(db):
    """Behind a proxy that rewrites Host, Origin differs: the session's CSRF token vouches."""
    async with db.acquire() as conn:
        await user_store.create_user(
            conn, "boss", "supervisor", accounts.hash_password("correct horse battery")
        )
    async with AsteriskRig(db, agents=1, time_scale=40) as rig, open_api(db, rig) as (url, m):
        await rig.seed_cases("north", 3)
        foreign = {"Origin": "https://dialer.example"}
        jar = aiohttp.CookieJar(unsafe=True)  # keep cookies of an IP-address host
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            login = {"username": "boss", "password": "correct horse battery"}
            async with http.post(f"{url}/api/login", json=login) as resp:
                assert resp.status == 200
                csrf = (await resp.json())["csrf_token"]
            start = f"{url}/api/campaigns/north/start"
            async with http.post(start, headers={**foreign, "X-CSRF-Token": "wrong"}) as resp:
                assert resp.status == 403
            async with http.post(start, headers=foreign) as resp:
                assert resp.status == 403
            assert not m.running
            async with http.post(start, headers={**foreign, "X-CSRF-Token": csrf}) as resp:
                assert resp.status == 200
        assert m.get("north").state == "running"


async def test_dns_rebinding_host_is_refused_everywhere(db):
    async with AsteriskRig(db, agents=1, time_scale=40) as rig, open_api(db, rig) as (url, _):
        await rig.seed_cases("north", 3)
        port = urlsplit(url).port
        for path in ("/", "/api/campaigns", "/api/campaigns/north/cases", "/metrics"):
            status, headers, doc = await raw(
                "GET", url + path, headers={"Host": f"rebind.attacker.test:{port}"}
            )
            assert (status, doc["error"]["code"]) == (403, "host_not_allowed"), path
            assert "north" not in json.dumps(doc)
            assert headers["Cache-Control"] == "no-store"
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST"):
            status, _, _ = await raw("GET", f"{url}/api/campaigns", headers={"Host": host})
            assert status == 200, host


async def test_configured_host_names_are_accepted(db):
    async with (
        AsteriskRig(db, agents=1, time_scale=40) as rig,
        open_api(db, rig, allowed_hosts=["Dialer.Example"]) as (url, _),
    ):
        port = urlsplit(url).port
        status, _, _ = await raw(
            "GET", f"{url}/api/campaigns", headers={"Host": f"dialer.example:{port}"}
        )
        assert status == 200
    site = parse_site({"api": {"allowed_hosts": ["dialer.example"]}}, "site.toml")
    assert site.api_allowed_hosts == ("dialer.example",)


async def test_every_response_carries_csp_and_no_store(db):
    async with AsteriskRig(db, agents=1, time_scale=40) as rig, open_api(db, rig) as (url, _):
        for path in ("/", "/static/app.js", "/api/campaigns", "/api/nothing", "/metrics"):
            _, headers, _ = await raw("GET", url + path)
            assert headers["Cache-Control"] == "no-store", path
            csp = headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
            assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp
            assert headers["X-Content-Type-Options"] == "nosniff"


async def test_malformed_requests_get_400_with_a_reason_and_write_nothing(db):
    async with AsteriskRig(db, agents=1, time_scale=40) as rig, open_api(db, rig) as (url, _):
        await rig.seed_cases("north", 3)
        json_h = {"Content-Type": "application/json"}
        toml_h = {"Content-Type": "application/toml"}
        cases = [
            ("GET", "/api/campaigns/no%00rth", {}, None, "bad_path"),
            ("GET", "/api/campaigns/north/cases?phone=%00", {}, None, "bad_path"),
            ("POST", "/api/dnc", json_h, "[" * 50_000 + "]" * 50_000, "malformed_json"),
            ("POST", "/api/dnc", json_h, '{"a":' * 40 + "1" + "}" * 40, "malformed_json"),
            ("POST", "/api/dnc", json_h, '{"number": ' + "9" * 5000 + "}", "malformed_json"),
            ("POST", "/api/dnc", json_h, '{"number": 9223372036854775808}', "malformed_json"),
            ("POST", "/api/dnc", json_h, '{"number": "+8613\\u00008000"}', "malformed_json"),
            ("POST", "/api/dnc", json_h, '{"number": NaN}', "malformed_json"),
            ("POST", "/api/campaigns", toml_h, "a = " + "[" * 5000 + "]" * 5000, "malformed_toml"),
            ("POST", "/api/campaigns", toml_h, '[campaign]\nname = "a\\u0000"\n', "malformed_toml"),
        ]
        for method, path, headers, body, code in cases:
            status, _, doc = await raw(method, url + path, headers=headers, data=body)
            assert (status, doc["error"]["code"]) == (400, code), (path, body and body[:40])
            assert doc["error"]["message"]
        # Names that could not be addressed afterwards are refused with the rule.
        for bad in ("a/b", "..", " padded", "x" * 65, "tab\there"):
            doc = campaign_doc(bad)
            body = json.dumps(doc)
            status, _, err = await raw("POST", f"{url}/api/campaigns", headers=json_h, data=body)
            assert (status, err["error"]["code"]) == (422, "invalid_campaign"), bad
            assert "campaign.name" in err["error"]["message"]
        status, _, _ = await raw(
            "POST", f"{url}/api/campaigns", headers=json_h, data=json.dumps(campaign_doc("南区 2"))
        )
        assert status == 201
        assert await count(db, "SELECT count(*) FROM dnc_entries") == 0
        assert await count(db, "SELECT count(*) FROM campaigns") == 2


async def test_attacks_from_a_page_on_another_port_in_chromium(db, browser):
    async with AsteriskRig(db, agents=1, time_scale=40) as rig, open_api(db, rig) as (url, _):
        await rig.seed_cases("north", 3)
        port = urlsplit(url).port
        # 1. A form that posts itself (TOML smuggled in a text/plain form body).
        # 2. A no-cors fetch (no preflight: text/plain) creating another campaign.
        html = f"""<!doctype html><body>
<form id="f" method="POST" action="{url}/api/campaigns" enctype="text/plain" target="sink">
<input name='[campaign]&#10;name ' value=' "evil"'></form>
<iframe name="sink"></iframe>
<script>
window.fetchDone = fetch("{url}/api/campaigns", {{method: "POST", mode: "no-cors",
  headers: {{"Content-Type": "text/plain"}}, body: '[campaign]\\nname = "evil2"\\n'}})
  .then(() => "sent", e => "error " + e);
document.getElementById("f").submit();
</script></body>"""
        async with attacker_site(html) as evil_url:
            try:
                page = await browser.new_page()
                posts: list[tuple[str, str]] = []

                def answered(resp) -> None:  # noqa: ANN001
                    if resp.url.endswith("/api/campaigns") and resp.request.method == "POST":
                        posts.append((resp.request.resource_type, str(resp.status)))

                def withheld(req) -> None:  # noqa: ANN001
                    if req.url.endswith("/api/campaigns") and req.method == "POST":
                        posts.append((req.resource_type, req.failure or ""))

                page.on("response", answered)
                page.on("requestfailed", withheld)
                await page.goto(evil_url)
                await page.evaluate("window.fetchDone")
                want = {
                    ("document", "403"),
                    ("fetch", "net::ERR_BLOCKED_BY_RESPONSE.NotSameOrigin"),
                }
                for _ in range(50):
                    if want <= set(posts):
                        break
                    await asyncio.sleep(0.1)
                # The form post was answered 403 (and its frame refused: frame-ancestors); the
                # fetch reached the server, whose answer the browser withheld from the page
                # (Cross-Origin-Resource-Policy).
                assert want <= set(posts), posts
                # 3. DNS rebinding: the attacker's name now resolves to 127.0.0.1, so its
                # page's same-origin requests reach us carrying its own Host name.
                rebound = f"http://rebind.attacker.test:{port}"
                resp = await page.goto(f"{rebound}/")
                assert resp is not None and resp.status == 403
                got = await page.evaluate(
                    """async () => {
                        const r = await fetch('/api/campaigns');
                        const p = await fetch('/api/campaigns/north/start', {method: 'POST'});
                        return [r.status, await r.text(), p.status];
                    }"""
                )
                assert got[0] == 403 and "north" not in got[1] and got[2] == 403
                # The dashboard itself runs under its CSP: no violation, the table fills in.
                dashboard = await browser.new_page()
                reports: list[str] = []
                dashboard.on("console", lambda m: reports.append(m.text))
                dashboard.on("pageerror", lambda exc: reports.append(str(exc)))
                await dashboard.goto(url + "/")
                await dashboard.wait_for_selector('tr[data-name="north"]', timeout=10000)
                assert not [r for r in reports if "Content Security Policy" in r], reports
            finally:
                for context in browser.contexts:
                    await context.close()
        await asyncio.sleep(0.2)  # let a late request land, if one were accepted
        assert await count(db, "SELECT count(*) FROM campaigns WHERE name LIKE 'evil%'") == 0
        assert await count(db, "SELECT count(*) FROM attempts") == 0
