"""The driver (AgiSession) on the FastAGI captures of 2026-12-06 (tests/fixtures/asterisk/
README.md): AMD's four verdicts, a missing sound, MixMonitor, and a caller hanging up while
queued. Each replays the recorded Asterisk side byte for byte (``test_agi_server.play_asterisk``).
"""

from __future__ import annotations

import pytest
from test_agi_server import Step, call_id_step, play_asterisk, recorded, serve

from pbx.asterisk.agi_session import AgiSession


def steps_for(relpath: str, *wanted: str) -> tuple[bytes, list[Step]]:
    """The environment and the recorded steps whose command is one of ``wanted``, in order."""
    env, steps = recorded(relpath)
    return env, [s for s in steps if s.expect in wanted]


async def replay(relpath: str, steps: list[Step], body, env: bytes) -> object:
    server, rec = await serve(body)
    try:
        got = await play_asterisk(server.port, env, [call_id_step("cap-1"), *steps])
    finally:
        await server.close()
    assert len(got) == len(steps) + 1, (relpath, got)
    return rec.outcomes["cap-1"]


@pytest.mark.parametrize(
    ("name", "verdict"),
    [
        ("agi_amd_human", ("HUMAN", "HUMAN-800-800")),
        ("agi_amd_greeting", ("MACHINE", "LONGGREETING-1500-1500")),
        ("agi_amd_silent", ("MACHINE", "INITIALSILENCE-2500-2500")),
        ("agi_amd_noaudio", ("NOTSURE", "TOOLONG-4900")),
    ],
)
async def test_amd_verdicts_as_captured(name: str, verdict: tuple[str, str]) -> None:
    relpath = f"asterisk/agi/{name}.txt"
    env, steps = steps_for(relpath, "EXEC AMD", "GET VARIABLE AMDSTATUS", "GET VARIABLE AMDCAUSE")

    async def amd(s: AgiSession) -> tuple[str, str]:
        return await s.detect_machine()

    assert await replay(relpath, steps, amd, env) == verdict


async def test_mixmonitor_starts_the_named_file_as_captured() -> None:
    relpath = "asterisk/agi/agi_mixmonitor.txt"
    env, steps = steps_for(relpath, "EXEC MixMonitor pd-mix-1.wav")

    async def record(s: AgiSession) -> str:
        return await s.start_recording("pd-mix-1")

    assert await replay(relpath, steps, record, env) == "pd-mix-1.wav"


async def test_a_missing_sound_on_a_live_channel_is_skipped_not_a_hangup() -> None:
    """STREAM FILE of a missing file answers result=-1 endpos=0, as a hang-up would; the
    session's CHANNEL STATUS probe (6 = up) tells them apart and the next prompt plays."""
    relpath = "asterisk/agi/agi_stream_missing_file.txt"
    env, steps = steps_for(relpath, 'STREAM FILE safe-harbor ""', 'STREAM FILE rig-hello ""')
    assert steps[0].reply.startswith(b"200 result=-1 endpos=0")
    probe = Step("CHANNEL STATUS", b"200 result=6\n")  # not in the capture: the channel is up

    async def prompts(s: AgiSession) -> tuple[str, str, bool]:
        return await s.play("safe-harbor"), await s.play("rig-hello"), s.hung_up

    assert await replay(relpath, [steps[0], probe, steps[1]], prompts, env) == ("", "", False)


async def test_a_caller_hanging_up_in_the_queue_is_a_hangup_not_a_lost_link() -> None:
    """First Queue() times out (TIMEOUT); in the second the caller hangs up: ``result=-1``,
    then HANGUP and QUEUESTATUS TIMEOUT. Not connected, hung up, and not a lost PBX link."""
    relpath = "asterisk/agi/agi_queue_hangup_in_queue.txt"
    env, recorded_steps = recorded(relpath)
    queue = [s for s in recorded_steps if s.expect.startswith(("EXEC Queue", "GET VARIABLE QUEUE"))]
    reset = [  # our session clears the first Queue()'s variables before the second
        Step('SET VARIABLE QUEUESTATUS ""', b"200 result=1\n"),
        Step('SET VARIABLE MEMBERINTERFACE ""', b"200 result=1\n"),
    ]

    async def twice(s: AgiSession) -> tuple[bool, bool, bool, bool]:
        first = await s.enqueue("collectors", 2.0)
        second = await s.enqueue("collectors", 60.0)
        return first, second, s.hung_up, s.link_lost

    steps = [queue[0], queue[1], *reset, queue[2], queue[3]]
    assert await replay(relpath, steps, twice, env) == (False, False, True, False)
