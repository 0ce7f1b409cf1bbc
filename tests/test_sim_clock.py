"""The simulated PBX stamps everything with the one clock it is given (the runner's clock)."""

from __future__ import annotations

import asyncio

from pbx.asterisk.ami import AmiMessage, AmiParser, encode
from pbx.sim import SimConfig, SimPbx


class HandClock:
    """A clock moved by hand: simulated epoch seconds, with the scale the PBX waits by."""

    scale = 1.0

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _exchange(port: int, *actions: tuple[tuple[str, str], ...]) -> list[AmiMessage]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    parser = AmiParser()
    replies: list[AmiMessage] = []
    try:
        for action in actions:
            writer.write(encode(action))
            await writer.drain()
            while True:
                msg = parser.next_message()
                if msg is None:
                    parser.feed(await asyncio.wait_for(reader.read(65536), 10))
                    continue
                if isinstance(msg, AmiMessage) and msg.get("Response"):
                    replies.append(msg)
                    break
    finally:
        writer.close()
    return replies


async def test_ping_and_uniqueids_follow_the_injected_clock():
    clock = HandClock(1_800_000_000.25)
    sim = SimPbx(SimConfig(username="u", secret="s"), clock=clock)
    assert sim.new_uniqueid().startswith("1800000000.")
    await sim.start()
    try:
        login = (("Action", "Login"), ("Username", "u"), ("Secret", "s"), ("Events", "off"))
        ping = (("Action", "Ping"), ("ActionID", "p1"))
        first = (await _exchange(sim.ami_port, login, ping))[1]
        clock.now += 3600
        second = (await _exchange(sim.ami_port, login, ping))[1]
    finally:
        await sim.close()
    assert first.get("Timestamp") == "1800000000.250000"
    assert second.get("Timestamp") == "1800003600.250000"
    assert sim.new_uniqueid().startswith("1800003600.")
