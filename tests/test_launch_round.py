"""A launch round at one clock reading: lease, rules, created_at and launch time agree."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from e2e_rig import attempts_of, campaign_doc

from dialer_core.campaign import calls as c
from dialer_core.campaign.agent_book import RunnerStats
from dialer_core.campaign.callerid_book import CallerIdBook
from dialer_core.campaign.config import parse_campaign
from dialer_core.campaign.launch import Launcher
from dialer_core.cases_csv import parse_cases_csv
from dialer_core.clock import next_local_time
from dialer_core.compliance.dnc import DncList
from dialer_core.demo_data import demo_cases_csv
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases


async def test_every_call_of_a_round_is_written_and_launched_at_the_rounds_instant(db):
    campaign = parse_campaign(campaign_doc("one-instant"), "test")
    parsed = parse_cases_csv(demo_cases_csv(6, seed=3))
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, campaign.name, campaign.mode, campaign.raw)
        await import_cases(conn, cid, parsed.rows, parsed.errors, "test")
    stats = RunnerStats()
    launcher = Launcher(
        db, campaign, cid, "runner-a", CallerIdBook(campaign.callerid, campaign.caller_id),
        stats, dnc=DncList, paused=lambda: False,
    )  # fmt: skip
    now = next_local_time(10, "Asia/Shanghai", time.time())  # inside the calling window
    launched = await launcher.round(4, now)
    assert launched, "the round wrote calls"
    assert all(isinstance(event, c.Launch) and event.at == now for _, event in launched)
    rows = {r["cid"]: r for r in await attempts_of(db, cid)}
    assert set(rows) == {call.call_id for call, _ in launched}
    assert {r["created_at"] for r in rows.values()} == {datetime.fromtimestamp(now, UTC)}
    for call, event in launched:
        effects = call.handle(event)
        assert call.launched_at == now and any(isinstance(e, c.Originate) for e in effects)
