"""The outbound-socket session in mod_callcenter, replayed from the 2026-12-06 captures: an agent
conversation stays up past callcenter's completion, and the 2-second deadline takes the caller
out of the queue with the exit key while the session keeps control (the drop message plays)."""

from __future__ import annotations

import asyncio
import re

from test_esl_client import (
    _reencode,  # noqa: I001  (shared with the other replay tests)
    drop_first_message,
    segments,
)
from test_esl_codec import fixture_bytes, parse_all

from pbx.freeswitch.esl import EslCommandParser
from pbx.freeswitch.outbound import EslSession, OutboundServer
from pbx.session import CallerHungUp, CallSession

# Commands the capture scripts sent that our session does not (extra subscriptions, checks).
_SKIPPED = (b"event ", b"api uuid_getvar ")


def _set_completed(command: bytes, uuid: bytes) -> bytes:
    """FreeSWITCH's answer to a ``set`` the recording did not have: +OK, EXECUTE_COMPLETE."""
    arg = re.search(rb"^execute-app-arg: (.*)$", command, re.M).group(1)
    body = b"Event-Name: CHANNEL_EXECUTE_COMPLETE\nUnique-ID: %s\nApplication: set\n" % uuid
    body += b"Application-Data: %s\nApplication-Response: _none_\n\n" % arg
    reply = b"Content-Type: command/reply\nReply-Text: +OK\n\n"
    event = b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body)
    return reply + event + body


async def replay_tolerant(relpath: str, port: int, skip: tuple[bytes, ...] = ()) -> list[bytes]:
    """Play FreeSWITCH's side to our server; each command we send must be the next recorded
    one, apart from recorded commands in ``_SKIPPED`` or ``skip`` (commands of the capture
    script our session never sends; their events are still delivered)."""
    skipped = _SKIPPED + skip
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
                while script and script[0][0].startswith(skipped):
                    answer += drop_first_message(script.pop(0)[1])
                writer.write(answer)
        await writer.drain()
    finally:
        writer.close()
    assert script == []
    return received


async def run(relpath: str, handler, skip: tuple[bytes, ...] = ()) -> list[bytes]:
    server = OutboundServer(handler, "127.0.0.1", 0, event_format="plain")
    await server.start()
    try:
        return await asyncio.wait_for(replay_tolerant(relpath, server.port, skip), 15.0)
    finally:
        await asyncio.sleep(0.05)
        await server.close()


async def queue_then_drop(relpath: str, queue: str, wait: float) -> tuple[dict, list[bytes]]:
    """Replay ``relpath`` against the handler pacedial's queue step amounts to: answer, queue
    the caller for ``wait`` seconds, read ``cc_cancel_reason``, play the message, hang up.
    Returns what the session saw (``connected``, ``reason``) and the commands it sent."""
    seen: dict[str, object] = {}

    async def handler(session: CallSession) -> None:
        await session.answer()
        seen["connected"] = await session.enqueue(queue, wait)
        seen["reason"] = await session.get_variable("cc_cancel_reason")
        await session.play("rig/rig-hello")
        await session.hangup()

    return seen, await run(relpath, handler)


async def wait_in_queue(session: CallSession, seen: dict[str, object]) -> None:
    """Answer, wait up to 30 s for an agent; note whether one came, and the hang-up."""
    await session.answer()
    seen["connected"] = await session.enqueue("collectors@default", 30.0)
    seen["hung_up"] = session.hung_up
    assert isinstance(session, EslSession)
    seen["cause"] = session.hangup_cause


async def test_agent_conversation_stays_up_until_the_hang_up() -> None:
    """outbound_callcenter_agent.txt: callcenter completes at the agent's answer; the session
    waits for the conversation to end and never hangs the bridged call up itself."""
    seen: dict[str, object] = {}

    async def handler(session: CallSession) -> None:
        await wait_in_queue(session, seen)

    received = await run("freeswitch/outbound/outbound_callcenter_agent.txt", handler)
    assert seen == {"connected": True, "hung_up": True, "cause": "NORMAL_CLEARING"}
    assert not any(b"call-command: hangup" in r for r in received)
    assert received[-1] == b"exit\n\n"


async def test_deadline_leaves_the_queue_with_the_exit_key_and_plays_the_message() -> None:
    """outbound_callcenter_timeout_exit.txt: set cc_exit_keys=D, callcenter, at the deadline
    uuid_recv_dtmf D; callcenter completes (EXIT_WITH_KEY), the playback and hangup run."""
    relpath = "freeswitch/outbound/outbound_callcenter_timeout_exit.txt"
    seen, received = await queue_then_drop(relpath, "collectors@default", 0.2)
    assert seen == {"connected": False, "reason": "EXIT_WITH_KEY"}
    assert any(r.startswith(b"api uuid_recv_dtmf ") and r.endswith(b" D\n\n") for r in received)


async def test_deadline_with_an_agent_ringing_cancels_the_ring_and_keeps_the_caller() -> None:
    """outbound_callcenter_timeout_exit_agent_ringing.txt: the exit key at the deadline while
    an agent's phone rings: callcenter completes (EXIT_WITH_KEY, no agent bridged), the ring
    is cancelled, and the session plays the message and hangs up."""
    relpath = "freeswitch/outbound/outbound_callcenter_timeout_exit_agent_ringing.txt"
    seen, received = await queue_then_drop(relpath, "collectors@default", 0.2)
    assert seen == {"connected": False, "reason": "EXIT_WITH_KEY"}
    assert any(r.startswith(b"api uuid_recv_dtmf ") and r.endswith(b" D\n\n") for r in received)


async def test_max_wait_time_ends_callcenter_by_itself_and_the_session_keeps_the_caller() -> None:
    """outbound_callcenter_max_wait_time.txt (queue max-wait-time, which pacedial does not use:
    its deadline is the exit key): callcenter completes by itself with TIMEOUT and no agent.
    The session reads it as "no agent", sends no exit key, and still plays and hangs up."""
    relpath = "freeswitch/outbound/outbound_callcenter_max_wait_time.txt"
    seen, received = await queue_then_drop(relpath, "collectors-2s@default", 30.0)
    assert seen == {"connected": False, "reason": "TIMEOUT"}
    assert not any(r.startswith(b"api uuid_recv_dtmf ") for r in received)
    assert received[-1] == b"exit\n\n"


async def test_max_wait_time_with_an_agent_ringing_is_an_agent_conversation() -> None:
    """outbound_callcenter_max_wait_time_agent_ringing.txt (max-wait-time, not used by
    pacedial): TIMEOUT fires only at the agent's answer and the agent is bridged anyway. The
    callcenter EXECUTE_COMPLETE says both ``cc_cancel_reason=TIMEOUT`` and
    ``cc_agent_bridged=true``: the session believes the bridge (an agent talked to the caller),
    so ``enqueue`` is True once the call ends. The capture script's playback and hangup, sent
    during the bridge, are replayed alongside and end the agent call as captured."""
    seen: dict[str, object] = {}

    async def handler(session: CallSession) -> None:
        await session.answer()
        queued = asyncio.ensure_future(session.enqueue("collectors-2s@default", 30.0))
        for _ in range(500):  # until callcenter completes (the capture's 5.09 s)
            if session.channel_data.get("variable_cc_agent_bridged") == "true":
                break
            await asyncio.sleep(0.01)
        seen["reason"] = await session.get_variable("cc_cancel_reason")
        await session.play("rig/rig-hello")
        await session.hangup()
        seen["connected"] = await queued

    relpath = "freeswitch/outbound/outbound_callcenter_max_wait_time_agent_ringing.txt"
    received = await run(relpath, handler)
    assert seen == {"reason": "TIMEOUT", "connected": True}
    assert not any(r.startswith(b"api uuid_recv_dtmf ") for r in received)


async def test_uuid_break_is_ignored_and_the_caller_hanging_up_ends_the_wait() -> None:
    """outbound_callcenter_no_agent_break.txt: all agents on break; the capture script's
    ``uuid_break`` and ``sendmsg hangup`` (neither used by pacedial) do nothing while callcenter
    waits; the callee hangs up 10 s later and callcenter completes after the hangup with
    BREAK_OUT. The session reads that as no agent and a hung-up caller."""
    seen: dict[str, object] = {}

    async def handler(session: CallSession) -> None:
        await wait_in_queue(session, seen)
        seen["reason"] = await session.get_variable("cc_cancel_reason")

    skip = (b"api uuid_break ", b"api callcenter_config ", b"sendmsg\ncall-command: hangup\n")
    relpath = "freeswitch/outbound/outbound_callcenter_no_agent_break.txt"
    received = await run(relpath, handler, skip)
    assert seen == {
        "connected": False,
        "hung_up": True,
        "cause": "NORMAL_CLEARING",
        "reason": "BREAK_OUT",
    }
    assert not any(b"call-command: hangup" in r for r in received)


async def test_uuid_transfer_leaves_the_queue_and_the_session_sees_the_call_end() -> None:
    """outbound_callcenter_transfer.txt (``uuid_transfer``, not used by pacedial: it gives up
    the socket session): callcenter completes with BREAK_OUT and no agent, the socket
    application completes, the new extension plays and hangs up. The session says "no agent"
    and then sees the hang-up; it sends nothing further but ``exit``."""
    seen: dict[str, object] = {}

    async def handler(session: CallSession) -> None:
        await session.answer()
        seen["connected"] = await session.enqueue("collectors@default", 30.0)
        seen["reason"] = await session.get_variable("cc_cancel_reason")
        try:
            await session.wait_digit(30.0)
        except CallerHungUp:
            seen["hung_up"] = True

    relpath = "freeswitch/outbound/outbound_callcenter_transfer.txt"
    received = await run(relpath, handler, (b"api uuid_transfer ",))
    assert seen == {"connected": False, "reason": "BREAK_OUT", "hung_up": True}
    assert received[-1] == b"exit\n\n"


async def test_avmd_events_twice_each_do_not_disturb_the_session() -> None:
    """outbound_avmd_beep.txt: mod_avmd reports a beep (any steady tone), it does not tell a
    human from a machine, so pacedial's machine detection uses mod_amd's ``amd`` instead.
    The session still runs avmd_start / avmd_stop through the doubled ``avmd::*`` CUSTOM
    events (one copy without Unique-ID) and reads ``avmd_detect`` from the channel data."""
    seen: dict[str, object] = {}

    async def handler(session: CallSession) -> None:
        await session.answer()
        seen["start"] = await session.execute("avmd_start")
        seen["detect"] = session.channel_data.get("variable_avmd_detect")
        seen["stop"] = await session.execute("avmd_stop")
        await session.hangup()

    received = await run("freeswitch/outbound/outbound_avmd_beep.txt", handler)
    assert seen == {"start": "_none_", "detect": "TRUE", "stop": "_none_"}
    assert received[-1] == b"exit\n\n"
    beeps = [
        m.event
        for m in parse_all(fixture_bytes("freeswitch/outbound/outbound_avmd_beep.txt", "S"))
        if m.event is not None and m.event.get("Event-Subclass") == "avmd::beep"
    ]
    assert [b.get("Beep-Status") for b in beeps] == ["DETECTED", "DETECTED"]
    assert len({b.get("Event-Sequence") for b in beeps}) == 1
