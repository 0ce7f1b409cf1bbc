"""FastAGI and the ESL outbound socket against hostile peers: allow-list, caps, setup hang-ups."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
from test_esl_client import segments

from dialer_core.config_errors import ConfigError
from dialer_core.face.site import parse_site
from pbx.asterisk.agi_server import FastAgiServer
from pbx.freeswitch.outbound import OutboundServer
from pbx.peer_gate import PeerGate, parse_networks

ENV = b"agi_network: yes\nagi_network_script: router\nagi_uniqueid: 1.1\nagi_channel: X\n\n"


class Handled:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, session) -> None:  # noqa: ANN001
        self.calls += 1
        await asyncio.sleep(0)


async def closed_at_once(port: int, data: bytes = b"") -> bool:
    """Connect, send ``data``; True when the server closes without saying anything."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        with contextlib.suppress(ConnectionError):
            writer.write(data)
            await writer.drain()
        try:
            got = await asyncio.wait_for(reader.read(100), 5.0)
        except ConnectionError:
            return True
        return got == b""
    finally:
        writer.close()


def test_defaults_bind_loopback_and_admit_loopback_only() -> None:
    site = parse_site({}, "site.toml")
    assert site.fastagi_host == "127.0.0.1" and site.freeswitch.outbound_host == "127.0.0.1"
    gate = PeerGate()
    assert gate.allows("127.0.0.1") and gate.allows("::1") and gate.allows("::ffff:127.0.0.2")
    assert not gate.allows("10.0.0.5") and not gate.allows("not an address")
    listed = PeerGate.build(["10.0.0.0/24"])
    assert listed.allows("10.0.0.77") and listed.allows("127.0.0.1")
    assert listed.refusal(("10.0.1.1", 5000), 0) and not listed.refusal(("10.0.0.1", 5000), 0)
    assert "cap" in PeerGate.build([], 3).refusal(("127.0.0.1", 1), 3)


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        ({"fastagi": {"allowed_peers": ["10.0.0.5", "pbx.example"]}}, "fastagi.allowed_peers"),
        ({"fastagi": {"max_connections": 0}}, "fastagi.max_connections"),
        ({"freeswitch": {"outbound_allowed_peers": [5]}}, "freeswitch.outbound_allowed_peers"),
        ({"fastagi": {"hosts": "x"}}, "fastagi.hosts"),
    ],
)
def test_site_refuses_bad_allow_lists_naming_the_key(doc, key) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_site(doc, "site.toml")


async def test_fastagi_refuses_peers_off_the_allow_list_before_reading() -> None:
    handled = Handled()
    gate = PeerGate(parse_networks(["192.0.2.10"]))  # not even loopback
    async with FastAgiServer(handled, port=0, gate=gate) as server:
        assert await closed_at_once(server.port, ENV)
        assert server.refused == 1 and handled.calls == 0
    async with FastAgiServer(handled, port=0) as server:  # loopback is on the default list
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(ENV)
        first = await asyncio.wait_for(reader.read(100), 5.0)
        writer.close()
        assert first.startswith(b"GET ") and server.refused == 0


async def test_fastagi_connection_cap_and_environment_size_hold_under_a_flood() -> None:
    handled = Handled()
    cap = 20
    async with FastAgiServer(
        handled, port=0, gate=PeerGate.build([], cap), env_timeout=30
    ) as server:
        # 200 connections that never finish their environment: only `cap` are served.
        flood = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(200)]
        for _ in range(100):
            if server.refused + server.active_sessions >= 200:
                break
            await asyncio.sleep(0.05)
        assert server.active_sessions == cap
        assert server.refused == 200 - cap
        for _, writer in flood:
            writer.close()
        for _ in range(100):
            if server.active_sessions == 0:
                break
            await asyncio.sleep(0.05)
        # A peer that sends an endless environment is dropped at the size limit.
        dropped = server.dropped
        assert await closed_at_once(server.port, (b"agi_x: " + b"y" * 1000 + b"\n") * 100)
        assert server.dropped == dropped + 1
    assert handled.calls == 0


async def test_outbound_socket_refuses_peers_off_the_allow_list() -> None:
    handled = Handled()
    server = OutboundServer(handled, "127.0.0.1", 0, gate=PeerGate(parse_networks(["192.0.2.1"])))
    await server.start()
    try:
        assert await closed_at_once(server.port, b"")
        assert server.refused == 1 and handled.calls == 0
    finally:
        await server.close()


async def test_outbound_callee_hangup_during_setup_ends_quietly(caplog) -> None:
    """FreeSWITCH gives the channel data, then the callee hangs up before ``myevents``."""
    _, script = segments("freeswitch/outbound/outbound_quick_hangup_nolinger.txt")
    connect_reply = script[0][1]
    handled = Handled()
    unhandled: list[dict] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, ctx: unhandled.append(ctx))
    server = OutboundServer(handled, "127.0.0.1", 0)
    await server.start()
    try:
        with caplog.at_level(logging.INFO, logger="pbx.freeswitch.outbound"):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            assert await asyncio.wait_for(reader.readuntil(b"\n\n"), 5.0) == b"connect\n\n"
            writer.write(connect_reply)
            assert b"myevents" in await asyncio.wait_for(reader.readuntil(b"\n\n"), 5.0)
            writer.close()  # the channel is gone: FreeSWITCH closes the socket
            for _ in range(100):
                if "hung up during session setup" in caplog.text:
                    break
                await asyncio.sleep(0.05)
    finally:
        await server.close()
        loop.set_exception_handler(previous)
    assert "hung up during session setup" in caplog.text
    assert handled.calls == 0 and unhandled == []
