"""Two campaigns feeding ONE agent queue: together they never answer more calls than it has
free members (docs/compliance.md, "Campaigns sharing one agent queue").

The simulated Asterisk has three members in one queue, long conversations and callees who
nearly all answer; two campaigns (each its own runner) dial into that queue at once over one
AMI link, in virtual time. Without sharing, both runners placed a call for every member that
came free and the queue dropped about one answered caller in six (21 of 127 progressive,
19 of 128 predictive, same seeds). They share their calls in flight either as the campaign
manager's runners in one process do (one board per queue) or as runners in two processes do
(each its own board, the claims through PostgreSQL every simulated second).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from e2e_rig import START_ZONE, asterisk_on_sim, import_campaign
from virtual_time import in_virtual_time

from dialer_core.campaign.assembly import make_runner
from dialer_core.campaign.queue_board import QueueBoards
from dialer_core.clock import ScaledClock, next_local_time
from dialer_core.demo_data import demo_cases_csv
from pbx.sim import AgentConfig, CalleeConfig, CalleeMix

SCALE = 40.0
RUN = 20.0  # event-loop seconds: 800 simulated seconds
CALLEES = CalleeConfig(
    mix=CalleeMix.only(human=0.95, busy=0.03, no_answer=0.02),
    ring_mean=3.0,
    talk_mean=40.0,
    fail_delay=1.0,
)
AGENTS = AgentConfig(count=3, talk_mean=20.0, wrapuptime=1.0, answer_delay=0.2)


def campaign_doc(name: str, mode: str) -> dict:
    return {
        "campaign": {"name": name},
        "pacing": {"mode": mode, "lines_per_agent": 1.0, "target_abandon_rate": 0.03},
        "dialing": {"caller_id": "+862088880000", "ring_timeout": 20, "max_in_flight": 20},
        "queue": {"name": AGENTS.queue, "agent_wait": 2},
        "compliance": {"preset": "cn", "caps": {"phone_day": 20}},
        "recording": {"enabled": True},
    }


async def run_two_on_one_queue(
    db, mode: str, seed: int, through_database: bool = False
) -> dict[str, Counter]:
    """Run campaigns ``a`` and ``b`` in ``mode`` on the one queue; per campaign, its dialed
    attempts counted as 'dialed', 'answered' (a person) and 'abandoned'. ``through_database``:
    the runners share nothing in memory, as in two processes."""
    clock = ScaledClock(next_local_time(10, START_ZONE, time.time()), SCALE)
    boards = QueueBoards()  # what the campaign manager hands its runners
    async with asterisk_on_sim(clock, seed=seed, callees=CALLEES, agents=AGENTS) as pbx:
        runners, ids = [], {}
        for name, cases_seed in (("a", 31), ("b", 32)):
            doc = campaign_doc(name, mode)
            cid, campaign = await import_campaign(db, doc, demo_cases_csv(80, seed=cases_seed))
            ids[name] = cid
            board = None if through_database else boards(campaign.queue)
            runner = await make_runner(
                db, pbx.driver, campaign, pbx.answered.registry, clock, board=board
            )
            runner.share.every = 1.0 / SCALE  # one simulated second
            runners.append(runner)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(r.run(stop)) for r in runners]
        await asyncio.sleep(RUN)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
        for runner in runners:
            await runner.handling.close()
    counts: dict[str, Counter] = {}
    async with db.acquire() as conn:
        for name, cid in ids.items():
            rows = await conn.fetch(
                "SELECT disposition, answered_at, abandoned, state FROM attempts "
                "WHERE campaign_id = $1 AND disposition <> 'not_dialed'",
                cid,
            )
            assert all(r["state"] == "done" for r in rows)
            counts[name] = Counter(
                dialed=len(rows),
                answered=sum(1 for r in rows if r["answered_at"] and r["disposition"] != "machine"),
                abandoned=sum(1 for r in rows if r["abandoned"]),
            )
    how = "database" if through_database else "process"
    print(f"\n{mode} on one queue of {AGENTS.count} ({how}): " + ", ".join(
        f"{n}: {dict(c)}" for n, c in counts.items()
    ))  # fmt: skip
    return counts


def within_cap(counts: dict[str, Counter]) -> bool:
    answered = sum(c["answered"] for c in counts.values())
    return sum(c["abandoned"] for c in counts.values()) <= 0.03 * answered


@in_virtual_time
async def test_two_progressive_campaigns_in_one_process_abandon_nothing(db):
    counts = await run_two_on_one_queue(db, "progressive", 41)
    # Both campaigns got members (the fair split), and no answered caller was dropped.
    assert all(c["answered"] >= 30 for c in counts.values()), counts
    assert sum(c["abandoned"] for c in counts.values()) == 0, counts


@in_virtual_time
async def test_two_progressive_campaigns_sharing_through_postgresql_abandon_nothing(db):
    """As two processes: each sees the other's calls up to two seconds late, and keeps the
    other's share of those seconds (pacing.sharing.RecentShares)."""
    counts = await run_two_on_one_queue(db, "progressive", 41, through_database=True)
    assert all(c["answered"] >= 30 for c in counts.values()), counts
    assert sum(c["abandoned"] for c in counts.values()) == 0, counts


@in_virtual_time
async def test_two_predictive_campaigns_on_one_queue_stay_within_the_cap(db):
    counts = await run_two_on_one_queue(db, "predictive", 42)
    assert all(c["answered"] >= 30 for c in counts.values()), counts
    assert within_cap(counts), counts
