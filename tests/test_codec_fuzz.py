"""Every codec turns any input into messages or its documented protocol error, never a crash.

Mutated recorded frames for AMI, FastAGI and ESL (tests/frame_fuzz.py; bench/fuzz.py runs a
million of each), the ESL JSON limits one by one, and a live ESL client that receives a hostile
event: it logs the error and reconnects at once instead of going blind until the heartbeat
watchdog.
"""

from __future__ import annotations

import json
import logging

import pytest
from frame_fuzz import fuzz
from hypothesis import given, settings
from hypothesis import strategies as st
from test_esl_client import ScriptedFs, _next_link_items
from virtual_time import in_virtual_time

from pbx.asterisk.ami import AmiMessage, AmiParser
from pbx.asterisk.tracker import AmiCallTracker
from pbx.freeswitch.client import EslClient, LinkDown, LinkUp
from pbx.freeswitch.esl import EslEvent, EslParser, EslProtocolError, parse_event_json
from pbx.freeswitch.tracker import CallTracker
from pbx.json_limits import JsonLimitError, loads
from pbx.model import Hangup


def event_frame(body: bytes) -> bytes:
    return b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(body) + body


@pytest.mark.parametrize("kind", ["ami", "agi", "esl"])
def test_mutated_recorded_frames_never_crash_a_codec(kind: str) -> None:
    counts = fuzz(kind, 4000, seed=7)
    assert counts.crashes == 0, counts.examples
    # The mutations are hostile enough to break frames, and mild enough to keep many valid.
    assert counts.protocol_errors > 100 and counts.messages > 100


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"Event-Name": "X", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested deeper"),
        (b'{"Event-Name": "X", "a": ' + b"[" * 33 + b"]" * 33 + b"}", "nested deeper than 32"),
        (b'{"Event-Name": "X", "a": ' + b"9" * 5000 + b"}", "5000 digits"),
        (b'{"Event-Name": "X", "a": -' + b"9" * 65 + b"}", "65 digits"),
        (b'{"Event-Name": "X", "a": NaN}', "NaN is not a JSON number"),
        (b'{"Event-Name": "X", "a": 1e99999}', ""),  # inf: allowed (a float), not a crash
        (b'{"Event-Name": ' + b'"\\ud800"}', ""),  # a lone surrogate is still a str
    ],
)
def test_esl_json_limits_give_protocol_errors_that_say_which(body: bytes, why: str) -> None:
    parser = EslParser()
    parser.feed(event_frame(body))
    message = parser.next_message()
    assert message is not None
    if not why:
        assert message.event is not None
        return
    with pytest.raises(EslProtocolError, match=why):
        _ = message.event


def test_json_limits_for_api_bodies() -> None:
    assert loads(b'{"a": [1, {"b": "c"}]}') == {"a": [1, {"b": "c"}]}
    with pytest.raises(JsonLimitError, match="outside"):
        loads(b"[9223372036854775808]", int_range=(-(2**63), 2**63 - 1))
    with pytest.raises(JsonLimitError, match="NUL"):
        loads(b'{"a\\u0000": 1}', allow_nul=False)
    assert loads(b'["a\\u0000"]') == ["a\x00"]  # allowed unless refused
    with pytest.raises(JsonLimitError, match="not JSON"):
        loads(b"\xff")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(0, 60))
def test_any_json_event_body_is_an_event_or_a_protocol_error(value, depth: int) -> None:
    body = {"Event-Name": "CUSTOM", "v": value}
    for _ in range(depth):
        body = {"Event-Name": "CUSTOM", "v": [body]}
    try:
        event = parse_event_json(json.dumps(body).encode())
    except EslProtocolError:
        return
    assert event.name == "CUSTOM"


@in_virtual_time
async def test_a_hostile_event_makes_the_client_log_and_reconnect_at_once(caplog) -> None:
    async with ScriptedFs(lambda conn, line, w: True) as fs:
        # Heartbeat watchdog at 60 s, as in production: only the reader's own reaction counts.
        client = EslClient("127.0.0.1", fs.port, heartbeat_timeout=60, backoff_initial=0.05)
        await client.connect()
        with caplog.at_level(logging.ERROR, logger="pbx.freeswitch.client"):
            fs.writers[0].write(event_frame(b'{"Event-Name": "X", "a": ' + b"[" * 5000 + b"}"))
            items = await _next_link_items(client, 3, timeout=10.0)
        await client.close()
    assert items[0] == LinkUp(reconnected=False)
    assert isinstance(items[1], LinkDown) and "nested deeper" in items[1].reason
    assert items[2] == LinkUp(reconnected=True)
    assert fs.connections == 2
    assert "nested deeper" in caplog.text and "reconnecting" in caplog.text


def test_a_flood_of_empty_ami_lines_yields_nothing_and_keeps_nothing() -> None:
    parser = AmiParser(expect_banner=False)
    for _ in range(64):
        parser.feed(b"\r\n" * 32768)
        assert parser.messages() == []
        assert parser.buffered == 0
    parser.feed(b"\n\r\n\r\nEvent: Hangup\r\nCause: 16\r\n\r\n")
    (msg,) = parser.messages()
    assert isinstance(msg, AmiMessage) and msg.get("Cause") == "16"


@pytest.mark.parametrize("number", ["9" * 5000, "9" * 400, "²", "1e999", "-5"])
def test_hostile_numbers_in_hangup_events_never_break_the_trackers(number: str) -> None:
    fs = CallTracker()
    fs.track("call-1")
    headers = {
        "Event-Name": "CHANNEL_HANGUP_COMPLETE",
        "Unique-ID": "call-1",
        "Hangup-Cause": "WHATEVER",
        "variable_hangup_cause_q850": number,
        "variable_billmsec": number,
        "variable_billsec": number,
    }
    (hangup,) = fs.on_event(EslEvent("CHANNEL_HANGUP_COMPLETE", headers))
    assert isinstance(hangup, Hangup) and hangup.cause == 0 and hangup.talk_seconds == 0.0
    ast = AmiCallTracker(lambda: 0.0)
    ast.expect("call-1", action_id="call-1", channel_ids=("call-1", "call-1-2"))
    for headers in (
        [("Event", "OriginateResponse"), ("ActionID", "call-1"), ("Reason", number)],
        [("Event", "Hangup"), ("Uniqueid", "1.1"), ("Cause", number), ("ChannelId", "call-1")],
    ):
        ast.handle(AmiMessage(headers))  # no exception, whatever the number
