"""The sans-IO AMI codec against the recorded Asterisk 20 transcripts, and its invariants."""

from __future__ import annotations

import contextlib
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from transcripts import files, stream  # noqa: E402

from pbx.asterisk.ami import (  # noqa: E402
    AmiBanner,
    AmiMessage,
    AmiParser,
    AmiProtocolError,
    encode,
)

AMI_FILES = files("asterisk/ami")
CHINESE_EVENT = encode(
    [
        ("Event", "NewCallerid"),
        ("Channel", "PJSIP/trunk-00000001"),
        ("CallerIDNum", "8613800138000"),
        ("CallerIDName", "张三丰 王小明"),
        ("Uniqueid", "1795867231.0"),
    ]
)


def parse_all(data: bytes, *, banner: bool = True) -> list[AmiMessage | AmiBanner]:
    parser = AmiParser(expect_banner=banner)
    out = parser.messages(data)
    assert parser.buffered == 0, "bytes left after the last complete message"
    return out


def events(msgs: list[AmiMessage | AmiBanner]) -> Counter[str]:
    return Counter(m.event for m in msgs if isinstance(m, AmiMessage) and m.event)


def by_event(msgs: list[AmiMessage | AmiBanner], name: str) -> list[AmiMessage]:
    return [m for m in msgs if isinstance(m, AmiMessage) and m.event == name]


@pytest.mark.parametrize("path", AMI_FILES)
def test_every_fixture_parses_both_directions_completely(path: str) -> None:
    server = parse_all(stream(path, "S"))
    assert server[0] == AmiBanner("Asterisk Call Manager/9.0.0")
    assert all(isinstance(m, AmiMessage) and m.headers for m in server[1:])
    # Every message is a response or an event, and no header line was left unsplit.
    for m in server[1:]:
        assert isinstance(m, AmiMessage)
        # OriginateResponse carries both Event and Response: the first header decides.
        assert m.headers[0][0] in ("Event", "Response"), m.headers
        assert all(k for k, _ in m.headers), m.headers
    client = parse_all(stream(path, "C"), banner=False)
    assert client and all(isinstance(m, AmiMessage) and m.action for m in client)
    assert client[0].action == "Login"


def test_message_counts_match_the_recording() -> None:
    ping = parse_all(stream("asterisk/ami/login_ping.txt", "S"))
    assert [m.response for m in ping[1:] if isinstance(m, AmiMessage)] == [
        "Success",
        None,
        None,
        "Success",
        "Success",
        "Success",
        "Goodbye",
    ]
    assert ping[4]["Ping"] == "Pong"
    assert ping[5]["AsteriskVersion"] == "20.20.1"
    # Key "SystemName: " (trailing space, empty value) keeps an empty value.
    assert ping[5]["SystemName"] == ""

    parallel = parse_all(stream("asterisk/ami/originate_parallel.txt", "S"))
    counts = events(parallel)
    assert counts["OriginateResponse"] == 3
    assert counts["Hangup"] == 6
    assert counts["Newchannel"] == 6
    assert counts["DialBegin"] == 3

    queue = events(parse_all(stream("asterisk/ami/queue_call.txt", "S")))
    assert queue["QueueMember"] == 2
    assert queue["QueueStatusComplete"] == 1
    assert queue["AgentConnect"] == queue["AgentComplete"] == 1


@pytest.mark.parametrize(
    ("path", "reason", "action_id", "uniqueid"),
    [
        ("originate_busy.txt", "5", "rig-orig-busy-1", "<unknown>"),
        ("originate_busy_channelid.txt", "5", "rig-orig-busy-2", "rig-lead49-a"),
        ("originate_noanswer.txt", "3", "rig-orig-noanswer-1", "<unknown>"),
        ("originate_congestion.txt", "8", "rig-orig-congestion-1", "<unknown>"),
        ("originate_unallocated.txt", "0", "rig-orig-unalloc-1", "<unknown>"),
        ("originate_answered.txt", "4", "rig-orig-answered-1", "1795867231.0"),
    ],
)
def test_originate_response_fields(path: str, reason: str, action_id: str, uniqueid: str) -> None:
    msgs = parse_all(stream(f"asterisk/ami/{path}", "S"))
    (resp,) = by_event(msgs, "OriginateResponse")
    assert resp.action_id == action_id
    assert resp["Reason"] == reason
    assert resp.get("uniqueid") == uniqueid  # case-insensitive lookup
    assert resp.response == ("Success" if reason == "4" else "Failure")


def test_hangup_causes_of_a_busy_local_call() -> None:
    msgs = parse_all(stream("asterisk/ami/originate_busy.txt", "S"))
    causes = {m["Channel"][-2:]: (m["Cause"], m["Cause-txt"]) for m in by_event(msgs, "Hangup")}
    assert causes == {";1": ("0", "Unknown"), ";2": ("17", "User busy")}


def test_repeated_headers_and_case_insensitive_access() -> None:
    (action,) = [
        m
        for m in parse_all(stream("asterisk/ami/originate_answered.txt", "C"), banner=False)
        if isinstance(m, AmiMessage) and m.action == "Originate"
    ]
    assert action.get_all("variable") == [
        "SIM_RING=3",
        "SIM_TALK=40",
        "SIM_DTMF=1",
        "DIALER_LEAD=42",
        "DIALER_CAMPAIGN=spring",
    ]
    assert action.get("VARIABLE") == "SIM_RING=3"
    assert "async" in action and "Nope" not in action
    assert action.get("Nope", "dflt") == "dflt"
    with pytest.raises(KeyError, match="Nope"):
        action["Nope"]


def test_whole_bytewise_and_split_utf8_feeds_agree() -> None:
    data = stream("asterisk/ami/originate_busy.txt", "S") + CHINESE_EVENT
    whole = parse_all(data)
    bytewise: list[AmiMessage | AmiBanner] = []
    parser = AmiParser()
    for i in range(len(data)):
        bytewise += parser.messages(data[i : i + 1])
    assert bytewise == whole
    # Cut inside the 3-byte encoding of "张": two feeds, nothing decoded in between.
    cut = len(data) - len(CHINESE_EVENT) + CHINESE_EVENT.index("张".encode()) + 1
    parser = AmiParser()
    first = parser.messages(data[:cut])
    second = parser.messages(data[cut:])
    assert first + second == whole
    assert whole[-1]["CallerIDName"] == "张三丰 王小明"
    assert parser.warning_count == 0


def test_bare_lf_line_ends_are_accepted() -> None:
    data = b"Asterisk Call Manager/9.0.0\nEvent: Ping\nA: 1\n\nResponse: Success\r\nB: 2\n\r\n"
    msgs = parse_all(data)
    assert msgs[1] == AmiMessage((("Event", "Ping"), ("A", "1")))
    assert msgs[2] == AmiMessage((("Response", "Success"), ("B", "2")))


def test_command_output_lines_without_colon_are_kept_under_empty_key() -> None:
    data = b"Response: Follows\r\nPrivilege: Command\r\nsome output line\r\n--END COMMAND--\r\n\r\n"
    (msg,) = parse_all(data, banner=False)
    assert msg.get_all("") == ["some output line", "--END COMMAND--"]
    assert msg.response == "Follows"


def test_invalid_utf8_is_replaced_and_recorded_not_raised() -> None:
    parser = AmiParser(expect_banner=False)
    (msg,) = parser.messages(b"Event: NewCallerid\r\nCallerIDName: ab\xff\xfecd\r\n\r\n")
    assert msg["CallerIDName"] == "ab\ufffd\ufffdcd"
    assert parser.warning_count == 1
    (warning,) = parser.take_warnings()
    assert "offset 36" in warning and "\\xff" in warning
    assert parser.take_warnings() == []


def test_garbage_banner_raises_with_offset_and_bytes() -> None:
    with pytest.raises(AmiProtocolError, match=r"offset 0.*HTTP/1.1 400"):
        AmiParser().messages(b"HTTP/1.1 400 Bad Request\r\n\r\n")


def test_message_not_starting_with_a_header_raises() -> None:
    data = b"Asterisk Call Manager/9.0.0\r\nEvent: A\r\n\r\n\x00\x01garbage\r\n\r\n"
    with pytest.raises(AmiProtocolError, match=r"offset 41.*x00\\x01garbage"):
        AmiParser().messages(data)


def test_oversize_message_raises_without_waiting_for_its_end() -> None:
    parser = AmiParser(expect_banner=False, max_message_size=1000)
    parser.feed(b"Event: Big\r\n")
    with pytest.raises(AmiProtocolError, match=r"exceeds 1000 bytes.*Event: Big"):
        for _ in range(100):
            parser.feed(b"X: " + b"y" * 60 + b"\r\n")
            parser.next_message()


def test_oversize_banner_raises() -> None:
    with pytest.raises(AmiProtocolError, match="banner line too long"):
        AmiParser(max_message_size=100).messages(b"A" * 200)


def test_bytewise_feed_is_linear() -> None:
    """A large message fed one byte at a time must not rescan the buffer on every byte."""
    import time

    body = b"Event: Big\r\n" + b"".join(b"K%d: %s\r\n" % (i, b"v" * 40) for i in range(6000))
    data = body + b"\r\n"  # ~300 kB

    def cost(chunk: bytes) -> float:
        parser = AmiParser(expect_banner=False)
        start = time.perf_counter()
        for i in range(len(chunk)):
            parser.feed(chunk[i : i + 1])
            parser.next_message()
        return time.perf_counter() - start

    small = cost(data[: len(data) // 4])
    full = cost(data)
    assert full < small * 8, (small, full)  # quadratic would be ~16x


def test_encode_format_and_injection_refused() -> None:
    assert encode([("Action", "Ping"), ("ActionID", "a1")]) == (
        b"Action: Ping\r\nActionID: a1\r\n\r\n"
    )
    with pytest.raises(ValueError, match="header injection"):
        encode([("Action", "Originate"), ("CallerID", "x\r\nAction: Logoff")])
    with pytest.raises(ValueError, match="key"):
        encode([("Bad\nKey", "v")])
    with pytest.raises(ValueError, match="key"):
        encode([("Bad:Key", "v")])
    with pytest.raises(ValueError, match="at least one header"):
        encode([])


def test_summary_never_lists_all_headers() -> None:
    msg = AmiMessage((("Action", "Login"), ("ActionID", "l1"), ("Secret", "hunter2")))
    assert msg.summary() == "Action Login (ActionID l1)"
    assert "hunter2" not in msg.summary()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=4000), min_size=1, max_size=40))
def test_random_chunking_gives_the_same_messages(sizes: list[int]) -> None:
    data = stream("asterisk/ami/originate_busy_channelid.txt", "S") + CHINESE_EVENT
    expected = parse_all(data)
    parser = AmiParser()
    got: list[AmiMessage | AmiBanner] = []
    pos = 0
    i = 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        got += parser.messages(data[pos : pos + size])
        pos += size
        i += 1
    assert got == expected


_key = st.text(
    alphabet=st.characters(blacklist_characters=":\r\n", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=20,
).filter(lambda k: k.strip("\r\n") == k)
_value = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_key, _value), min_size=1, max_size=12))
def test_encode_then_parse_round_trips(headers: list[tuple[str, str]]) -> None:
    (msg,) = AmiParser(expect_banner=False).messages(encode(headers))
    assert msg == AmiMessage(tuple(headers))


# --- the batch (one decode per feed) path and the message-by-message path agree -----------


def test_batch_with_a_bare_lf_message_mixed_in() -> None:
    crlf_a = b"Event: A\r\nN: 1\r\n\r\n"
    bare = b"Event: B\nN: 2\n\n"
    crlf_c = b"Event: C\r\nName: \xe5\xbc\xa0\r\n\r\n"
    lf_then_crlf = b"Event: D\nN: 4\n\r\n"  # LF line ends, CRLF empty line
    data = crlf_a + bare + crlf_c + lf_then_crlf + crlf_a
    whole = AmiParser(expect_banner=False).messages(data)
    assert [(m.event, m.get("N"), m.get("Name")) for m in whole] == [  # type: ignore[union-attr]
        ("A", "1", None),
        ("B", "2", None),
        ("C", None, "张"),
        ("D", "4", None),
        ("A", "1", None),
    ]
    bytewise = AmiParser(expect_banner=False)
    got = [m for i in range(len(data)) for m in bytewise.messages(data[i : i + 1])]
    assert got == whole
    # A bare-LF message after the last CRLF end in the same feed is not left waiting.
    (only_bare,) = AmiParser(expect_banner=False).messages(bare)
    assert only_bare == whole[1]


def test_stray_empty_lines_between_messages_are_skipped() -> None:
    data = b"\r\nEvent: A\r\n\r\n\r\n\r\n\r\nEvent: B\r\n\r\n\r\n"
    msgs = AmiParser(expect_banner=False).messages(data)
    assert [m.event for m in msgs] == ["A", "B"]  # type: ignore[union-attr]


def test_messages_before_a_protocol_error_come_first_then_it_repeats() -> None:
    data = b"Event: A\r\n\r\nEvent: B\r\n\r\nno colon here\r\n\r\nEvent: C\r\n\r\n"
    parser = AmiParser(expect_banner=False)
    parser.feed(data)
    assert [parser.next_message().event for _ in range(2)] == ["A", "B"]  # type: ignore[union-attr]
    for _ in range(2):
        with pytest.raises(AmiProtocolError, match=r"offset 24: message does not start"):
            parser.next_message()


def test_parsed_and_built_messages_compare_hash_and_print_alike() -> None:
    (parsed,) = AmiParser(expect_banner=False).messages(b"Event: X\r\nA: 1\r\nA: 2\r\n\r\n")
    built = AmiMessage([("Event", "X"), ("A", "1"), ("A", "2")])
    assert parsed == built and hash(parsed) == hash(built)
    assert parsed.headers == (("Event", "X"), ("A", "1"), ("A", "2"))
    assert repr(parsed) == "AmiMessage(headers=(('Event', 'X'), ('A', '1'), ('A', '2')))"
    assert parsed.get_all("a") == ["1", "2"] and parsed["A"] == "1"
    assert parsed != AmiMessage((("Event", "X"),)) and parsed != "Event: X"


_LINE_END = re.compile(rb"\n\r?\n")


def reference_parse(data: bytes) -> tuple[list[tuple[tuple[str, str], ...]], str | None]:
    """The AMI framing rules, written as plainly as possible (a model, not the codec): a
    message ends at LF [CR] LF, stray CR/LF before a message is skipped, lines end at LF with
    an optional CR, ``Key: value`` / ``Key:value`` / a bare line under key "", and the first
    key must not be empty."""
    out: list[tuple[tuple[str, str], ...]] = []
    pos = 0
    while (m := _LINE_END.search(data, pos)) is not None:
        start, end = pos, m.start()
        pos = m.end()
        while start < end and data[start] in b"\r\n":
            start += 1
        if start == end:
            continue
        headers = []
        for line in data[start:end].decode("utf-8", "replace").split("\n"):
            line = line.removesuffix("\r")
            key, sep, value = line.partition(": ")
            if not sep:
                key, sep, value = line.partition(":")
                if not sep:
                    key, value = "", line
            headers.append((key, value))
        if not headers[0][0]:
            return out, f"offset {start}"
        out.append(tuple(headers))
    return out, None


_token = st.sampled_from(
    [b"Event", b"K", b": ", b":", b"v", b" ", b"\r\n", b"\r\n\r\n", b"\n", b"\r", b"\n\n",
     "张".encode(), b"\xff", b"Event: X\r\n", b"A: b: c\r\n"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_token, min_size=1, max_size=60).map(b"".join),
    st.lists(st.integers(min_value=1, max_value=16), min_size=1, max_size=5),
)
def test_any_stream_any_chunking_matches_the_reference_rules(data: bytes, sizes: list[int]) -> None:
    expected, error = reference_parse(data)
    parser = AmiParser(expect_banner=False)
    got: list[tuple[tuple[str, str], ...]] = []
    raised: str | None = None
    pos = i = 0
    try:
        while pos < len(data):
            parser.feed(data[pos : pos + sizes[i % len(sizes)]])
            while (msg := parser.next_message()) is not None:
                assert isinstance(msg, AmiMessage)
                got.append(msg.headers)
            pos += sizes[i % len(sizes)]
            i += 1
    except AmiProtocolError as exc:
        raised = str(exc)
    assert got == expected
    if error is None:
        assert raised is None
    else:
        assert raised is not None and f"{error}:" in raised


_key_token = st.sampled_from(
    [b"Event", b"EVENT", b"event", b"Uniqueid", b"UniqueID", b"K", b"k", b": ", b":", b"v",
     b" ", b"\r\n", b"\r\n\r\n", b"\r", "张".encode(), b"Event: X\r\n", b"A: b: c\r\n",
     b"K:x: y\r\n", b"K:x:y\r\n", b"uniqueid:1\r\n"]
)  # fmt: skip
_QUERIES = ("Event", "event", "K", "Uniqueid", "uniqueID", "A", "K:x", "", "v", "Missing")


@settings(max_examples=300, deadline=None)
@given(st.lists(_key_token, min_size=1, max_size=60).map(b"".join))
def test_a_header_read_by_name_from_the_text_is_the_first_one_the_split_gives(data: bytes) -> None:
    expected, _ = reference_parse(data)
    parser = AmiParser(expect_banner=False)
    parser.feed(data)
    messages: list[AmiMessage] = []
    with contextlib.suppress(AmiProtocolError):
        while (msg := parser.next_message()) is not None:
            assert isinstance(msg, AmiMessage)
            messages.append(msg)
    for msg, headers in zip(messages, expected, strict=True):
        # Asked before anything splits the message (the parser's text is searched)...
        got = [(msg.get(q), q in msg, msg.event) for q in _QUERIES]
        want = []
        for q in _QUERIES:
            first = next((v for k, v in headers if k.lower() == q.lower()), None)
            want.append(
                (
                    first,
                    first is not None,
                    next((v for k, v in headers if k.lower() == "event"), None),
                )
            )
        assert got == want
        # ...and the same once it is split.
        assert [(msg.get(q), q in msg, msg.event) for q in _QUERIES] == want
