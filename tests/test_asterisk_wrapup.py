"""Agent wrap-up on Asterisk: the queue's wrapuptime read with GetConfig, and the tracker run on
the recorded wrap-up (queue_wrapup.txt, queue_params.txt) and on the simulated PBX."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from transcripts import load  # noqa: E402

from pbx.asterisk.ami import AmiMessage, AmiParser  # noqa: E402
from pbx.asterisk.tracker import AmiCallTracker  # noqa: E402
from pbx.asterisk.wrapup import MemberAvailability, parse_queue_wrapuptimes  # noqa: E402
from pbx.model import AgentEvent  # noqa: E402

AGENT1 = "Local/agent1@sim-agent"


def server_messages(name: str) -> list[tuple[float, AmiMessage]]:
    """Every message Asterisk wrote, with the recording time of its last line."""
    parser = AmiParser()
    out: list[tuple[float, AmiMessage]] = []
    for chunk in load(f"asterisk/ami/{name}.txt"):
        if chunk.direction == "S":
            out += [(chunk.t, m) for m in parser.messages(chunk.data) if isinstance(m, AmiMessage)]
    return out


def epoch_at_connect(messages: list[tuple[float, AmiMessage]]) -> float:
    """Wall time of the connect, from SuccessfulAuth's EventTV (about 0.05 s after it)."""
    t, auth = next((t, m) for t, m in messages if m.event == "SuccessfulAuth")
    tv = datetime.strptime(auth.get("EventTV") or "", "%Y-%m-%dT%H:%M:%S.%f%z")
    return tv.timestamp() - t


def test_getconfig_reply_gives_the_queues_wrapuptime() -> None:
    replies = [m for _, m in server_messages("queue_getconfig") if m.action_id == "getconfig-q"]
    assert parse_queue_wrapuptimes(replies[0]) == {"collectors": 30.0}


def test_getconfig_without_wrapuptime_is_zero_and_general_is_not_a_queue() -> None:
    reply = AmiMessage(
        [
            ("Response", "Success"),
            ("Category-000000", "general"),
            ("Line-000000-000000", "persistentmembers=yes"),
            ("Category-000001", "sales"),
            ("Line-000001-000000", "strategy=ringall"),
            ("Category-000002", "collectors"),
            ("Line-000002-000000", "wrapuptime = 15"),
        ]
    )
    assert parse_queue_wrapuptimes(reply) == {"sales": 0.0, "collectors": 15.0}
    bad = AmiMessage([("Category-000000", "q"), ("Line-000000-000000", "wrapuptime=soon")])
    with pytest.raises(ValueError, match=r"queues.conf \[q\]: wrapuptime='soon'"):
        parse_queue_wrapuptimes(bad)


def replay_wrapup(wrapuptime: float) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    """Agent1's reported states over queue_wrapup.txt, checking for ended wrap-ups at every
    message (the driver checks a few times a second); and the (time, event) of AgentComplete
    and AgentCalled for agent1."""
    messages = server_messages("queue_wrapup")
    base = epoch_at_connect(messages)
    now = [base]
    availability = MemberAvailability()
    availability.set_wrapuptimes({"collectors": wrapuptime})
    tracker = AmiCallTracker(lambda: now[0], availability=availability)
    states: list[tuple[float, str]] = []
    marks: list[tuple[float, str]] = []
    for t, msg in messages:
        now[0] = base + t
        events = tracker.wrapups_ended() + tracker.handle(msg)
        states += [
            (t, e.state.state)
            for e in events
            if isinstance(e, AgentEvent) and e.state.agent == AGENT1
        ]
        if msg.event in ("AgentComplete", "AgentCalled") and msg.get("Interface") == AGENT1:
            marks.append((t, msg.event))
    return states, marks


def test_agent_in_wrap_up_is_not_available_until_lastcall_plus_wrapuptime() -> None:
    states, marks = replay_wrapup(30)
    complete = next(t for t, e in marks if e == "AgentComplete")
    called = next(t for t, e in marks if e == "AgentCalled" and t > complete)
    # Asterisk reports agent1 "not in use" right after its call, in every QueueStatus during
    # the wrap-up, and sends nothing when it ends; app_queue calls it 30 s later.
    during = [s for t, s in states if complete <= t < complete + 29.9]
    assert during and set(during) == {"wrapup"}
    idle_again = next(t for t, s in states if t > complete and s == "idle")
    assert complete + 29.9 <= idle_again <= called
    # Available to the pacer at most one message (here: the AgentCalled) late.
    assert called - idle_again < 0.1 or idle_again == called


def test_without_wrapuptime_the_member_is_idle_at_once() -> None:
    states, marks = replay_wrapup(0)
    complete = next(t for t, e in marks if e == "AgentComplete")
    assert [s for t, s in states if complete <= t < complete + 1][-1] == "idle"


def test_member_first_seen_mid_wrap_up_uses_lastcall() -> None:
    # queue_params.txt: QueueStatus while agent1 wraps up (LastCall set, Status 1, Paused 0).
    messages = server_messages("queue_params")
    members = [m for _, m in messages if m.event == "QueueMember" and m.get("Name") == "agent1"]
    wrapping = next(m for m in members if int(m.get("LastCall") or 0) > 0)
    last_call = int(wrapping.get("LastCall") or 0)
    availability = MemberAvailability()
    availability.set_wrapuptimes({"collectors": 30})
    now = [last_call + 2.0]
    tracker = AmiCallTracker(lambda: now[0], availability=availability)
    assert tracker.member_state(wrapping).state == "wrapup"
    now[0] = last_call + 29.5
    assert tracker.wrapups_ended() == []
    now[0] = last_call + 30.0
    assert [e.state.state for e in tracker.wrapups_ended()] == ["idle"]


def test_member_override_and_penalty_limit() -> None:
    availability = MemberAvailability(max_penalty=1)
    availability.set_wrapuptimes({"q": 30})
    assert availability.wrapuptime("q", member_override=5) == 5
    assert availability.wrapuptime("q") == 30 and availability.wrapuptime("other") == 0
    tracker = AmiCallTracker(lambda: 1000.0, availability=availability)
    member = AmiMessage(
        [
            ("Event", "QueueMember"),
            ("Queue", "q"),
            ("Location", "PJSIP/8001"),
            ("Penalty", "2"),
            ("LastCall", "0"),
            ("Status", "1"),
            ("Paused", "0"),
        ]
    )
    assert tracker.member_state(member).state == "paused"  # never offered our calls
