"""Decided launches become launch rounds one at a time, each at most a launch batch."""

from __future__ import annotations

import asyncio

from virtual_time import in_virtual_time

from dialer_core.campaign.launch import LAUNCH_BATCH
from dialer_core.campaign.launch_queue import LaunchQueue


@in_virtual_time
async def test_decisions_never_wait_and_rounds_run_one_at_a_time() -> None:
    rounds: list[int] = []
    running = 0

    async def launch_round(n: int) -> None:
        nonlocal running
        running += 1
        assert running == 1, "one round at a time"
        rounds.append(n)
        await asyncio.sleep(0.05)  # the database's round trips
        for _ in range(n):
            queue.sent()
        running -= 1

    queue = LaunchQueue(launch_round)
    task = asyncio.create_task(queue.run())
    queue.add(LAUNCH_BATCH + 50)
    assert queue.launching == LAUNCH_BATCH + 50, "counted at once, before any round"
    await asyncio.sleep(0.01)
    queue.add(30)  # decided while the first round is in flight
    assert queue.launching == LAUNCH_BATCH + 80
    await asyncio.sleep(0.2)
    await queue.idle()
    assert rounds == [LAUNCH_BATCH, 80] and queue.launching == 0
    queue.add(10)
    queue.drop()  # paused or stopped before a round took them
    await asyncio.sleep(0.1)
    assert rounds == [LAUNCH_BATCH, 80] and queue.launching == 0
    task.cancel()
