"""Decided launches become launch rounds one at a time, each at most a launch batch, and a
decision counts them as launching until they are sent (real rounds on the database)."""

from __future__ import annotations

import asyncio
import itertools
import time

from e2e_rig import campaign_doc

from dialer_core.campaign import calls as c
from dialer_core.campaign.agent_book import RunnerStats
from dialer_core.campaign.callerid_book import CallerIdBook
from dialer_core.campaign.config import parse_campaign
from dialer_core.campaign.launch import LAUNCH_BATCH, Launcher
from dialer_core.campaign.launch_queue import LaunchQueue
from dialer_core.cases_csv import parse_cases_csv
from dialer_core.clock import next_local_time
from dialer_core.compliance.dnc import DncList
from dialer_core.demo_data import demo_cases_csv
from dialer_core.run_metrics import RunMetrics
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases

NOW = next_local_time(10, "Asia/Shanghai", time.time())  # inside the calling window


async def test_decisions_never_wait_and_rounds_run_one_at_a_time(db) -> None:
    doc = campaign_doc("queue")
    doc["compliance"]["caps"] = {"phone_day": 20, "case_day": 20, "debtor_day": 20}
    campaign = parse_campaign(doc, "test")
    parsed = parse_cases_csv(demo_cases_csv(LAUNCH_BATCH + 120, seed=5))
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, campaign.name, campaign.mode, campaign.raw)
        await import_cases(conn, cid, parsed.rows, parsed.errors, "test")
    launcher = Launcher(
        db, campaign, cid, "runner-q", CallerIdBook(campaign.callerid, campaign.caller_id),
        RunnerStats(), dnc=DncList, paused=lambda: False,
    )  # fmt: skip
    ticks = itertools.count()
    started: list[tuple[c.Call, c.Event]] = []
    seen_launching: list[int] = []

    async def start_call(call: c.Call, event: c.Event) -> None:
        started.append((call, event))
        seen_launching.append(queue.launching)

    metrics = RunMetrics()
    queue = LaunchQueue(launcher, start_call, lambda: NOW + next(ticks), metrics, retry=0.1)
    task = asyncio.create_task(queue.run())
    queue.add(LAUNCH_BATCH + 50)
    assert queue.launching == LAUNCH_BATCH + 50, "counted at once, before any round"
    await asyncio.sleep(0)
    queue.add(30)  # decided while the first round is in flight
    assert queue.launching == LAUNCH_BATCH + 80
    while queue.launching:
        await asyncio.sleep(0.05)
    await queue.close()
    task.cancel()
    by_round: dict[float, int] = {}
    for _, event in started:
        by_round[event.at] = by_round.get(event.at, 0) + 1
    assert max(by_round.values()) <= LAUNCH_BATCH and len(by_round) == 2
    assert metrics.originates == len(started) == LAUNCH_BATCH + 80, "every decided call placed"
    assert seen_launching == sorted(seen_launching, reverse=True), "sent ones stop counting"
    queue.add(10)
    queue.drop()  # paused or stopped before a round took them
    assert queue.launching == 0
