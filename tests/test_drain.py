"""The shutdown drain: calls that end in time are left alone, the rest hung up, then closed."""

from __future__ import annotations

import asyncio

from dialer_core.campaign import calls as c
from dialer_core.campaign.drain import DRAIN_MARGIN, HANGUP_WAIT, drain
from tests.test_call_states import CAMPAIGN, CONTACT
from tests.virtual_time import in_virtual_time

RING_TIMEOUT = 30.0


@in_virtual_time
async def test_drain_waits_then_hangs_up_then_closes_the_lost() -> None:
    loop = asyncio.get_running_loop()
    inflight = {
        i: c.Call(i, CONTACT, CAMPAIGN, "+8675500000000") for i in ("ends", "obeys", "deaf")
    }
    fed: list[tuple[str, str, float]] = []

    async def feed(call: c.Call, event: c.Event) -> None:
        fed.append((call.call_id, type(event).__name__, event.at))
        if call.call_id == "obeys" or isinstance(event, c.Lost):
            loop.call_later(1.0, inflight.pop, call.call_id)  # the PBX reports the end

    loop.call_later(20.0, inflight.pop, "ends")  # ends on its own, well inside the drain
    await drain(inflight, feed, loop.time, RING_TIMEOUT)

    stop_at = RING_TIMEOUT + c.HANDLER_GRACE + DRAIN_MARGIN
    assert [(i, kind) for i, kind, _ in fed] == [
        ("obeys", "StopRequested"),
        ("deaf", "StopRequested"),
        ("deaf", "Lost"),
    ]
    assert all(abs(at - stop_at) < 0.2 for _, kind, at in fed if kind == "StopRequested")
    assert abs(fed[-1][2] - (stop_at + HANGUP_WAIT)) < 0.2


@in_virtual_time
async def test_drain_returns_at_once_when_nothing_is_in_flight() -> None:
    loop = asyncio.get_running_loop()

    async def feed(call: c.Call, event: c.Event) -> None:
        raise AssertionError("nothing to feed")

    await drain({}, feed, loop.time, RING_TIMEOUT)
    assert loop.time() == 0.0


@in_virtual_time
async def test_the_hang_ups_at_shutdown_go_out_side_by_side() -> None:
    loop = asyncio.get_running_loop()
    inflight = {f"c{i}": c.Call(f"c{i}", CONTACT, CAMPAIGN, "+8675500000000") for i in range(50)}
    waiting: list[str] = []
    most = 0

    async def feed(call: c.Call, event: c.Event) -> None:
        nonlocal most
        if isinstance(event, c.StopRequested):  # a Hangup action awaiting its Response
            waiting.append(call.call_id)
            most = max(most, len(waiting))
            await asyncio.sleep(0.5)
            waiting.remove(call.call_id)
            loop.call_later(1.0, inflight.pop, call.call_id)

    started = loop.time()
    await drain(inflight, feed, loop.time, RING_TIMEOUT)
    assert most == 50, "every hang-up was sent before the first one was answered"
    assert not inflight
    assert loop.time() - started < RING_TIMEOUT + c.HANDLER_GRACE + DRAIN_MARGIN + 2
