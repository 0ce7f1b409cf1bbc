"""Outbound ESL sessions: a loopback 'FreeSWITCH' replays the recorded channel side."""

from __future__ import annotations

import asyncio

import pytest
from test_esl_client import _reencode, segments
from virtual_time import in_virtual_time

from pbx.freeswitch.esl import EslCommandParser
from pbx.freeswitch.outbound import EslSession, OutboundServer
from pbx.session import CallerHungUp, CallSession


async def replay_channel(relpath: str, port: int) -> list[bytes]:
    """Connect to our server as FreeSWITCH did; demand the recorded commands byte for byte."""
    _, script = segments(relpath)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    parser = EslCommandParser()
    received: list[bytes] = []
    try:
        while script:
            data = await asyncio.wait_for(reader.read(65536), 5.0)
            if not data:
                break
            parser.feed(data)
            while script and (msg := parser.next_message()) is not None:
                raw = _reencode(msg)
                received.append(raw)
                expected, answer = script.pop(0)
                assert raw == expected, (raw, expected)
                writer.write(answer)
        await writer.drain()
    finally:
        writer.close()
    assert script == []
    return received


async def run(relpath: str, handler, **opts) -> list[bytes]:
    server = OutboundServer(handler, "127.0.0.1", 0, **opts)
    await server.start()
    try:
        return await asyncio.wait_for(replay_channel(relpath, server.port), 10.0)
    finally:
        await asyncio.sleep(0.05)
        await server.close()


@in_virtual_time
async def test_robot_session_answer_play_hangup_matches_the_recording() -> None:
    seen: dict[str, object] = {}

    async def robot(session: CallSession) -> None:
        seen["call_id"] = session.call_id
        seen["sim_talk"] = session.variables.get("sim_talk")
        await session.answer()
        seen["digit"] = await session.play("rig/rig-hello")
        await session.hangup()
        seen["hung_up"] = session.hung_up
        with pytest.raises(CallerHungUp):
            await session.play("rig/rig-hello")

    received = await run(
        "freeswitch/outbound/outbound_robot_session.txt", robot, event_format="plain"
    )
    assert seen == {
        "call_id": "cd419778-46ff-42a1-b7f8-3fc48bd63b71",
        "sim_talk": "30",
        "digit": "",
        "hung_up": True,
    }
    assert received[-1] == b"exit\n\n"


@in_virtual_time
async def test_sip_robot_session_replays_too() -> None:
    async def robot(session: CallSession) -> None:
        await session.answer()
        assert await session.execute("playback", "rig/rig-hello.wav") == "FILE PLAYED"
        await session.hangup()

    received = await run(
        "freeswitch/outbound/outbound_sip_robot_session.txt", robot, event_format="plain"
    )
    assert len(received) == 7


@in_virtual_time
async def test_callee_hangup_during_playback_raises_caller_hung_up() -> None:
    outcome: list[str] = []

    async def robot(session: CallSession) -> None:
        try:
            await asyncio.gather(
                session.answer(), session.play("tone_stream://%(1000,1000,440);loops=30")
            )
        except CallerHungUp:
            outcome.append("hung up")
        assert session.hung_up
        assert isinstance(session, EslSession) and session.hangup_cause == "NORMAL_CLEARING"

    received = await run(
        "freeswitch/outbound/outbound_callee_hangup.txt", robot, event_format="json"
    )
    assert outcome == ["hung up"]
    assert received[-1] == b"exit\n\n"


@in_virtual_time
async def test_quick_hangup_without_linger_closes_without_exit() -> None:
    outcome: list[str] = []

    async def robot(session: CallSession) -> None:
        try:
            await asyncio.gather(session.answer(), session.play("rig/rig-hello"))
        except CallerHungUp:
            outcome.append("hung up")

    received = await run(
        "freeswitch/outbound/outbound_quick_hangup_nolinger.txt",
        robot,
        event_format="plain",
        linger=False,
    )
    assert outcome == ["hung up"]
    assert received[-1].startswith(b"sendmsg\ncall-command: execute\nexecute-app-name: playback")
