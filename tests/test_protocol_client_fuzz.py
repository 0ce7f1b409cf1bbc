"""Garbage from the PBX never hangs our clients: they fail or reconnect within bounded time.

Each example runs in virtual time (``tests/virtual_time.py``): the clients' timeouts and the
peer's pauses cost no real seconds, and a client that waited without a bound would still meet
the 10 s one here."""

from __future__ import annotations

import asyncio
import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from virtual_time import run_in_virtual_time

from pbx.asterisk.client import AmiClient
from pbx.freeswitch.client import EslClient

GREETINGS = {"esl": b"Content-Type: auth/request\n\n", "ami": b"Asterisk Call Manager/9.0.0\r\n"}


async def serve_garbage(greeting: bytes, garbage: bytes, close: bool):
    """A loopback peer: greet like the PBX, then send ``garbage`` (and maybe hang up)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            writer.write(greeting)
            await writer.drain()
            await asyncio.wait_for(reader.read(4096), 0.5)  # the login / auth command
            writer.write(garbage)
            await writer.drain()
            if close:
                writer.close()
            else:
                await asyncio.sleep(1.0)
                writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def exercise(kind: str, garbage: bytes, close: bool) -> None:
    server = await serve_garbage(GREETINGS[kind], garbage, close)
    port = server.sockets[0].getsockname()[1]
    if kind == "esl":
        client = EslClient("127.0.0.1", port, "ClueCon", command_timeout=0.5)
        request = client.api("status")
    else:
        client = AmiClient(
            "127.0.0.1", port, "u", "s", connect_timeout=0.5, ping_interval=0.2, ping_timeout=0.2
        )
        request = client.send_action([("Action", "Ping")])
    try:
        # Whatever the bytes, each call ends (result or error) well within its bound.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.connect(), 2.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(request, 2.0)
    finally:
        with contextlib.suppress(Exception):
            request.close()
        await asyncio.wait_for(client.close(), 2.0)
        server.close()
        await server.wait_closed()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["esl", "ami"]), garbage=st.binary(max_size=2048), close=st.booleans())
def test_random_bytes_never_hang_a_client(kind, garbage, close):
    run_in_virtual_time(asyncio.wait_for(exercise(kind, garbage, close), 10.0))
