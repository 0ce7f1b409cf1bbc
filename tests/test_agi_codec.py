"""The sans-IO FastAGI codec against the recorded Asterisk 20 transcripts, plus fuzzing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))

from transcripts import files, load, stream  # noqa: E402

from pbx.asterisk import agi  # noqa: E402
from pbx.asterisk.agi import (  # noqa: E402
    NEED_DATA,
    AgiConnection,
    AgiEnvironment,
    AgiHangupNotice,
    AgiProtocolError,
    AgiReply,
    AgiStateError,
)

AGI_FILES = files("asterisk/agi")
DEAD = "511 Command Not Permitted on a dead channel or intercept routine"


def drain(conn: AgiConnection) -> list[object]:
    out: list[object] = []
    while (event := conn.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def segments(relpath: str) -> list[tuple[str, bytes]]:
    """The transcript as alternating runs: ("S", bytes Asterisk wrote) / ("C", one command)."""
    segs: list[tuple[str, bytes]] = []
    for chunk in load(relpath):
        if chunk.direction == "S" and segs and segs[-1][0] == "S":
            segs[-1] = ("S", segs[-1][1] + chunk.data)
        else:
            segs.append((chunk.direction, chunk.data))
    return segs


def replay(relpath: str, split=None) -> tuple[list[object], list[str]]:
    """Replay a transcript in order; ``split(data)`` cuts each S run into chunks."""
    conn = AgiConnection()
    events: list[object] = []
    commands: list[str] = []
    for direction, data in segments(relpath):
        if direction == "C":
            text = data.decode().rstrip("\n")
            assert conn.send_command(text) == data, "our command bytes differ from the recording"
            commands.append(text)
        else:
            for piece in split(data) if split else [data]:
                conn.receive_data(piece)
                events.extend(drain(conn))
    assert conn.pending_command is None
    return events, commands


def one_byte_at_a_time(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


@pytest.mark.parametrize("relpath", AGI_FILES)
def test_every_fixture_gives_env_first_then_one_reply_per_command(relpath: str) -> None:
    events, commands = replay(relpath)
    env = events[0]
    assert isinstance(env, AgiEnvironment)
    # The first captures ran agi://…:4573/robot with two arguments; the 2026-12-06 ones ran
    # their script through the recording proxy on 4574 with the call id as the one argument.
    assert env.network_script in ("robot", "amd", "queue", "mixmon", "stream")
    assert env.request in (
        "agi://127.0.0.1:4573/robot",
        f"agi://127.0.0.1:4574/{env.network_script}",
    )
    assert env.variables["agi_accountcode"] == ""
    assert env.variables["agi_version"] == "20.20.1"
    assert len(env.args) == (2 if env.network_script == "robot" else 1)
    replies = [e for e in events if isinstance(e, AgiReply)]
    assert len(replies) == len(commands)
    # One HANGUP line per session: the channel's hang-up, and res_agi's end-of-session notice
    # after the script closed (seen only because the recording proxy half-closes).
    assert 1 <= sum(isinstance(e, AgiHangupNotice) for e in events) <= 2


@pytest.mark.parametrize("relpath", AGI_FILES)
def test_byte_at_a_time_equals_whole_block(relpath: str) -> None:
    assert replay(relpath, one_byte_at_a_time) == replay(relpath)


def test_robot_session_replies_parse_exactly() -> None:
    events, commands = replay("asterisk/agi/agi_robot_session.txt")
    env = events[0]
    assert isinstance(env, AgiEnvironment)
    assert env.args == ("42", "spring")
    assert env.uniqueid == "1795867231.0"
    assert env.channel == "Local/5551230@sim-callee-00000000;1"
    pairs = dict(zip(commands, [e for e in events if isinstance(e, AgiReply)], strict=False))
    assert pairs["GET VARIABLE DIALER_RESULT"] == AgiReply(
        200, "1", "human", None, "200 result=1 (human)"
    )
    assert pairs["GET VARIABLE NO_SUCH_VAR"].result == "0"
    assert pairs["GET FULL VARIABLE ${CHANNEL}"].data == "Local/5551230@sim-callee-00000000;1"
    assert pairs["GET DATA rig-press-1 5000 1"].result == "1"
    assert pairs['STREAM FILE rig-hello ""'].endpos == 16000
    missing = pairs['STREAM FILE rig-no-such-file ""']
    assert (missing.result, missing.endpos) == ("-1", 0)
    # Our HANGUP is answered 200, the HANGUP notice follows with no command outstanding,
    # then the channel commands answer 511 while VERBOSE still works.
    tail = events[-4:]
    assert tail[0] == AgiReply(200, "1", "", None, "200 result=1")
    assert isinstance(tail[1], AgiHangupNotice)
    assert isinstance(tail[2], AgiReply) and tail[2].dead_channel and tail[2].raw == DEAD
    assert tail[3] == AgiReply(200, "1", "", None, "200 result=1")


def test_sip_session_get_data_timeout_has_empty_result() -> None:
    events, commands = replay("asterisk/agi/agi_sip_robot_session.txt")
    reply = [e for e in events if isinstance(e, AgiReply)][
        commands.index("GET DATA rig-press-1 5000 1")
    ]
    assert (reply.code, reply.result, reply.data) == (200, "", "timeout")


@pytest.mark.parametrize(
    ("relpath", "interrupted"),
    [
        ("asterisk/agi/agi_callee_hangup.txt", "WAIT FOR DIGIT 1000"),
        ("asterisk/agi/agi_quick_hangup.txt", "WAIT FOR DIGIT 1000"),
        ("asterisk/agi/agi_parallel_answered.txt", 'STREAM FILE rig-hello "#"'),
    ],
)
def test_hangup_notice_arrives_between_command_and_its_511(relpath: str, interrupted: str) -> None:
    conn = AgiConnection()
    seen: list[tuple[str | None, object]] = []
    for direction, data in segments(relpath):
        if direction == "C":
            conn.send_command(data.decode().rstrip("\n"))
        else:
            conn.receive_data(data)
            while True:
                outstanding = conn.pending_command
                event = conn.next_event()
                if event is NEED_DATA:
                    break
                seen.append((outstanding, event))
    notice_at = next(i for i, (_, e) in enumerate(seen) if isinstance(e, AgiHangupNotice))
    # The notice came while the command was still outstanding; the next event is its 511.
    assert seen[notice_at][0] == interrupted
    after = seen[notice_at + 1][1]
    assert isinstance(after, AgiReply) and after.dead_channel
    assert conn.hung_up
    replies = [e for _, e in seen[notice_at + 1 :]]
    assert [r.code for r in replies] == [511, 200, 511, 511]
    assert replies[1] == AgiReply(200, "1", "human", None, "200 result=1 (human)")


def test_stream_file_cut_by_hangup_reports_result_minus_one_with_endpos() -> None:
    events, commands = replay("asterisk/agi/agi_callee_hangup.txt")
    replies = [e for e in events if isinstance(e, AgiReply)]
    cut = replies[6]
    assert commands[6] == 'STREAM FILE rig-hello "#"'
    assert (cut.result, cut.endpos) == ("-1", 8000)


def test_quick_hangup_uses_channel_id_as_uniqueid() -> None:
    events, _ = replay("asterisk/agi/agi_quick_hangup.txt")
    env = events[0]
    assert isinstance(env, AgiEnvironment)
    assert env.uniqueid == "rig-lead48-a"
    assert env.args == ("48", "")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), relpath=st.sampled_from(AGI_FILES))
def test_random_chunking_gives_the_same_events(data: st.DataObject, relpath: str) -> None:
    def split(block: bytes) -> list[bytes]:
        cuts = data.draw(
            st.lists(st.integers(0, len(block)), max_size=12).map(sorted), label="cuts"
        )
        bounds = [0, *cuts, len(block)]
        return [block[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]

    assert replay(relpath, split) == replay(relpath)


# ----- replies that the fixtures do not contain ---------------------------------------------
def connected(command: str = "NOOP") -> AgiConnection:
    conn = AgiConnection()
    conn.receive_data(stream("asterisk/agi/agi_robot_session.txt", "S").split(b"\n\n")[0] + b"\n\n")
    assert isinstance(conn.next_event(), AgiEnvironment)
    conn.send_command(command)
    return conn


def test_multi_line_520_reply_is_one_event_with_the_usage_text() -> None:
    conn = connected("STREAM FILE")
    conn.receive_data(b"520-Invalid command syntax.  Proper usage follows:\n")
    conn.receive_data(b" Usage: STREAM FILE <filename> <escape_digits> [sample offset]\n")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"  Send the given file.\n520 End of proper usage.\n")
    reply = conn.next_event()
    assert isinstance(reply, AgiReply)
    assert reply.code == 520
    assert reply.data == (
        " Usage: STREAM FILE <filename> <escape_digits> [sample offset]\n  Send the given file."
    )
    assert reply.raw.startswith("520-Invalid command syntax.")
    assert reply.raw.endswith("520 End of proper usage.")
    assert conn.pending_command is None


def test_510_unknown_command() -> None:
    conn = connected("FLY AWAY")
    conn.receive_data(b"510 Invalid or unknown command\n")
    assert conn.next_event() == AgiReply(
        510, "", "Invalid or unknown command", None, "510 Invalid or unknown command"
    )


def test_reply_with_no_command_outstanding_is_a_protocol_error_naming_the_bytes() -> None:
    conn = connected()
    conn.receive_data(b"200 result=0\n200 result=1\n")
    assert isinstance(conn.next_event(), AgiReply)
    with pytest.raises(AgiProtocolError, match=r"no command outstanding.*200 result=1") as info:
        conn.next_event()
    assert info.value.offset > 0
    with pytest.raises(AgiProtocolError):  # the connection stays failed
        conn.next_event()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "agi_name: value"),
        (b"host: example\n\n", "agi_name: value"),
        (b"\n", "empty agi_ environment"),
    ],
)
def test_garbage_instead_of_an_environment_raises(payload: bytes, message: str) -> None:
    conn = AgiConnection()
    conn.receive_data(payload)
    with pytest.raises(AgiProtocolError, match=message) as info:
        conn.next_event()
    assert info.value.offset == 0


def test_garbage_reply_names_its_offset() -> None:
    conn = connected()
    env_len = len(conn._buf)  # noqa: SLF001 - the offset of the first reply byte
    conn.receive_data(b"hello there\n")
    with pytest.raises(AgiProtocolError, match="hello there") as info:
        conn.next_event()
    assert info.value.offset == env_len


def test_over_long_line_is_rejected_before_its_end_arrives() -> None:
    conn = AgiConnection(max_line=1024)
    conn.receive_data(b"agi_network: yes\n")
    conn.receive_data(b"agi_x: " + b"a" * 2000)
    with pytest.raises(AgiProtocolError, match="longer than 1024 bytes") as info:
        conn.next_event()
    assert info.value.offset == len(b"agi_network: yes\n")


def test_utf8_caller_name_split_across_reads_survives() -> None:
    name = "张三 Zhang".encode()
    block = b"agi_network: yes\nagi_calleridname: " + name + b"\n\n"
    conn = AgiConnection()
    cut = block.index(name) + 1  # inside the first Chinese character
    conn.receive_data(block[:cut])
    assert conn.next_event() is NEED_DATA
    conn.receive_data(block[cut:])
    env = conn.next_event()
    assert isinstance(env, AgiEnvironment)
    assert env.variables["agi_calleridname"] == "张三 Zhang"


def test_send_command_guards_its_state() -> None:
    conn = AgiConnection()
    with pytest.raises(AgiStateError, match="before the agi_ environment"):
        conn.send_command("ANSWER")
    conn = connected("ANSWER")
    with pytest.raises(AgiStateError, match="'ANSWER' is still waiting"):
        conn.send_command("HANGUP")
    conn.receive_data(b"200 result=0\n")
    conn.next_event()
    with pytest.raises(ValueError, match="one non-empty line"):
        conn.send_command("VERBOSE x\nHANGUP")
    assert conn.send_command("HANGUP") == b"HANGUP\n"


def test_large_block_fed_one_byte_at_a_time_is_linear() -> None:
    lines = b"".join(b"agi_v%d: %s\n" % (i, b"x" * 100) for i in range(400)) + b"\n"
    conn = AgiConnection()
    for i in range(len(lines)):
        conn.receive_data(lines[i : i + 1])
        if conn.next_event() is not NEED_DATA:
            break
    assert conn.environment is not None and len(conn.environment.variables) == 400


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_give_events_or_a_protocol_error_only(blob: bytes) -> None:
    conn = connected()
    conn.receive_data(blob)
    try:
        for _ in range(400):
            if conn.next_event() is NEED_DATA:
                break
    except AgiProtocolError as exc:
        assert exc.offset >= 0


# ----- command formatting (the C> lines of the fixtures) ------------------------------------
def test_helpers_format_commands_exactly_as_recorded() -> None:
    recorded = set(stream("asterisk/agi/agi_robot_session.txt", "C").decode().splitlines())
    recorded |= set(stream("asterisk/agi/agi_callee_hangup.txt", "C").decode().splitlines())
    ours = {
        agi.answer(),
        agi.verbose("rig robot: start", 1),
        agi.set_variable("DIALER_RESULT", "human"),
        agi.get_variable("DIALER_RESULT"),
        agi.get_full_variable("${CHANNEL}"),
        agi.get_data("rig-press-1", 5000, 1),
        agi.stream_file("rig-hello", ""),
        agi.stream_file("rig-hello", "#"),
        agi.channel_status(),
        agi.wait_for_digit(500),
        agi.wait_for_digit(1000),
        agi.hangup(),
    }
    assert ours <= recorded


def test_helpers_quote_values_and_reject_unsafe_words() -> None:
    assert agi.set_variable("X", 'say "hi" \\o/') == 'SET VARIABLE X "say \\"hi\\" \\\\o/"'
    assert agi.exec_("Queue", "collectors,,,,2") == "EXEC Queue collectors,,,,2"
    assert agi.exec_("Playback", "a b") == 'EXEC Playback "a b"'
    assert agi.exec_("Answer") == "EXEC Answer"
    with pytest.raises(ValueError, match="variable name"):
        agi.get_variable("A B")
    with pytest.raises(ValueError, match="line break"):
        agi.verbose("two\nlines")
    with pytest.raises(ValueError, match="timeout"):
        agi.wait_for_digit(-1)
