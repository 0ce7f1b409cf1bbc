"""``pacedial demo``: the whole pipeline on embedded defaults, no PBX or database to install.

Embedded PostgreSQL + the simulated PBX + a generated set of Chinese collection cases + a
progressive campaign with simulated agents. ``pbx="asterisk"`` speaks AMI and FastAGI to the
simulated PBX, ``pbx="freeswitch"`` inbound ESL and the outbound socket (its ESL face); both
are wired by dialer_core.face.pbx_link, as ``pacedial run`` is.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from dialer_core.campaign.config import parse_campaign
from dialer_core.campaign.manager import CampaignManager
from dialer_core.campaign.runner import CampaignRunner
from dialer_core.cases_csv import parse_cases_csv
from dialer_core.clock import ScaledClock, next_local_time
from dialer_core.demo_data import demo_cases_csv
from dialer_core.face.db_cli import embedded_note
from dialer_core.face.pbx_link import build_driver, start_answered_server
from dialer_core.face.serve import serve_api
from dialer_core.face.site import AsteriskSite, FreeSwitchSite, SiteConfig
from dialer_core.operator_errors import PortInUse
from dialer_core.reports.summary import format_summary
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases
from dialer_core.store.database import open_database
from dialer_core.store.summary import campaign_summary
from pbx.sim.config import AgentConfig, CalleeConfig, SimConfig
from pbx.sim.esl_pbx import SimEsl
from pbx.sim.pbx import SimPbx
from pbx.sim.personas import PersonaMix

ANSWERED_CONTEXT = "pacedial-answered"  # Asterisk: the Originate context of answered calls
ANSWERED_EXTENSION = "dialer-answered"  # FreeSWITCH: the originate target's extension
QUEUE = "collectors"
PBX_KINDS = ("asterisk", "freeswitch")


def demo_campaign(name: str, time_scale: float) -> dict:
    """The demo's campaign document (what a campaign TOML file would hold)."""
    return {
        "campaign": {"name": name},
        "pacing": {"mode": "progressive", "lines_per_agent": 1.0},
        # Sim time runs ``time_scale`` times faster: a 30 s ring timeout is 30 sim-seconds.
        "dialing": {"caller_id": "+862088880000", "ring_timeout": 30, "max_in_flight": 100},
        "queue": {"name": "collectors", "agent_wait": 2},
        "compliance": {"preset": "cn"},
        # cn: collection calls are recorded and kept two years (the preset refuses less).
        "recording": {"enabled": True},
        # Early-stage cases go to the collection robot; the rest to the human agents.
        "routing": {
            "default": {"action": "queue", "queue": "collectors"},
            "rules": [
                {
                    "name": "early stage robot",
                    "dpd_max": 30,
                    "action": "robot",
                    "script": "reminder_zh",
                }
            ],
        },
        "robot": {"repayment_channel": "官方App"},
        "callerid": {
            "daily_cap": 500,
            "numbers": [
                {"number": "+862088880001", "province": "Guangdong", "city": "Guangzhou"},
                {"number": "+8675588880001", "province": "Guangdong", "city": "Shenzhen"},
                {"number": "+861088880001", "province": "Beijing"},
                {"number": "+862188880001", "province": "Shanghai"},
                {"number": "+862588880001", "default": True},
            ],
        },
    }


def _progress(elapsed: float, runner: CampaignRunner) -> str:
    st = runner.stats
    idle = sum(1 for status, _ in runner.book.agents.values() if status.value == "idle")
    return (
        f"\r[{elapsed:5.1f}s] launched {st.launched:5d}  in flight {len(runner.inflight):3d}  "
        f"answered {st.answered:4d}  to agents {st.connected:4d}  abandoned {st.abandoned:3d}  "
        f"agents idle {idle:2d}/{len(runner.book.agents):2d}"
    )


async def run_demo(
    *,
    duration: float,
    agents: int,
    cases: int,
    seed: int,
    time_scale: float,
    stop: asyncio.Event,
    port: int = 8080,
    pbx: str = "asterisk",
    out=sys.stdout,
) -> int:
    """Run the demo over ``pbx`` (asterisk or freeswitch); print a live progress line and a
    summary read back from the database."""
    if pbx not in PBX_KINDS:
        raise ValueError(f"demo: pbx must be one of {', '.join(PBX_KINDS)}, got {pbx!r}")
    name = f"demo-{datetime.now():%Y%m%d-%H%M%S}"
    # Simulated time runs as fast as the simulated PBX and starts at 10:00 China time, inside
    # the callees' calling window (preset cn: 08:00-21:00), whatever the hour here.
    clock = ScaledClock(next_local_time(10, "Asia/Shanghai", time.time()), time_scale)
    start = datetime.fromtimestamp(clock.start, ZoneInfo("Asia/Shanghai"))
    print(
        f"pacedial demo ({pbx}): campaign {name}, {agents} simulated agents, {cases} cases; "
        f"{duration:.0f} s real = {duration * time_scale / 60:.0f} simulated minutes "
        f"from {start:%Y-%m-%d %H:%M} Asia/Shanghai",
        file=out,
    )
    async with open_database() as pool:
        campaign = parse_campaign(demo_campaign(name, time_scale), "demo campaign")
        parsed = parse_cases_csv(demo_cases_csv(cases, seed))
        async with pool.acquire() as conn:
            cid = await ensure_campaign(conn, name, campaign.mode, campaign.raw)
            summary = await import_cases(conn, cid, parsed.rows, parsed.errors, "demo cases")
        print(f"imported cases: {summary}", file=out)
        # Loopback everywhere; port 0 = any free port (the simulated PBX is told which).
        site = SiteConfig(
            pbx=pbx,
            fastagi_host="127.0.0.1",
            fastagi_port=0,
            freeswitch=FreeSwitchSite(outbound_host="127.0.0.1", outbound_port=0),
        )
        answered = await start_answered_server(site, time_scale)
        answered_port = answered.server.port
        sim = SimPbx(
            SimConfig(
                seed=seed,
                time_scale=time_scale,
                dialplan=(
                    {ANSWERED_CONTEXT: f"agi://127.0.0.1:{answered_port}/router"}
                    if pbx == "asterisk"
                    else {}
                ),
                agents=AgentConfig(count=agents, queue=QUEUE),
                # Debtors who promise, refuse, stay silent, are the wrong person, hang up.
                callees=CalleeConfig(
                    personas=PersonaMix(
                        promiser=0.35,
                        refuser=0.2,
                        silent=0.1,
                        wrong_party=0.05,
                        third_party=0.05,
                        asks_agent=0.1,
                        hang_up_mid_script=0.15,
                    ),
                    today=start.date().isoformat(),
                ),
            ),
            clock=clock,  # one clock for the runner and the simulated PBX
        )
        await sim.start()
        esl: SimEsl | None = None
        if pbx == "freeswitch":
            socket = f"socket 127.0.0.1:{answered_port} async full"
            esl = SimEsl(sim, dialplan={ANSWERED_EXTENSION: socket})
            await esl.start()
            site = replace(
                site,
                freeswitch=replace(
                    site.freeswitch,
                    port=esl.port,
                    dial_template="loopback/{number}/sim-callee",
                    target=f"{ANSWERED_EXTENSION} XML dialer",
                ),
            )
        else:
            site = replace(
                site,
                asterisk=AsteriskSite(
                    port=sim.ami_port,
                    username=sim.config.username,
                    secret=sim.config.secret,
                    dial_template="Local/{number}@sim-callee",
                    answered_context=ANSWERED_CONTEXT,
                ),
            )
        driver = build_driver(site, queues=[QUEUE], clock=clock)
        await driver.connect()
        manager = CampaignManager(pool, driver, answered.registry, clock=clock)
        try:
            async with contextlib.AsyncExitStack() as stack:
                await _dashboard(stack, pool, manager, port, out)
                await manager.start(name)
                loop = asyncio.get_running_loop()  # its clock: monotonic seconds
                started = loop.time()
                # The demo (and its dashboard) lasts its duration even if the campaign is
                # stopped and started again from the page.
                while not stop.is_set() and loop.time() - started < duration:
                    running = manager.running[name]
                    elapsed = loop.time() - started
                    print(_progress(elapsed, running.runner), end="", file=out, flush=True)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.5)
                print("\nstopping: letting calls in flight finish...", file=out)
                running = manager.running[name]
                if not running.task.done():
                    await manager.stop(name)
                stats = running.stats
        finally:
            await manager.stop_all()
            await driver.close()
            if esl is not None:
                await esl.close()
            await sim.close()
            await answered.close()
        async with pool.acquire() as conn:
            result = await campaign_summary(conn, cid)
        print(
            format_summary(result, agents=agents, agent_utilization=stats.talk_utilization()),
            file=out,
        )
    note = embedded_note()
    if note is not None:
        print(note, file=out)
    return 0


async def _dashboard(stack, pool, manager, port: int, out) -> None:
    """Serve the dashboard on loopback (the given port, or any free one if it is taken)."""
    try:
        await stack.enter_async_context(serve_api(pool, manager, port=port, out=out))
    except (OSError, PortInUse):
        await stack.enter_async_context(serve_api(pool, manager, port=0, out=out))
