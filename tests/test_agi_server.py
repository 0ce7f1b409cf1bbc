"""FastAgiServer + AgiSession over real loopback sockets, against a peer that plays Asterisk.

The peer replays the recorded transcripts: it writes the recorded ``agi_*`` block, then for each
step reads one command line, checks it is the recorded one, and writes the recorded reply bytes.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from transcripts import load  # noqa: E402

from agi_scripts.queue import QueueOutcome, hand_to_agent  # noqa: E402
from pbx.asterisk.agi_server import FastAgiServer  # noqa: E402
from pbx.asterisk.agi_session import AgiCommandTimeout, AgiSession, AgiTimeouts  # noqa: E402
from pbx.session import CallerHungUp  # noqa: E402

IO_TIMEOUT = 5.0


@dataclass(frozen=True)
class Step:
    expect: str  # the command line we must send
    reply: bytes  # what Asterisk wrote next (reply, maybe with a HANGUP line)


def recorded(relpath: str) -> tuple[bytes, list[Step]]:
    """The recorded environment block and one Step per recorded command."""
    chunks = load(relpath)
    env = b""
    steps: list[Step] = []
    for chunk in chunks:
        if chunk.direction == "C":
            steps.append(Step(chunk.data.decode().rstrip("\n"), b""))
        elif not steps:
            env += chunk.data
        else:
            steps[-1] = Step(steps[-1].expect, steps[-1].reply + chunk.data)
    return env, steps


def call_id_step(value: str | None) -> Step:
    reply = b"200 result=0\n" if value is None else f"200 result=1 ({value})\n".encode()
    return Step("GET VARIABLE PACEDIAL_CALL_ID", reply)


async def play_asterisk(port: int, env: bytes, steps: list[Step]) -> list[str]:
    """Be Asterisk for one FastAGI connection; return the commands received. Ends at EOF."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    got: list[str] = []
    try:
        writer.write(env)
        await writer.drain()
        for step in steps:
            line = await asyncio.wait_for(reader.readline(), IO_TIMEOUT)
            assert line, f"server closed before {step.expect!r}; got {got}"
            got.append(line.decode().rstrip("\n"))
            assert got[-1] == step.expect, f"step {len(got)}: {got[-1]!r} != {step.expect!r}"
            writer.write(step.reply)
            await writer.drain()
        rest = await asyncio.wait_for(reader.read(), IO_TIMEOUT)
        assert rest == b"", f"unexpected commands after the script: {rest!r}"
    finally:
        writer.close()
    return got


Body = Callable[[AgiSession], Awaitable[object]]


class Recorder:
    """A handler that runs ``body`` and keeps its outcome (the server would only log it)."""

    def __init__(self, body: Body) -> None:
        self.body = body
        self.outcomes: dict[str, object] = {}

    async def __call__(self, session: AgiSession) -> None:
        try:
            self.outcomes[session.call_id] = await self.body(session)
        except BaseException as exc:
            self.outcomes[session.call_id] = exc
            raise


async def serve(body: Body, **kwargs: object) -> tuple[FastAgiServer, Recorder]:
    recorder = Recorder(body)
    server = FastAgiServer(recorder, port=0, **kwargs)  # type: ignore[arg-type]
    await server.start()
    return server, recorder


async def test_full_robot_session_matches_the_recording() -> None:
    env, steps = recorded("asterisk/agi/agi_robot_session.txt")
    # After our HANGUP the recorded script probed CHANNEL STATUS (511); AgiSession already
    # knows the call is over, so it raises without asking and only VERBOSE goes out.
    assert steps[-2].expect == "CHANNEL STATUS"
    script = [call_id_step("4f1c-call-42"), *steps[:-2], steps[-1]]

    async def robot(s: AgiSession) -> list[object]:
        seen: list[object] = [s.env.network_script, s.env.args]
        await s.answer()
        await s.verbose("rig robot: start", 1)
        await s.set_variable("DIALER_RESULT", "human")
        seen.append(await s.get_variable("DIALER_RESULT"))
        seen.append(await s.get_variable("NO_SUCH_VAR"))
        seen.append(await s.get_full_variable("${CHANNEL}"))
        seen.append(await s.read_digits("rig-press-1", max_digits=1, timeout=5.0))
        seen.append(await s.play("rig-hello"))
        seen.append(await s.play("rig-no-such-file"))  # -1 endpos=0, CHANNEL STATUS says up
        seen.append(await s.wait_digit(0.5))
        await s.hangup()
        seen.append(s.hung_up)
        with pytest.raises(CallerHungUp):
            await s.play("rig-hello")
        await s.verbose("after hangup", 1)
        return seen

    server, rec = await serve(robot)
    try:
        got = await play_asterisk(server.port, env, script)
    finally:
        await server.close()
    assert got == [step.expect for step in script]
    assert rec.outcomes == {
        "4f1c-call-42": [
            "robot",
            ("42", "spring"),
            "human",
            None,
            "Local/5551230@sim-callee-00000000;1",
            "1",
            "",
            "",
            "",
            True,
        ]
    }


async def test_sip_session_without_dtmf_reads_no_digits() -> None:
    env, steps = recorded("asterisk/agi/agi_sip_robot_session.txt")
    read_at = [s.expect for s in steps].index("GET DATA rig-press-1 5000 1")
    script = [call_id_step(None), *steps[: read_at + 1]]

    async def robot(s: AgiSession) -> str:
        await s.answer()
        await s.verbose("rig robot: start", 1)
        await s.set_variable("DIALER_RESULT", "human")
        await s.get_variable("DIALER_RESULT")
        await s.get_variable("NO_SUCH_VAR")
        await s.get_full_variable("${CHANNEL}")
        return await s.read_digits("rig-press-1", 1, 5.0)

    server, rec = await serve(robot)
    try:
        await play_asterisk(server.port, env, script)
    finally:
        await server.close()
    assert rec.outcomes == {"70": ""}  # no PACEDIAL_CALL_ID: falls back to agi_arg_1


async def test_callee_hangup_notice_then_511_raises_caller_hung_up() -> None:
    env, steps = recorded("asterisk/agi/agi_callee_hangup.txt")
    expects = [s.expect for s in steps]
    assert expects[3:5] == ["WAIT FOR DIGIT 1000", 'STREAM FILE rig-hello "#"']
    notice_and_511 = steps[expects.index("GET VARIABLE DIALER_RESULT") - 1].reply
    assert notice_and_511.startswith(b"HANGUP\n511 ")
    # The callee hangs up while our third prompt plays: Asterisk writes HANGUP, then 511.
    script = [
        call_id_step(None),
        *steps[:6],
        Step('STREAM FILE rig-hello "#"', notice_and_511),
        steps[expects.index("GET VARIABLE DIALER_RESULT")],
    ]

    async def robot(s: AgiSession) -> list[object]:
        await s.answer()
        await s.set_variable("DIALER_RESULT", "human")
        digits = [await s.play("rig-hello", "#"), await s.wait_digit(1.0)]
        digits += [await s.play("rig-hello", "#"), await s.wait_digit(1.0)]
        with pytest.raises(CallerHungUp):
            await s.play("rig-hello", "#")
        after = [s.hung_up, await s.get_variable("DIALER_RESULT")]
        with pytest.raises(CallerHungUp):
            await s.wait_digit(1.0)  # known dead: raises without a round trip
        await s.hangup()  # no-op once hung up
        return digits + after

    server, rec = await serve(robot)
    try:
        got = await play_asterisk(server.port, env, script)
    finally:
        await server.close()
    assert len(got) == len(script)
    assert rec.outcomes == {"43": ["", "", "", "", True, "human"]}


@pytest.mark.parametrize(
    ("relpath", "call_id"),
    [("asterisk/agi/agi_quick_hangup.txt", "48"), ("asterisk/agi/agi_parallel_answered.txt", "50")],
)
async def test_result_minus_one_is_a_hangup(relpath: str, call_id: str) -> None:
    env, steps = recorded(relpath)
    cut = next(i for i, s in enumerate(steps) if s.reply.startswith(b"200 result=-1"))
    script = [call_id_step(None), *steps[: cut + 1]]

    async def robot(s: AgiSession) -> None:
        await s.answer()
        await s.set_variable("DIALER_RESULT", "human")
        for _ in range(3):
            await s.play("rig-hello", "#")
            await s.wait_digit(1.0)

    server, rec = await serve(robot)
    try:
        await play_asterisk(server.port, env, script)
    finally:
        await server.close()
    assert isinstance(rec.outcomes[call_id], CallerHungUp)


async def test_client_closing_early_or_silent_does_not_stall_a_live_session() -> None:
    env, steps = recorded("asterisk/agi/agi_robot_session.txt")
    release = asyncio.Event()

    async def robot(s: AgiSession) -> str:
        await s.answer()
        await release.wait()  # the session is mid-call while the junk connections come and go
        await s.verbose("rig robot: start", 1)
        return "done"

    server, rec = await serve(robot, env_timeout=0.3)
    try:
        live = asyncio.create_task(play_asterisk(server.port, env, [call_id_step("A"), *steps[:2]]))
        while server.active_sessions < 1:
            await asyncio.sleep(0.01)
        for _ in range(10):  # health checks: connect and close at once
            _r, w = await asyncio.open_connection("127.0.0.1", server.port)
            w.close()
        _r, half = await asyncio.open_connection("127.0.0.1", server.port)
        half.write(env[:40])  # half an environment, then silence
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.wait_for(live, IO_TIMEOUT)
        assert rec.outcomes == {"A": "done"}
        deadline = time.monotonic() + IO_TIMEOUT
        while server.dropped < 11 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert server.dropped == 11
        half.close()
    finally:
        await server.close()


async def test_silent_client_is_dropped_after_env_timeout() -> None:
    server, rec = await serve(lambda s: asyncio.sleep(0), env_timeout=0.25)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        t0 = time.monotonic()
        assert await asyncio.wait_for(reader.read(), IO_TIMEOUT) == b""
        elapsed = time.monotonic() - t0
        writer.close()
    finally:
        await server.close()
    assert 0.2 <= elapsed < 1.0, elapsed
    assert rec.outcomes == {}


async def test_non_agi_client_is_dropped_at_once() -> None:
    server, rec = await serve(lambda s: asyncio.sleep(0), env_timeout=5.0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        t0 = time.monotonic()
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), IO_TIMEOUT) == b""
        elapsed = time.monotonic() - t0
        writer.close()
    finally:
        await server.close()
    assert elapsed < 1.0
    assert server.dropped == 1 and rec.outcomes == {}


async def test_fifty_concurrent_sessions() -> None:
    env, _ = recorded("asterisk/agi/agi_robot_session.txt")

    def script(i: int) -> list[Step]:
        return [
            call_id_step(f"call-{i:02d}"),
            Step("ANSWER", b"200 result=0\n"),
            Step('STREAM FILE rig-hello ""', b"200 result=0 endpos=16000\n"),
            Step(f'SET VARIABLE DIALER_RESULT "robot-{i}"', b"200 result=1\n"),
            Step("HANGUP", b"200 result=1\nHANGUP\n"),
        ]

    async def robot(s: AgiSession) -> str:
        await s.answer()
        await asyncio.sleep(0.05)  # all fifty are in flight together
        await s.play("rig-hello")
        await s.set_variable("DIALER_RESULT", f"robot-{s.call_id[5:].lstrip('0') or '0'}")
        await s.hangup()
        return s.call_id

    server, rec = await serve(robot)
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(
            asyncio.gather(*(play_asterisk(server.port, env, script(i)) for i in range(50))),
            IO_TIMEOUT * 2,
        )
    finally:
        await server.close()
    elapsed = time.monotonic() - t0
    assert rec.outcomes == {f"call-{i:02d}": f"call-{i:02d}" for i in range(50)}
    assert elapsed < 5.0, elapsed


async def test_stuck_pbx_hits_the_command_guard_and_the_socket_is_closed(caplog) -> None:
    env, _ = recorded("asterisk/agi/agi_robot_session.txt")

    async def robot(s: AgiSession) -> None:
        await s.answer()

    caplog.set_level(logging.ERROR, logger="pbx.asterisk.agi_server")
    server, rec = await serve(robot, timeouts=AgiTimeouts(command=0.2))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(env)
        assert await reader.readline() == b"GET VARIABLE PACEDIAL_CALL_ID\n"
        writer.write(b"200 result=1 (stuck-1)\n")
        assert await reader.readline() == b"ANSWER\n"
        t0 = time.monotonic()  # never answer: the guard fires and the server hangs up on us
        assert await asyncio.wait_for(reader.read(), IO_TIMEOUT) == b""
        elapsed = time.monotonic() - t0
        writer.close()
    finally:
        await server.close()
    assert isinstance(rec.outcomes["stuck-1"], AgiCommandTimeout)
    assert 0.15 <= elapsed < 1.5
    assert any("call stuck-1" in r.getMessage() for r in caplog.records)


async def test_close_cancels_sessions_after_its_bound() -> None:
    env, _ = recorded("asterisk/agi/agi_robot_session.txt")
    started = asyncio.Event()

    async def forever(s: AgiSession) -> None:
        started.set()
        await asyncio.sleep(3600)

    server, rec = await serve(forever, close_timeout=0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(env)
    await reader.readline()
    writer.write(b"200 result=0\n")
    await asyncio.wait_for(started.wait(), IO_TIMEOUT)
    t0 = time.monotonic()
    await server.close()
    assert time.monotonic() - t0 < 1.5
    assert isinstance(rec.outcomes["42"], asyncio.CancelledError)
    assert await asyncio.wait_for(reader.read(), IO_TIMEOUT) == b""
    writer.close()


# ----- enqueue: Queue() via EXEC, then QUEUESTATUS / MEMBERINTERFACE ----------------------------
# No FastAGI queue capture exists; the replies follow app_queue: QUEUESTATUS is set only when the
# caller leaves without an agent, MEMBERINTERFACE (setinterfacevar=yes) when an agent connects.
QUEUE_CASES = {
    "timeout": (
        [
            Step("EXEC Queue collectors,,,,2", b"200 result=0\n"),
            Step("GET VARIABLE QUEUESTATUS", b"200 result=1 (TIMEOUT)\n"),
        ],
        False,
    ),
    "agent_talked_then_caller_hung_up": (
        [
            Step("EXEC Queue collectors,,,,2", b"HANGUP\n200 result=-1\n"),
            Step("GET VARIABLE QUEUESTATUS", b"200 result=0\n"),
            Step("GET VARIABLE MEMBERINTERFACE", b"200 result=1 (Local/agent1@sim-agents/n)\n"),
        ],
        True,
    ),
    "caller_abandoned_while_waiting": (
        [
            Step("EXEC Queue collectors,,,,2", b"HANGUP\n200 result=-1\n"),
            Step("GET VARIABLE QUEUESTATUS", b"200 result=0\n"),
            Step("GET VARIABLE MEMBERINTERFACE", b"200 result=0\n"),
        ],
        False,
    ),
}


@pytest.mark.parametrize("case", sorted(QUEUE_CASES))
async def test_enqueue_outcome(case: str) -> None:
    env, _ = recorded("asterisk/agi/agi_robot_session.txt")
    steps, expected = QUEUE_CASES[case]

    async def to_queue(s: AgiSession) -> bool:
        return await s.enqueue("collectors", timeout=2.7)  # whole seconds within: 2 s

    server, rec = await serve(to_queue)
    try:
        got = await play_asterisk(server.port, env, [call_id_step("q-1"), *steps])
    finally:
        await server.close()
    assert len(got) == len(steps) + 1
    assert rec.outcomes == {"q-1": expected}


async def test_enqueue_with_under_a_second_left_sends_no_queue() -> None:
    """app_queue waits whole seconds: with less than 1 s of the window left, no Queue()."""
    env, _ = recorded("asterisk/agi/agi_robot_session.txt")

    async def to_queue(s: AgiSession) -> bool:
        return await s.enqueue("collectors", timeout=0.9)

    server, rec = await serve(to_queue)
    try:
        got = await play_asterisk(server.port, env, [call_id_step("q-1")])
    finally:
        await server.close()
    assert len(got) == 1 and not any("Queue" in line for line in got)
    assert rec.outcomes == {"q-1": False}


async def test_asterisk_dying_mid_queue_is_an_interrupted_call_not_an_abandon() -> None:
    """The FastAGI socket closes while Queue() runs, with no HANGUP line and no reply (a crash):
    the session reports the link lost and the queue step neither plays the drop message nor
    counts an abandon; a caller who hangs up (HANGUP, result=-1) is not a lost link."""
    env, _ = recorded("asterisk/agi/agi_robot_session.txt")

    async def to_queue(s: AgiSession) -> tuple[QueueOutcome, bool]:
        return await hand_to_agent(s, "collectors", 2.7, "pacedial-drop"), s.link_lost

    server, rec = await serve(to_queue)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(env)
        assert (await reader.readline()).startswith(b"GET VARIABLE PACEDIAL_CALL_ID")
        writer.write(b"200 result=1 (q-crash)\n")
        assert await reader.readline() == b"EXEC Queue collectors,,,,2\n"
        writer.transport.abort()  # Asterisk is gone: no reply, no HANGUP
        for _ in range(200):
            if "q-crash" in rec.outcomes:
                break
            await asyncio.sleep(0.01)
        calm_steps = [call_id_step("q-left"), *QUEUE_CASES["caller_abandoned_while_waiting"][0]]
        await play_asterisk(server.port, env, calm_steps)
    finally:
        await server.close()
    outcome, lost = rec.outcomes["q-crash"]
    assert lost and outcome.interrupted and not outcome.abandoned and not outcome.connected
    outcome, lost = rec.outcomes["q-left"]
    assert not lost and outcome.caller_left and not outcome.interrupted and not outcome.abandoned
