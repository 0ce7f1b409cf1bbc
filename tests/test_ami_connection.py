"""The sans-IO AmiConnection over recorded Asterisk traffic: login state, ActionID
correlation of pipelined actions, list collection, and what a lost link leaves unanswered."""

from __future__ import annotations

import pytest
from transcripts import load

from pbx.asterisk.ami import AmiMessage, AmiParser, encode
from pbx.asterisk.connection import (
    ActionDone,
    AmiConnection,
    AmiStateError,
    Greeted,
    ListDone,
    LoggedIn,
    LoginRefused,
    Unsolicited,
)

LISTS = {"QueueStatus": "QueueStatusComplete", "QueueSummary": "QueueSummaryComplete"}


def replay(name: str, *, byte_at_a_time: bool = False) -> tuple[AmiConnection, list[object]]:
    """Send the capture's client actions through a connection and feed it the PBX's bytes."""
    conn = AmiConnection()
    actions = AmiParser(expect_banner=False)
    out: list[object] = []
    for chunk in load(f"asterisk/ami/{name}.txt"):
        if chunk.direction == "C":
            for act in actions.messages(chunk.data):
                assert isinstance(act, AmiMessage)
                if act.action == "Login":
                    conn.login(act["Username"], act["Secret"], act.action_id)
                elif act.action in LISTS:
                    conn.send_list_action(act.headers, LISTS[act.action])
                else:
                    conn.send_action(act.headers)
            continue
        pieces = (
            [chunk.data[i : i + 1] for i in range(len(chunk.data))]
            if byte_at_a_time
            else [chunk.data]
        )
        for piece in pieces:
            conn.receive_data(piece)
            while (item := conn.next_event()) is not None:
                out.append(item)
    return conn, out


@pytest.mark.parametrize("byte_at_a_time", [False, True])
def test_pipelined_originates_are_answered_by_their_action_ids(byte_at_a_time: bool) -> None:
    conn, out = replay("originate_parallel", byte_at_a_time=byte_at_a_time)
    assert isinstance(out[0], Greeted) and out[0].banner.startswith("Asterisk Call Manager/")
    assert isinstance(out[1], LoggedIn) and conn.state == "logged_in"
    done = [o for o in out if isinstance(o, ActionDone)]
    assert [d.action_id for d in done][:3] == [
        "rig-par-answered",
        "rig-par-busy",
        "rig-par-noanswer",
    ]
    assert [d.response.response for d in done] == ["Success"] * 3 + ["Goodbye"]
    # OriginateResponse events carry the ActionID but answer nothing pending: they are events.
    results = [
        o.message.action_id
        for o in out
        if isinstance(o, Unsolicited) and o.message.event == "OriginateResponse"
    ]
    assert sorted(results) == ["rig-par-answered", "rig-par-busy", "rig-par-noanswer"]
    assert conn.pending() == []


def test_list_actions_collect_their_events_and_other_events_pass_through() -> None:
    _, out = replay("queue_call")
    lists = [o for o in out if isinstance(o, ListDone)]
    assert lists and all(o.response is not None for o in lists)
    status = [o for o in lists if any(i.event == "QueueMember" for i in o.items)]
    assert status and all(
        i.event in ("QueueParams", "QueueMember", "QueueEntry") for o in status for i in o.items
    )
    assert not [o for o in out if isinstance(o, Unsolicited) and o.message.event == "QueueMember"]


def test_a_refused_login_is_reported_with_asterisks_message() -> None:
    conn, out = replay("login_failed")
    refused = [o for o in out if isinstance(o, LoginRefused)]
    assert refused and refused[0].message and conn.state == "refused"
    with pytest.raises(AmiStateError):
        conn.send_action([("Action", "Ping")])


def test_nothing_but_login_before_login_and_lost_link_names_unanswered_actions() -> None:
    conn = AmiConnection()
    with pytest.raises(AmiStateError):
        conn.login("u", "p")  # no banner yet
    conn.receive_data(b"Asterisk Call Manager/9.0.0\r\n")
    assert isinstance(conn.next_event(), Greeted)
    with pytest.raises(AmiStateError):
        conn.send_action([("Action", "Originate"), ("ActionID", "c1")])
    conn.login("u", "p", "L")
    conn.receive_data(encode([("Response", "Success"), ("ActionID", "L")]))
    assert isinstance(conn.next_event(), LoggedIn)
    aid, _ = conn.send_action([("Action", "Originate"), ("ActionID", "c1")])
    conn.send_action([("Action", "Originate"), ("ActionID", "c2")])
    with pytest.raises(ValueError):
        conn.send_action([("Action", "Ping"), ("ActionID", "c1")])  # still pending
    with pytest.raises(ValueError):
        conn.send_action([("Action", "Ping"), ("X", "a\r\nAction: Hangup")])  # injection
    conn.receive_data(encode([("Response", "Success"), ("ActionID", "c2")]))
    conn.receive_data(encode([("Response", "Success"), ("ActionID", "nobody")]))
    assert conn.next_event() == ActionDone(
        "c2", AmiMessage([("Response", "Success"), ("ActionID", "c2")])
    )
    assert conn.next_event() is None  # an answer nobody asked for is dropped
    assert conn.connection_lost() == [aid]
    with pytest.raises(AmiStateError):
        conn.send_action([("Action", "Ping")])
