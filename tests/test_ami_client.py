"""AmiClient against a loopback AMI peer (tests/ami_peer.py) that replays recorded Asterisk
bytes or runs a scripted exchange."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from ami_peer import PeerConn, ReplayPeer  # noqa: E402

from pbx.asterisk.ami import AmiMessage, encode  # noqa: E402
from pbx.asterisk.client import AmiClient, AmiLinkLost, AmiLoginError  # noqa: E402


async def _wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout)


def _client(port: int, **kw: object) -> AmiClient:
    kw.setdefault("ping_interval", 30.0)
    return AmiClient("127.0.0.1", port, "dialer", "dialer", **kw)  # type: ignore[arg-type]


async def _take_events(client: AmiClient, n: int) -> list[AmiMessage]:
    out: list[AmiMessage] = []

    async def take() -> None:
        async for ev in client.events():
            out.append(ev)
            if len(out) == n:
                return

    await asyncio.wait_for(take(), 3)
    return out


async def test_login_ping_and_logoff_against_recorded_asterisk() -> None:
    async with ReplayPeer("asterisk/ami/login_ping.txt") as peer:
        client = _client(peer.port)
        await client.connect()
        assert client.link_state == "connected"
        assert client.banner == "Asterisk Call Manager/9.0.0"
        assert [e.event for e in await _take_events(client, 2)] == ["FullyBooted", "SuccessfulAuth"]
        pong = await client.send_action([("Action", "Ping")])
        assert pong["Ping"] == "Pong" and pong.action_id and pong.action_id.startswith("pacedial-")
        settings = await client.send_action([("Action", "CoreSettings"), ("ActionID", "mine-1")])
        assert (settings.action_id, settings["AsteriskVersion"]) == ("mine-1", "20.20.1")
        await client.send_action([("Action", "CoreStatus")])
        await client.close()
        assert client.link_state == "closed"
        assert [e async for e in client.events()] == []  # ended by close()
    assert [a.action for a in peer.actions()] == [
        "Login", "Ping", "CoreSettings", "CoreStatus", "Logoff",
    ]  # fmt: skip


async def test_login_failure_names_host_port_and_asterisk_message() -> None:
    async with ReplayPeer("asterisk/ami/login_failed.txt") as peer:
        client = _client(peer.port)
        with pytest.raises(AmiLoginError) as info:
            await client.connect()
        assert f"127.0.0.1:{peer.port}" in str(info.value)
        assert "Authentication failed" in str(info.value)
        assert "dialer" in str(info.value) and "Secret" not in str(info.value)
        assert client.link_state == "disconnected"


async def test_action_ids_correlate_with_interleaved_events() -> None:
    async with ReplayPeer("asterisk/ami/originate_parallel.txt") as peer:
        client = _client(peer.port)
        await client.connect()

        def originate(call_id: str, number: str) -> list[tuple[str, str]]:
            return [("Action", "Originate"), ("ActionID", call_id),
                    ("Channel", f"Local/{number}@sim-callee"), ("Async", "true")]  # fmt: skip

        replies = await asyncio.gather(
            client.send_action(originate("call-a", "5551232")),
            client.send_action(originate("call-b", "5551245")),
            client.send_action(originate("call-c", "5551256")),
        )
        assert [(r.action_id, r["Message"]) for r in replies] == [
            (cid, "Originate successfully queued") for cid in ("call-a", "call-b", "call-c")
        ]
        events = await _take_events(client, 143 - 6)  # all but the banner and 5 responses
        assert events[-1].event == "DeviceStateChange"
        outcome = {e.action_id: e["Reason"] for e in events if e.event == "OriginateResponse"}
        assert outcome == {"call-a": "4", "call-b": "5", "call-c": "3"}
        await client.close()


async def test_response_out_of_order_and_event_with_same_action_id() -> None:
    async def handler(conn: PeerConn, index: int) -> None:
        await conn.login()
        first = await conn.read_action()
        second = await conn.read_action()
        assert first and second
        conn.write(encode([("Response", "Success"), ("ActionID", second.action_id or "")]))
        conn.write(encode([("Event", "OriginateResponse"), ("ActionID", first.action_id or ""),
                           ("Response", "Failure"), ("Reason", "5")]))  # fmt: skip
        conn.write(encode([("Response", "Error"), ("ActionID", first.action_id or ""),
                           ("Message", "Nope")]))  # fmt: skip
        await conn.drain_until_eof()

    async with ReplayPeer(handler=handler) as peer:
        client = _client(peer.port)
        await client.connect()
        one = asyncio.create_task(client.send_action([("Action", "Originate"), ("ActionID", "x1")]))
        await asyncio.sleep(0.01)
        two = await client.send_action([("Action", "Status"), ("ActionID", "x2")])
        assert two.response == "Success" and two.action_id == "x2"
        assert (await one)["Message"] == "Nope"
        (ev,) = await _take_events(client, 1)
        assert (ev.event, ev.action_id) == ("OriginateResponse", "x1")
        await client.close()


async def test_ping_timeout_tears_down_and_reconnects() -> None:
    async def handler(conn: PeerConn, index: int) -> None:
        await conn.login()
        while (action := await conn.read_action()) is not None:
            conn.answer_logoff(action)
            if index > 0 and action.action == "Ping":  # the first link swallows Pings
                conn.write(encode([("Response", "Success"), ("ActionID", action.action_id or ""),
                                   ("Ping", "Pong")]))  # fmt: skip

    async with ReplayPeer(handler=handler) as peer:
        client = _client(
            peer.port, ping_interval=0.05, ping_timeout=0.1, reconnect_backoff=(0.01, 0.05)
        )
        reconnected = asyncio.Event()
        client.on_reconnect.append(reconnected.set)
        await client.connect()
        await asyncio.wait_for(reconnected.wait(), 3)
        assert client.link_state == "connected" and client.reconnects == 1
        await _wait_for(lambda: len(peer.conns) == 2 and peer.conns[1].received.count(b"Ping") >= 2)
        assert client.reconnects == 1  # answered Pings keep the second link up
        await client.close()


async def test_link_cut_fails_pending_originate_and_never_resends_it() -> None:
    async def handler(conn: PeerConn, index: int) -> None:
        await conn.login()
        if index == 0:
            action = await conn.read_action()
            assert action is not None and action.action == "Originate"
            conn.writer.close()  # Asterisk gone before answering
            return
        while (action := await conn.read_action()) is not None:
            conn.write(encode([("Response", "Success"), ("ActionID", action.action_id or "")]))

    async with ReplayPeer(handler=handler) as peer:
        client = _client(peer.port, reconnect_backoff=(0.01, 0.05))
        reconnected = asyncio.Event()
        client.on_reconnect.append(reconnected.set)
        await client.connect()
        with pytest.raises(AmiLinkLost) as info:
            await client.send_action(
                [("Action", "Originate"), ("ActionID", "call-1"), ("Channel", "Local/1@x")]
            )
        assert info.value.sent is True
        await asyncio.wait_for(reconnected.wait(), 3)
        ok = await client.send_action([("Action", "Ping")])  # the new link works
        assert ok.response == "Success"
        await asyncio.sleep(0.1)
        await client.close()
    assert [a.action for a in peer.actions()].count("Originate") == 1
    assert b"Originate" not in peer.conns[1].received
    assert peer.conns[1].received.startswith(b"Action: Login\r\n")


async def test_idempotent_list_action_is_resent_when_asked() -> None:
    async def handler(conn: PeerConn, index: int) -> None:
        await conn.login()
        action = await conn.read_action()
        assert action is not None and action.action == "QueueStatus"
        if index == 0:
            conn.writer.close()
            return
        aid = action.action_id or ""
        conn.write(encode([("Response", "Success"), ("ActionID", aid), ("EventList", "start")]))
        conn.write(encode([("Event", "QueueMember"), ("Queue", "q"), ("ActionID", aid)]))
        conn.write(encode([("Event", "QueueStatusComplete"), ("ActionID", aid)]))
        await conn.drain_until_eof()

    async with ReplayPeer(handler=handler) as peer:
        client = _client(peer.port, reconnect_backoff=(0.01, 0.05))
        await client.connect()
        items = await asyncio.wait_for(
            client.send_action_list([("Action", "QueueStatus")], complete="QueueStatusComplete"),
            3,
        )
        assert [m.event for m in items] == ["QueueMember"]
        with pytest.raises(ValueError, match="never re-sent"):
            await client.send_action([("Action", "Originate")], resend_on_reconnect=True)
        await client.close()


async def test_actions_refused_when_down_or_injected() -> None:
    client = _client(1)
    with pytest.raises(AmiLinkLost) as info:
        await client.send_action([("Action", "Ping")])
    assert info.value.sent is False

    async def handler(conn: PeerConn, index: int) -> None:
        await conn.login()
        await conn.drain_until_eof()

    async with ReplayPeer(handler=handler) as peer:
        client = _client(peer.port)
        await client.connect()
        with pytest.raises(ValueError, match="header injection"):
            await client.send_action([("Action", "Originate"), ("CallerID", "1\r\nAction: X")])
        await client.close()
    assert [a.action for a in peer.actions()] == ["Login", "Logoff"]


async def test_event_queue_overflow_drops_oldest() -> None:
    async def handler(conn: PeerConn, index: int) -> None:
        await conn.login()
        for i in range(5):
            conn.write(encode([("Event", "UserEvent"), ("N", str(i))]))
        await conn.drain_until_eof()

    async with ReplayPeer(handler=handler) as peer:
        client = _client(peer.port, event_queue_size=3)
        await client.connect()
        await _wait_for(lambda: client.dropped_events == 2)
        assert [e["N"] for e in await _take_events(client, 3)] == ["2", "3", "4"]
        await client.close()
