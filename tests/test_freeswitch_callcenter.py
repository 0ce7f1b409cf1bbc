"""The outbound-socket session in mod_callcenter, replayed from the 2026-12-06 captures: an agent
conversation stays up past callcenter's completion, and the 2-second deadline takes the caller
out of the queue with the exit key while the session keeps control (the drop message plays)."""

from __future__ import annotations

import asyncio
import re

from test_esl_client import (
    _reencode,  # noqa: I001  (shared with the other replay tests)
    segments,
)

from pbx.freeswitch.esl import EslCommandParser
from pbx.freeswitch.outbound import EslSession, OutboundServer
from pbx.session import CallSession

# Commands the capture scripts sent that our session does not (extra subscriptions, checks).
_SKIPPED = (b"event ", b"api uuid_getvar ")


def _drop_first_message(data: bytes) -> bytes:
    """``data`` without its first ESL message (the reply to a command we did not send)."""
    head_end = data.index(b"\n\n") + 2
    m = re.search(rb"^Content-Length: (\d+)$", data[:head_end], re.M)
    return data[head_end + (int(m.group(1)) if m else 0) :]


def _set_completed(command: bytes, uuid: bytes) -> bytes:
    """FreeSWITCH's answer to a ``set`` the recording did not have: +OK, EXECUTE_COMPLETE."""
    arg = re.search(rb"^execute-app-arg: (.*)$", command, re.M).group(1)
    body = b"Event-Name: CHANNEL_EXECUTE_COMPLETE\nUnique-ID: %s\nApplication: set\n" % uuid
    body += b"Application-Data: %s\nApplication-Response: _none_\n\n" % arg
    reply = b"Content-Type: command/reply\nReply-Text: +OK\n\n"
    event = b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body)
    return reply + event + body


async def replay_tolerant(relpath: str, port: int) -> list[bytes]:
    """Play FreeSWITCH's side to our server; each command we send must be the next recorded
    one, apart from recorded commands in ``_SKIPPED`` (their events are still delivered)."""
    _, script = segments(relpath)
    uuid = b""
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
                if b"execute-app-name: set\n" in raw and raw != script[0][0]:
                    writer.write(_set_completed(raw, uuid))  # not in this recording
                    continue
                expected, answer = script.pop(0)
                if raw.startswith(b"connect"):
                    uuid = re.search(rb"^Unique-ID: (\S+)$", answer, re.M).group(1)
                assert raw == expected, (raw, expected)
                while script and script[0][0].startswith(_SKIPPED):
                    answer += _drop_first_message(script.pop(0)[1])
                writer.write(answer)
        await writer.drain()
    finally:
        writer.close()
    assert script == []
    return received


async def run(relpath: str, handler) -> list[bytes]:
    server = OutboundServer(handler, "127.0.0.1", 0, event_format="plain")
    await server.start()
    try:
        return await asyncio.wait_for(replay_tolerant(relpath, server.port), 15.0)
    finally:
        await asyncio.sleep(0.05)
        await server.close()


async def test_agent_conversation_stays_up_until_the_hang_up() -> None:
    """outbound_callcenter_agent.txt: callcenter completes at the agent's answer; the session
    waits for the conversation to end and never hangs the bridged call up itself."""
    seen: dict[str, object] = {}

    async def handler(session: CallSession) -> None:
        await session.answer()
        seen["connected"] = await session.enqueue("collectors@default", 30.0)
        seen["hung_up"] = session.hung_up
        assert isinstance(session, EslSession)
        seen["cause"] = session.hangup_cause

    received = await run("freeswitch/outbound/outbound_callcenter_agent.txt", handler)
    assert seen == {"connected": True, "hung_up": True, "cause": "NORMAL_CLEARING"}
    assert not any(b"call-command: hangup" in r for r in received)
    assert received[-1] == b"exit\n\n"


async def test_deadline_leaves_the_queue_with_the_exit_key_and_plays_the_message() -> None:
    """outbound_callcenter_timeout_exit.txt: set cc_exit_keys=D, callcenter, at the deadline
    uuid_recv_dtmf D; callcenter completes (EXIT_WITH_KEY), the playback and hangup run."""
    seen: dict[str, object] = {}

    async def handler(session: CallSession) -> None:
        await session.answer()
        seen["connected"] = await session.enqueue("collectors@default", 0.2)
        seen["reason"] = await session.get_variable("cc_cancel_reason")
        await session.play("rig/rig-hello")
        await session.hangup()

    received = await run("freeswitch/outbound/outbound_callcenter_timeout_exit.txt", handler)
    assert seen == {"connected": False, "reason": "EXIT_WITH_KEY"}
    assert any(r.startswith(b"api uuid_recv_dtmf ") and r.endswith(b" D\n\n") for r in received)


async def test_deadline_with_an_agent_ringing_cancels_the_ring_and_keeps_the_caller() -> None:
    """outbound_callcenter_timeout_exit_agent_ringing.txt: the exit key at the deadline while
    an agent's phone rings: callcenter completes (EXIT_WITH_KEY, no agent bridged), the ring
    is cancelled, and the session plays the message and hangs up."""
    seen: dict[str, object] = {}

    async def handler(session: CallSession) -> None:
        await session.answer()
        seen["connected"] = await session.enqueue("collectors@default", 0.2)
        seen["reason"] = await session.get_variable("cc_cancel_reason")
        await session.play("rig/rig-hello")
        await session.hangup()

    relpath = "freeswitch/outbound/outbound_callcenter_timeout_exit_agent_ringing.txt"
    received = await run(relpath, handler)
    assert seen == {"connected": False, "reason": "EXIT_WITH_KEY"}
    assert any(r.startswith(b"api uuid_recv_dtmf ") and r.endswith(b" D\n\n") for r in received)
