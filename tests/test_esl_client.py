"""Inbound ESL client and FreeSwitchDriver against loopback servers replaying recorded bytes, in
virtual time (timeouts, heartbeats and back-offs cost no real seconds)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable

import pytest
from test_esl_codec import fixture_bytes, fixture_chunks, parse_all
from virtual_time import in_virtual_time

from pbx.freeswitch.client import EslAuthError, EslClient, LinkDown, LinkUp
from pbx.freeswitch.driver import FreeSwitchDriver
from pbx.freeswitch.esl import EslCommandParser, EslMessage, command_line
from pbx.model import Answered, CallRequest, Hangup, OriginateFailed, Result

SUB_REPLY = b"Content-Type: command/reply\nReply-Text: +OK event listener enabled json\n\n"
OK_REPLY = b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
AUTH_REQUEST = b"Content-Type: auth/request\n\n"
EMPTY_CHANNELS = b'Content-Type: api/response\nContent-Length: 17\n\n{"row_count": 0}\n'


def _heartbeat_bytes() -> bytes:
    """One recorded HEARTBEAT event, framed as FreeSWITCH sent it."""
    data = fixture_bytes("freeswitch/inbound/originate_noanswer.txt", "S")
    for msg in parse_all(data):
        if msg.event is not None and msg.event.name == "HEARTBEAT":
            return b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(msg.body) + (
                msg.body
            )
    raise AssertionError("no HEARTBEAT in capture")


def segments(relpath: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """(greeting, [(command bytes, what FreeSWITCH wrote after it until the next command)])."""
    greeting = b""
    out: list[tuple[bytes, bytes]] = []
    run_c = bytearray()
    for direction, data in fixture_chunks(relpath):
        if direction == "C":
            run_c += data
            continue
        if run_c:
            parser = EslCommandParser()
            parser.feed(bytes(run_c))
            while (msg := parser.next_message()) is not None:
                out.append((_reencode(msg), b""))
            run_c.clear()
        if out:
            out[-1] = (out[-1][0], out[-1][1] + data)
        else:
            greeting += data
    if run_c:
        parser = EslCommandParser()
        parser.feed(bytes(run_c))
        while (msg := parser.next_message()) is not None:
            out.append((_reencode(msg), b""))
    return greeting, out


def _reencode(msg: EslMessage) -> bytes:
    lines = [command_line(msg), *(f"{k}: {v}" for k, v in msg.headers[1:])]
    return ("\n".join(lines) + "\n\n").encode()


def drop_first_message(data: bytes) -> bytes:
    """``data`` without its first ESL message (the reply to a command we did not send)."""
    head_end = data.index(b"\n\n") + 2
    m = re.search(rb"^Content-Length: (\d+)$", data[:head_end], re.M)
    return data[head_end + (int(m.group(1)) if m else 0) :]


class ReplayFs:
    """A loopback 'FreeSWITCH' that answers each command with the capture's next segment.

    Commands are matched by their first word (our originate strings differ from the rig's);
    an ``event`` subscription the capture lacks gets the recorded ``+OK`` reply.
    """

    def __init__(self, relpath: str, skip: tuple[bytes, ...] = ()) -> None:
        self.greeting, self.script = segments(relpath)
        self.skip = skip  # recorded commands our side does not send (their events still come)
        self.received: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> ReplayFs:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(self.greeting)
        script = list(self.script)
        parser = EslCommandParser()
        try:
            while script and (data := await reader.read(65536)):
                parser.feed(data)
                while script and (msg := parser.next_message()) is not None:
                    raw = _reencode(msg)
                    self.received.append(raw)
                    verb = command_line(msg).split(" ")[0]
                    if verb == "event" and not script[0][0].startswith(b"event"):
                        writer.write(SUB_REPLY)
                        continue
                    while self.skip and script[0][0].startswith(self.skip):
                        writer.write(drop_first_message(script.pop(0)[1]))
                    expected, answer = script.pop(0)
                    assert expected.split(b" ")[0].strip() == raw.split(b" ")[0].strip(), raw
                    writer.write(answer)
            await writer.drain()
        finally:
            writer.close()


@in_virtual_time
async def test_auth_api_and_exit_against_recorded_session() -> None:
    async with ReplayFs("freeswitch/inbound/auth_status.txt") as fs:
        client = EslClient("127.0.0.1", fs.port, "ClueCon", heartbeat_timeout=30)
        await client.connect()
        status = await client.api("status")
        assert status.startswith("UP 0 years") and "last 5min 0 \n" in status
        assert await client.show_channels() == []
        assert (await client.api("version")).startswith("FreeSWITCH Version 1.10.12")
        await client.close()
    assert fs.received[0] == b"auth ClueCon\n\n"
    assert fs.received[1].startswith(b"event json CHANNEL_CREATE ")
    assert fs.received[-1] == b"exit\n\n"


@in_virtual_time
async def test_failed_auth_names_host_and_freeswitch_message() -> None:
    async with ReplayFs("freeswitch/inbound/auth_failed.txt") as fs:
        client = EslClient("127.0.0.1", fs.port, "WrongPassword")
        with pytest.raises(EslAuthError) as info:
            await client.connect()
    assert f"127.0.0.1:{fs.port}" in str(info.value)
    assert "-ERR invalid" in str(info.value)


async def _collect(driver: FreeSwitchDriver, count: int, timeout: float = 5.0) -> list[object]:
    out: list[object] = []

    async def take() -> None:
        async for item in driver.events():
            out.append(item)
            if sum(isinstance(i, Hangup) for i in out) >= count:
                return

    await asyncio.wait_for(take(), timeout)
    return out


@in_virtual_time
async def test_driver_originate_busy_sends_bgapi_with_our_job_uuid() -> None:
    call_id = "5f3b2373-95ff-479c-95d7-7280829a6020"  # the capture's origination_uuid
    async with ReplayFs("freeswitch/inbound/originate_busy.txt") as fs:
        driver = FreeSwitchDriver(
            EslClient("127.0.0.1", fs.port, heartbeat_timeout=30),
            dial_template="loopback/{number}/sim-callee",
            target="&park()",
        )
        await driver.connect()
        await driver.originate(CallRequest(call_id, "+5551235", "5550100", ring_timeout=15))
        (hangup,) = [e for e in await _collect(driver, 1) if isinstance(e, Hangup)]
        await driver.close()
    assert (hangup.call_id, hangup.result, hangup.cause) == (call_id, Result.BUSY, 17)
    sent = fs.received[2].decode()
    assert sent == (
        f"bgapi originate {{origination_uuid={call_id},origination_caller_id_number=5550100,"
        f"originate_timeout=15,ignore_early_media=true,pacedial_call_id={call_id}}}"
        f"loopback/5551235/sim-callee &park()\nJob-UUID: {call_id}\n\n"
    )


@in_virtual_time
async def test_driver_parallel_originates_each_end_once() -> None:
    ids = [
        "a6aaa2ab-dfbb-43bc-9bf7-2f92fdaffc3c",
        "8594d421-03fe-44db-a655-f05eca055a73",
        "7ae64c3f-a36a-4412-8817-48c308fba75f",
    ]
    async with ReplayFs("freeswitch/inbound/originate_parallel.txt") as fs:
        driver = FreeSwitchDriver(EslClient("127.0.0.1", fs.port, heartbeat_timeout=30))
        await driver.connect()
        for call_id, number in zip(ids, ("+5551233", "+5551235", "+5551236"), strict=True):
            await driver.originate(CallRequest(call_id, number, "5550100", ring_timeout=10))
        events = await _collect(driver, 3)
        await driver.close()
    results = {e.call_id: e.result for e in events if isinstance(e, Hangup)}
    assert results == {ids[0]: Result.ANSWERED, ids[1]: Result.BUSY, ids[2]: Result.NO_ANSWER}
    assert sum(r.startswith(b"bgapi originate") for r in fs.received) == 3


class ScriptedFs:
    """A minimal ESL server: auth, subscription, then ``on_command`` decides per connection."""

    def __init__(self, on_command: Callable[[int, str, asyncio.StreamWriter], bool]) -> None:
        self.on_command = on_command
        self.connections = 0
        self.commands: list[tuple[int, str]] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> ScriptedFs:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = self.connections
        self.writers.append(writer)
        writer.write(AUTH_REQUEST)
        parser = EslCommandParser()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                parser.feed(data)
                while (msg := parser.next_message()) is not None:
                    line = command_line(msg)
                    self.commands.append((conn, line))
                    if line.startswith("auth "):
                        writer.write(OK_REPLY)
                    elif line.startswith("event "):
                        writer.write(SUB_REPLY)
                    elif not self.on_command(conn, line, writer):
                        writer.transport.abort()
                        return
        writer.close()


async def _next_link_items(client: EslClient, count: int, timeout: float) -> list[object]:
    items: list[object] = []

    async def take() -> None:
        async for item in client.events():
            if isinstance(item, LinkUp | LinkDown):
                items.append(item)
                if len(items) >= count:
                    return

    await asyncio.wait_for(take(), timeout)
    return items


@in_virtual_time
async def test_missing_heartbeat_aborts_and_reconnects() -> None:
    async with ScriptedFs(lambda conn, line, w: True) as fs:
        client = EslClient(
            "127.0.0.1", fs.port, heartbeat_timeout=0.3, backoff_initial=0.05, seed=1
        )
        await client.connect()
        items = await _next_link_items(client, 3, timeout=5.0)
        await client.close()
    assert items[0] == LinkUp(reconnected=False)
    assert isinstance(items[1], LinkDown) and "no HEARTBEAT for 0.3 s" in items[1].reason
    assert items[2] == LinkUp(reconnected=True)
    assert fs.connections == 2


@in_virtual_time
async def test_heartbeats_keep_the_link_up() -> None:
    beat = _heartbeat_bytes()
    async with ScriptedFs(lambda conn, line, w: True) as fs:
        client = EslClient("127.0.0.1", fs.port, heartbeat_timeout=0.4, backoff_initial=0.05)
        await client.connect()
        for _ in range(8):
            for writer in fs.writers:
                writer.write(beat)
            await asyncio.sleep(0.1)
        assert client.connected and client.connects == 1
        await client.close()
    assert fs.connections == 1


@in_virtual_time
async def test_link_cut_with_pending_originate_is_never_resent_and_ends_once() -> None:
    def on_command(conn: int, line: str, writer: asyncio.StreamWriter) -> bool:
        if line.startswith("bgapi originate"):
            return False  # cut the link before FreeSWITCH's reply
        if line == "api show channels as json":
            writer.write(EMPTY_CHANNELS)
        return True

    async with ScriptedFs(on_command) as fs:
        client = EslClient("127.0.0.1", fs.port, heartbeat_timeout=30, backoff_initial=0.3)
        driver = FreeSwitchDriver(client)
        await driver.connect()
        await driver.originate(CallRequest("call-1", "+8613800138000", "5550100"))
        # While the link is down a new originate is refused at once, not queued.
        await asyncio.sleep(0.05)
        await driver.originate(CallRequest("call-2", "+8613800138001", "5550100"))
        events = await _collect(driver, 1)
        await asyncio.sleep(0.3)  # room for a (wrong) re-send
        await driver.close()
    originates = [c for c in fs.commands if c[1].startswith("bgapi originate")]
    assert len(originates) == 1 and originates[0][0] == 1
    assert OriginateFailed("call-2", events[0].reason) == events[0]
    assert "not sent" in events[0].reason
    (hangup,) = [e for e in events if isinstance(e, Hangup)]
    assert (hangup.call_id, hangup.cause, hangup.result) == ("call-1", 0, Result.FAILED)
    assert (2, "api show channels as json") in fs.commands
    assert "+8613800138000" not in "".join(c[1] for c in fs.commands if c[0] == 2)


@in_virtual_time
async def test_command_while_never_connected_fails_without_sending() -> None:
    client = EslClient("127.0.0.1", 9)
    driver = FreeSwitchDriver(client)
    await driver.originate(CallRequest("c", "+8613800138000", "5550100"))
    item = await asyncio.wait_for(anext(aiter(driver.events())), 1.0)
    assert isinstance(item, OriginateFailed) and "not sent" in item.reason
    assert driver.tracker.in_flight() == frozenset()


@in_virtual_time
async def test_a_batch_of_originates_goes_out_before_any_reply_comes_back() -> None:
    held: list[asyncio.StreamWriter] = []

    def on_command(conn: int, line: str, writer: asyncio.StreamWriter) -> bool:
        if line.startswith("bgapi originate"):
            held.append(writer)  # FreeSWITCH is slow to say +OK
        return True

    async with ScriptedFs(on_command) as fs:
        client = EslClient("127.0.0.1", fs.port, heartbeat_timeout=30)
        driver = FreeSwitchDriver(client)
        await driver.connect()
        for i in range(20):  # the runner awaits each one, as it does for a launch batch
            await driver.originate(CallRequest(f"call-{i}", f"+86138001380{i:02d}", "5550100"))
        for _ in range(100):
            if len(held) == 20:
                break
            await asyncio.sleep(0.01)
        assert len(held) == 20, "every originate was sent before the first +OK"
        held[0].write(b"Content-Type: command/reply\nReply-Text: -ERR no\n\n")
        for writer in held[1:]:
            writer.write(b"Content-Type: command/reply\nReply-Text: +OK Job-UUID: x\n\n")
        first = await asyncio.wait_for(anext(aiter(driver.events())), 5)
        await driver.close()
    assert first == OriginateFailed("call-0", first.reason) and "-ERR no" in first.reason


def _originated(relpath: str) -> list[str]:
    """The origination uuids of a capture's originates, in order (our call ids in replays)."""
    data = fixture_bytes(relpath, "C")
    return [u.decode() for u in re.findall(rb"origination_uuid=([0-9a-f-]+)", data)]


@in_virtual_time
async def test_sigterm_shutdown_ends_the_live_call_refuses_originates_and_backs_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """shutdown_sigterm.txt: SIGTERM with an answered call up, then an originate every 100 ms.
    The live call ends once (SYSTEM_SHUTDOWN); each refused originate (no channel:
    DESTINATION_OUT_OF_ORDER, then CHAN_NOT_IMPLEMENTED) is an OriginateFailed, never a
    callee's result; the hold doubles at each refusal (the shutdown's own hang-up does not
    reset it); after the close the driver is not ready."""
    relpath = "freeswitch/inbound/shutdown_sigterm.txt"
    live, *later = _originated(relpath)
    caplog.set_level(logging.WARNING, logger="pbx.freeswitch.driver")
    async with ReplayFs(relpath) as fs:
        driver = FreeSwitchDriver(EslClient("127.0.0.1", fs.port, heartbeat_timeout=30))
        await driver.connect()
        assert driver.ready
        await driver.originate(CallRequest(live, "+5551234", "5550100", ring_timeout=15))
        out: list[object] = []

        async def take() -> None:
            async for item in driver.events():
                out.append(item)
                if isinstance(item, Answered):
                    for call_id in later:
                        await driver.originate(
                            CallRequest(call_id, "+5551239", "5550100", ring_timeout=15)
                        )
                if sum(isinstance(i, Hangup | OriginateFailed) for i in out) == len(later) + 1:
                    return

        await asyncio.wait_for(take(), 5.0)
        assert not driver.ready
        await driver.close()
    (hangup,) = [e for e in out if isinstance(e, Hangup)]
    assert (hangup.call_id, hangup.cause_text, hangup.answered) == (live, "SYSTEM_SHUTDOWN", True)
    failed = {e.call_id: e.reason for e in out if isinstance(e, OriginateFailed)}
    assert list(failed) == later
    assert "DESTINATION_OUT_OF_ORDER" in failed[later[0]]
    assert all("CHAN_NOT_IMPLEMENTED" in failed[c] for c in later[1:])
    holds = [float(m) for m in re.findall(r"holding new calls for ([\d.]+)s", caplog.text)]
    assert holds == [0.5, 1.0, 2.0, 4.0, 8.0]


@in_virtual_time
async def test_first_connection_after_a_restart_is_ready_and_originates_work() -> None:
    """startup_reconnect.txt: FreeSWITCH opens its ESL port only once every module is loaded,
    so the first accepted connection is already up (its ``api status`` says ``is ready``,
    ``fsctl ready_check`` says ``true``). The driver is not ready before the link and ready as
    soon as it is up; both originates, one sent at once, get a normal callee result
    (UNALLOCATED_NUMBER), no refusal and no back-off."""
    relpath = "freeswitch/inbound/startup_reconnect.txt"
    bodies = [m.body for m in parse_all(fixture_bytes(relpath, "S")) if m.body]
    assert b"is ready" in bodies[0] and bodies[1] == b"true"
    ids = _originated(relpath)
    async with ReplayFs(relpath, skip=(b"api ",)) as fs:
        driver = FreeSwitchDriver(EslClient("127.0.0.1", fs.port, heartbeat_timeout=30))
        assert not driver.ready  # no link yet (FreeSWITCH refuses connects while it starts)
        await driver.connect()
        assert driver.ready
        for call_id in ids:
            await driver.originate(CallRequest(call_id, "+5551239", "5550100", ring_timeout=15))
        events = await _collect(driver, len(ids))
        assert driver.ready
        await driver.close()
    results = [(e.call_id, e.result, e.cause) for e in events if isinstance(e, Hangup)]
    assert results == [(c, Result.INVALID_NUMBER, 1) for c in ids]
    assert not [e for e in events if isinstance(e, OriginateFailed)]
