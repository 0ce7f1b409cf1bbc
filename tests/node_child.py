"""One node of a multi-process campaign: a runner and its own simulated PBX in this process.

``python tests/node_child.py '<json>'`` with ``dsn``, ``campaign`` (document), ``pbx``
("asterisk" | "freeswitch"), ``seed``, ``seconds`` (real), ``scale``, ``agents``, ``start``
(simulated epoch) and ``origin`` (``time.monotonic()`` of the parent at ``start``: every node's
clock reads the same simulated time at the same instant).

The parent holds the nodes in step through two lines each way: the node prints ``ready`` with
its PBX up and starts dialing on the parent's ``go`` (all nodes at once, however long each took
to start); it prints ``ran`` when its calls have ended and, on the next ``go`` (every node's
calls have ended), reads the campaign's ledger once more, as its chores do while it runs. Then
it prints one JSON line: the Originates this node's PBX received, the runner's counters and
that ledger (``report``, which tests/test_multi_node_e2e.py also reads off nodes run in one
process). The last read is at a fixed point: a read during the run can come, on a loaded
machine, before any other node's call has ended.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from e2e_rig import Rig, rig_for  # noqa: E402

from dialer_core.campaign.config import parse_campaign  # noqa: E402
from dialer_core.campaign.runner import CampaignRunner  # noqa: E402
from dialer_core.store.database import create_pool  # noqa: E402


def report(rig: Rig, runner: CampaignRunner) -> dict:
    """What a node did: the Originates its PBX received, the runner's counters and the
    abandonment ledger it last read."""
    ledger = getattr(runner.policy, "ledger", None)
    seen = ledger.totals(rig.clock())[0] if ledger is not None else None
    return {
        "runner": runner.runner_id,
        "originates": list(rig.originates_received),
        "launched": runner.stats.launched,
        "finished": runner.stats.finished,
        "answered": runner.stats.answered,
        "skipped_duplicates": runner.stats.skipped_duplicates,
        "held": runner.stats.held_by_rules,
        "pending": runner.results.pending,
        "ledger_answers": None if seen is None else seen.answers,
        "ledger_abandons": None if seen is None else seen.abandons,
    }


async def step(word: str) -> None:
    """Say ``word`` to the parent and wait for its ``go``."""
    print(word, flush=True)
    go = await asyncio.to_thread(sys.stdin.readline)
    assert go.strip() == "go", go


async def main(spec: dict) -> dict:
    pool = await create_pool(spec["dsn"], min_size=1, max_size=4)
    campaign = parse_campaign(spec["campaign"], "node campaign")
    rig = rig_for(spec["pbx"], pool, agents=spec["agents"], time_scale=spec["scale"])
    rig.seed = spec["seed"]
    try:
        async with rig:
            # One simulated time on every node: the parent's start at the parent's instant.
            target = spec["start"] + (time.monotonic() - spec["origin"]) * spec["scale"]
            rig.clock.start += target - rig.clock()
            await step("ready")
            runner = await rig.run_for(campaign, spec["seconds"])
            await step("ran")
            await runner.chores.sync_ledger()
            return report(rig, runner)
    finally:
        await pool.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)
