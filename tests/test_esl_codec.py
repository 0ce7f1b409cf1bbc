"""ESL codec against the recorded FreeSWITCH 1.10.12 sessions, whole, split and fuzzed."""

from __future__ import annotations

import contextlib
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transcripts import files, load

from pbx.freeswitch.esl import (
    EslCommandParser,
    EslMessage,
    EslParser,
    EslProtocolError,
    command_line,
    encode_api,
    encode_auth,
    encode_bgapi,
    encode_command,
    encode_connect,
    encode_event_subscription,
    encode_exit,
    encode_linger,
    encode_myevents,
    encode_sendmsg_execute,
    encode_sendmsg_hangup,
    parse_event_json,
)


def fixture_chunks(relpath: str) -> list[tuple[str, bytes]]:
    """(direction, exact bytes) per recorded line."""
    return [(chunk.direction, chunk.data) for chunk in load(relpath)]


def fixture_bytes(relpath: str, direction: str) -> bytes:
    """Everything one side (``S`` FreeSWITCH, ``C`` our side) wrote, exactly."""
    return b"".join(data for d, data in fixture_chunks(relpath) if d == direction)


def parse_all(data: bytes, pieces: list[int] | None = None) -> list[EslMessage]:
    """Feed ``data`` (in pieces of the given sizes, else whole) and collect every message."""
    parser = EslParser()
    out: list[EslMessage] = []
    pos = 0
    for size in pieces or [len(data)]:
        parser.feed(data[pos : pos + size])
        pos += size
        while (msg := parser.next_message()) is not None:
            out.append(msg)
    parser.feed(data[pos:])
    while (msg := parser.next_message()) is not None:
        out.append(msg)
    assert parser.buffered == 0
    return out


ESL_FILES = files("freeswitch/inbound") + files("freeswitch/outbound")

_AUTH = {"auth/request": 1}
_BYE = {"text/disconnect-notice": 1}
# content type counts and event name counts FreeSWITCH wrote in each capture
EXPECTED: dict[str, tuple[dict[str, int], dict[str, int]]] = {
    "inbound/auth_failed.txt": ({**_AUTH, "command/reply": 1, **_BYE}, {}),
    "inbound/auth_status.txt": ({**_AUTH, "command/reply": 2, "api/response": 3, **_BYE}, {}),
}
_ANSWERED = {
    "CHANNEL_CREATE": 2,
    "CHANNEL_PROGRESS": 2,
    "CHANNEL_ANSWER": 2,
    "BACKGROUND_JOB": 1,
    "CHANNEL_HANGUP_COMPLETE": 2,
}
_FAILED = {"CHANNEL_CREATE": 2, "CHANNEL_HANGUP_COMPLETE": 2, "BACKGROUND_JOB": 1}
_SIP_FAILED = {"CHANNEL_CREATE": 1, "CHANNEL_HANGUP_COMPLETE": 1, "BACKGROUND_JOB": 1}
for name, events in {
    "originate_answered_callee_hangup": _ANSWERED,
    "originate_answered_park": _ANSWERED,
    "originate_answered_socket": {**_ANSWERED, "HEARTBEAT": 1},
    "originate_busy": _FAILED,
    "originate_congestion": _FAILED,
    "originate_unallocated": _FAILED,
    "originate_quick_hangup": _ANSWERED,
    "originate_early_media": {
        **{k: v for k, v in _ANSWERED.items() if k != "CHANNEL_PROGRESS"},
        "CHANNEL_PROGRESS_MEDIA": 2,
        "HEARTBEAT": 1,
    },
    "originate_noanswer": {**_FAILED, "CHANNEL_PROGRESS": 2, "HEARTBEAT": 1},
    "originate_parallel": {
        "CHANNEL_CREATE": 6,
        "CHANNEL_PROGRESS": 4,
        "CHANNEL_ANSWER": 2,
        "BACKGROUND_JOB": 3,
        "CHANNEL_HANGUP_COMPLETE": 6,
    },
    "originate_sip_answered": {k: v // 2 for k, v in _ANSWERED.items() if v > 1}
    | {"BACKGROUND_JOB": 1},
    "originate_sip_busy": _SIP_FAILED,
    "originate_sip_congestion": _SIP_FAILED,
    "originate_sip_noanswer": {**_SIP_FAILED, "CHANNEL_PROGRESS": 1, "HEARTBEAT": 1},
}.items():
    replies = 6 if name == "originate_parallel" else 4
    EXPECTED[f"inbound/{name}.txt"] = (
        {**_AUTH, "command/reply": replies, "text/event-json": sum(events.values()), **_BYE},
        events,
    )
EXPECTED["inbound/event_plain_originate.txt"] = (
    {**_AUTH, "command/reply": 4, "text/event-plain": 9, **_BYE},
    _ANSWERED,
)
EXPECTED["inbound/uuid_kill.txt"] = (
    {**_AUTH, "command/reply": 6, "api/response": 2, "text/event-json": 11, **_BYE},
    {**_ANSWERED, "BACKGROUND_JOB": 3},
)
_SESSION = {
    "CHANNEL_EXECUTE": 2,
    "CHANNEL_EXECUTE_COMPLETE": 3,
    "CHANNEL_HANGUP": 1,
    "CHANNEL_UNPARK": 1,
    "CHANNEL_STATE": 2,
    "CHANNEL_HANGUP_COMPLETE": 1,
}
EXPECTED["outbound/outbound_robot_session.txt"] = (
    {"command/reply": 7, "text/event-plain": 10, "text/disconnect-notice": 2},
    _SESSION,
)
EXPECTED["outbound/outbound_sip_robot_session.txt"] = EXPECTED[
    "outbound/outbound_robot_session.txt"
]
EXPECTED["outbound/outbound_callee_hangup.txt"] = (
    {"command/reply": 6, "text/event-json": 10, "text/disconnect-notice": 2},
    _SESSION,
)
EXPECTED["outbound/outbound_quick_hangup_nolinger.txt"] = (
    {"command/reply": 4, "text/event-plain": 4, "text/disconnect-notice": 1},
    {"CHANNEL_EXECUTE": 2, "CHANNEL_EXECUTE_COMPLETE": 1, "CHANNEL_HANGUP": 1},
)


def summary(messages: list[EslMessage]) -> tuple[Counter[str], Counter[str]]:
    types = Counter(m.content_type for m in messages)
    names = Counter(m.event.name for m in messages if m.event is not None)
    return types, names


def test_every_first_capture_has_an_expectation() -> None:
    # The 22 first captures have counted expectations; the 17 of 2026-12-06 (mod_callcenter,
    # shutdown, startup, record paths) are checked by what they prove in their own tests.
    assert set(f"freeswitch/{k}" for k in EXPECTED) <= set(ESL_FILES)
    assert len(EXPECTED) == 22 and len(ESL_FILES) == 39


@pytest.mark.parametrize("relpath", sorted(f"freeswitch/{k}" for k in EXPECTED))
def test_capture_parses_to_expected_message_types_and_events(relpath: str) -> None:
    types, names = summary(parse_all(fixture_bytes(relpath, "S")))
    want_types, want_names = EXPECTED[relpath.removeprefix("freeswitch/")]
    assert dict(types) == want_types
    assert dict(names) == want_names


@pytest.mark.parametrize("relpath", ESL_FILES)
def test_byte_at_a_time_gives_the_same_messages_as_one_block(relpath: str) -> None:
    data = fixture_bytes(relpath, "S")
    assert parse_all(data, [1] * len(data)) == parse_all(data)


@pytest.mark.parametrize("relpath", ESL_FILES)
def test_our_side_of_each_capture_parses_as_commands(relpath: str) -> None:
    parser = EslCommandParser()
    parser.feed(fixture_bytes(relpath, "C"))
    lines = []
    while (msg := parser.next_message()) is not None:
        lines.append(command_line(msg).split(" ")[0])
    assert lines and lines[0] in ("auth", "connect")
    assert parser.buffered == 0


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(ESL_FILES), st.lists(st.integers(1, 5000), max_size=80))
def test_random_chunking_never_changes_the_messages(relpath: str, sizes: list[int]) -> None:
    data = fixture_bytes(relpath, "S")
    assert parse_all(data, sizes) == parse_all(data)


@pytest.mark.parametrize("relpath", ["inbound/auth_status.txt", "inbound/auth_failed.txt"])
def test_split_at_every_byte_boundary(relpath: str) -> None:
    data = fixture_bytes(f"freeswitch/{relpath}", "S")
    whole = parse_all(data)
    for cut in range(len(data) + 1):
        assert parse_all(data, [cut]) == whole


def test_background_job_bodies_in_json_and_plain() -> None:
    busy = [m.event for m in parse_all(fixture_bytes("freeswitch/inbound/originate_busy.txt", "S"))]
    job = [e for e in busy if e is not None and e.name == "BACKGROUND_JOB"][0]
    assert job.body == "-ERR USER_BUSY\n"
    assert job.get("Job-Command") == "originate"
    plain = parse_all(fixture_bytes("freeswitch/inbound/event_plain_originate.txt", "S"))
    events = [m.event for m in plain if m.event is not None]
    job = [e for e in events if e.name == "BACKGROUND_JOB"][0]
    assert job.body == "+OK 632f11f7-663e-4a4a-aa67-08ddfab55535\n"
    assert job.get("Job-Command-Arg", "").startswith("{origination_uuid=632f11f7")
    assert events[0].get("FreeSWITCH-IPv6") == "fd00::2"
    assert events[0].get("Event-Date-GMT") == "Sat, 28 Nov 2026 12:22:49 GMT"


def test_hangup_cause_duplicate_keeps_the_first() -> None:
    raw = fixture_bytes("freeswitch/inbound/originate_busy.txt", "S")
    hangups = [m for m in parse_all(raw) if m.event and m.event.name == "CHANNEL_HANGUP_COMPLETE"]
    assert hangups[0].body.count(b'"Hangup-Cause"') == 2
    assert hangups[0].event is not None and hangups[0].event.get("Hangup-Cause") == "USER_BUSY"
    doubled = b'{"Event-Name":"X","Hangup-Cause":"NO_ANSWER","Hangup-Cause":"USER_BUSY"}'
    assert parse_event_json(doubled).get("Hangup-Cause") == "NO_ANSWER"


def test_api_response_bodies_are_exact() -> None:
    msgs = parse_all(fixture_bytes("freeswitch/inbound/auth_status.txt", "S"))
    bodies = [m.body for m in msgs if m.content_type == "api/response"]
    assert bodies[1] == b'{"row_count": 0}\n'
    assert b"last 5min 0 \n" in bodies[0]
    assert bodies[2] == b"FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
    notice = msgs[-1]
    assert notice.content_type == "text/disconnect-notice"
    assert notice.body.startswith(b"Disconnected, goodbye.\n") and len(notice.body) == 67


def test_outbound_connect_reply_and_notices() -> None:
    msgs = parse_all(fixture_bytes("freeswitch/outbound/outbound_robot_session.txt", "S"))
    connect = msgs[0]
    assert connect.is_connect_reply and connect.body == b""
    assert connect.reply_text == "+OK"
    assert connect.channel_data["Socket-Mode"] == "async"
    assert connect.channel_data["Control"] == "full"
    uuid = connect.channel_data["Unique-ID"]
    assert connect.channel_data["variable_pacedial_call_id"] == uuid
    notices = [m for m in msgs if m.content_type == "text/disconnect-notice"]
    assert [n.header("Content-Disposition") for n in notices] == ["linger", "disconnect"]
    assert notices[0].header("Controlled-Session-UUID") == uuid
    done = [m.event for m in msgs if m.event and m.event.name == "CHANNEL_EXECUTE_COMPLETE"]
    assert [e.get("Application-Response") for e in done] == ["_none_", "FILE PLAYED", "FILE PLAYED"]


def test_encoders_write_what_the_recorded_scripts_wrote() -> None:
    robot = fixture_bytes("freeswitch/outbound/outbound_robot_session.txt", "C")
    ours = (
        encode_connect()
        + encode_myevents("plain")
        + encode_linger()
        + encode_sendmsg_execute("answer")
        + encode_sendmsg_execute("playback", "rig/rig-hello.wav")
        + encode_sendmsg_hangup("NORMAL_CLEARING")
        + encode_exit()
    )
    assert ours == robot
    names = "CHANNEL_CREATE CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_ANSWER"
    names += " CHANNEL_HANGUP_COMPLETE BACKGROUND_JOB HEARTBEAT"
    inbound = fixture_bytes("freeswitch/inbound/auth_status.txt", "C")
    assert inbound.startswith(encode_auth("ClueCon") + encode_api("status"))
    assert inbound.endswith(encode_command("exit"))
    busy = fixture_bytes("freeswitch/inbound/originate_busy.txt", "C")
    assert encode_event_subscription(names.split()) in busy
    assert encode_bgapi("originate x", "J-1") == b"bgapi originate x\nJob-UUID: J-1\n\n"
    assert encode_myevents("json") == b"myevents json\n\n"


@pytest.mark.parametrize(
    "build",
    [
        lambda: encode_api("status\nexit"),
        lambda: encode_auth("pw\r"),
        lambda: encode_bgapi("originate x", "J\n"),
        lambda: encode_sendmsg_execute("playback", "a\nb"),
        lambda: encode_event_subscription(["CHANNEL_CREATE\n"]),
    ],
)
def test_encoders_refuse_newlines_in_arguments(build) -> None:
    with pytest.raises(ValueError, match="newline"):
        build()


def test_garbage_header_line_names_its_offset() -> None:
    parser = EslParser()
    parser.feed(b"Content-Type: auth/request\n\nthis is not a header\n\n")
    assert parser.next_message() is not None
    with pytest.raises(EslProtocolError, match="byte 28") as info:
        parser.next_message()
    assert info.value.offset == 28
    with pytest.raises(EslProtocolError):
        parser.next_message()  # a failed parser stays failed


def test_bad_content_length_and_oversize_blocks_are_refused() -> None:
    parser = EslParser()
    parser.feed(b"Content-Length: -5\n\n")
    with pytest.raises(EslProtocolError, match="Content-Length"):
        parser.next_message()
    small = EslParser(max_header_bytes=100, max_body_bytes=10)
    small.feed(b"X: " + b"y" * 200)
    with pytest.raises(EslProtocolError, match="header block longer than 100"):
        small.next_message()
    small = EslParser(max_header_bytes=100, max_body_bytes=10)
    small.feed(b"Content-Length: 11\n\n")
    with pytest.raises(EslProtocolError, match="exceeds 10"):
        small.next_message()


def test_byte_at_a_time_parsing_is_linear() -> None:
    header = b"".join(b"variable_x%d: %s\n" % (i, b"v" * 40) for i in range(4000)) + b"\n"
    assert len(header) > 200_000
    parser = EslParser()
    start = time.perf_counter()
    for i in range(len(header)):
        parser.feed(header[i : i + 1])
        assert (parser.next_message() is None) == (i < len(header) - 1)
    # Quadratic rescanning would take minutes here; linear takes well under a second.
    assert time.perf_counter() - start < 5.0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(1, 50), max_size=20))
def test_random_bytes_only_ever_raise_protocol_errors(data: bytes, sizes: list[int]) -> None:
    parser = EslParser()
    pos = 0
    seen = 0
    with contextlib.suppress(EslProtocolError):
        for size in [*sizes, len(data)]:
            parser.feed(data[pos : pos + size])
            pos += size
            while (msg := parser.next_message()) is not None:
                _ = msg.event, msg.reply_text, msg.ok, msg.channel_data
                seen += 1
    # Every message needs at least its blank line: the loop above always terminates.
    assert seen <= len(data)
