"""The virtual-time loop the end-to-end tests run on: idle time passes at once, outside work is
waited for."""

from __future__ import annotations

import asyncio
import time

import pytest
from virtual_time import VirtualTimeLoop, open_pool, run_in_virtual_time


def test_the_loop_clock_jumps_over_idle_time_and_waits_for_outside_work():
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        await asyncio.sleep(3600)  # an idle hour passes at once
        slept = loop.time()
        # While a thread works, no timer fires early: the clock stands still until it is done.
        timer = asyncio.ensure_future(asyncio.sleep(0.01))
        await asyncio.to_thread(time.sleep, 0.05)
        assert not timer.done()
        await timer
        return slept, loop.time()

    slept, after = run_in_virtual_time(main())
    assert slept == 3600
    assert after == pytest.approx(3600.01)


def test_open_pool_needs_the_virtual_loop():
    with pytest.raises(AssertionError):
        asyncio.run(open_pool("postgresql://unused"))
