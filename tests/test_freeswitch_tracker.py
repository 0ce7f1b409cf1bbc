"""The sans-IO tracker over every recorded originate: one Hangup per call, right cause."""

from __future__ import annotations

import dataclasses
import re
from itertools import permutations

import pytest
from test_esl_codec import fixture_bytes, parse_all

from pbx.freeswitch.callcenter import (
    AgentRow,
    AgentTracker,
    agent_state,
    parse_agent_list,
    parse_agent_rows,
)
from pbx.freeswitch.esl import EslCommandParser, EslEvent, command_line
from pbx.freeswitch.tracker import CallTracker, resolve_cause
from pbx.model import (
    AgentConnected,
    AgentEvent,
    AgentState,
    Answered,
    Hangup,
    OriginateFailed,
    Result,
    Ringing,
)

_UUID = re.compile(r"origination_uuid=([0-9a-f-]+)")


def run_capture(name: str) -> tuple[list[str], list[object], list[EslEvent]]:
    """Track the call ids our side originated, then feed FreeSWITCH's events."""
    relpath = f"freeswitch/inbound/{name}.txt"
    commands = EslCommandParser()
    commands.feed(fixture_bytes(relpath, "C"))
    call_ids = []
    while (msg := commands.next_message()) is not None:
        if command_line(msg).startswith("bgapi originate"):
            call_ids.append(_UUID.search(command_line(msg)).group(1))
    tracker = CallTracker()
    for call_id in call_ids:
        tracker.track(call_id)
    events = [m.event for m in parse_all(fixture_bytes(relpath, "S")) if m.event is not None]
    out: list[object] = []
    for event in events:
        out.extend(tracker.on_event(event))
    assert tracker.in_flight() == frozenset()
    return call_ids, out, events


# capture -> (result, Q.850 cause, cause name, ringing seen)
SINGLE = {
    "originate_answered_park": (Result.ANSWERED, 16, "NORMAL_CLEARING", True),
    "originate_answered_socket": (Result.ANSWERED, 16, "NORMAL_CLEARING", True),
    "originate_answered_callee_hangup": (Result.ANSWERED, 16, "NORMAL_CLEARING", True),
    "originate_quick_hangup": (Result.ANSWERED, 16, "NORMAL_CLEARING", True),
    "originate_early_media": (Result.ANSWERED, 16, "NORMAL_CLEARING", True),
    "originate_sip_answered": (Result.ANSWERED, 16, "NORMAL_CLEARING", True),
    "event_plain_originate": (Result.ANSWERED, 16, "NORMAL_CLEARING", True),
    "uuid_kill": (Result.ANSWERED, 16, "NORMAL_CLEARING", True),
    "originate_busy": (Result.BUSY, 17, "USER_BUSY", False),
    "originate_sip_busy": (Result.BUSY, 17, "USER_BUSY", False),
    "originate_noanswer": (Result.NO_ANSWER, 19, "NO_ANSWER", True),
    "originate_sip_noanswer": (Result.NO_ANSWER, 19, "NO_ANSWER", True),
    "originate_congestion": (Result.CONGESTION, 41, "NORMAL_TEMPORARY_FAILURE", False),
    "originate_sip_congestion": (Result.CONGESTION, 41, "NORMAL_TEMPORARY_FAILURE", False),
    "originate_unallocated": (Result.INVALID_NUMBER, 1, "UNALLOCATED_NUMBER", False),
}


@pytest.mark.parametrize("name", sorted(SINGLE))
def test_each_capture_ends_in_one_hangup_with_the_right_result(name: str) -> None:
    result, cause, text, ringing = SINGLE[name]
    (call_id,), out, _ = run_capture(name)
    hangups = [e for e in out if isinstance(e, Hangup)]
    assert len(hangups) == 1
    hangup = hangups[0]
    assert (hangup.call_id, hangup.result, hangup.cause, hangup.cause_text) == (
        call_id,
        result,
        cause,
        text,
    )
    assert hangup.answered == (result is Result.ANSWERED)
    assert [type(e) for e in out].count(Ringing) == int(ringing)
    answers = [e for e in out if isinstance(e, Answered)]
    assert len(answers) == int(hangup.answered)
    if hangup.answered:
        assert answers[0].channel  # the A leg's channel name
        assert out.index(answers[0]) < out.index(hangup)
        assert hangup.talk_seconds > 0
    else:
        assert hangup.talk_seconds == 0


def test_answered_talk_time_comes_from_billmsec() -> None:
    _, out, _ = run_capture("originate_answered_park")
    assert [e for e in out if isinstance(e, Hangup)][0].talk_seconds == pytest.approx(8.0, abs=0.1)


def test_parallel_originates_are_told_apart() -> None:
    ids, out, _ = run_capture("originate_parallel")
    hangups = {e.call_id: e for e in out if isinstance(e, Hangup)}
    assert len([e for e in out if isinstance(e, Hangup)]) == 3
    assert [hangups[c].result for c in ids] == [Result.ANSWERED, Result.BUSY, Result.NO_ANSWER]


def test_loopback_b_leg_is_ignored_although_it_carries_our_variables() -> None:
    (call_id,), _, events = run_capture("originate_answered_park")
    b_legs = [e for e in events if e.unique_id and e.unique_id != call_id]
    assert b_legs and all(e.get("variable_pacedial_call_id") == call_id for e in b_legs)
    tracker = CallTracker()
    tracker.track(call_id)
    assert [x for e in b_legs for x in tracker.on_event(e)] == []


@pytest.mark.parametrize("name", ["originate_busy", "originate_noanswer", "originate_sip_noanswer"])
def test_background_job_before_between_or_after_the_hangups_gives_one_hangup(name: str) -> None:
    (call_id,), _, events = run_capture(name)
    tail = [e for e in events if e.name in ("CHANNEL_HANGUP_COMPLETE", "BACKGROUND_JOB")]
    head = [e for e in events if e not in tail]
    for order in permutations(tail):
        tracker = CallTracker()
        tracker.track(call_id)
        out = [x for e in [*head, *order] for x in tracker.on_event(e)]
        hangups = [x for x in out if isinstance(x, Hangup)]
        assert len(hangups) == 1
        assert hangups[0].cause == SINGLE[name][1]


def _job(call_id: str, body: str, job_uuid: str = "") -> EslEvent:
    headers = {
        "Event-Name": "BACKGROUND_JOB",
        "Job-UUID": job_uuid or call_id,
        "Job-Command": "originate",
        "Job-Command-Arg": f"{{origination_uuid={call_id}}}loopback/1/x &park()",
    }
    return EslEvent("BACKGROUND_JOB", headers, body)


def test_err_without_a_channel_is_a_refused_originate() -> None:
    # shutdown_restart_originate.txt / shutdown_fsctl_restart.txt: during a shutdown the
    # originate gets -ERR DESTINATION_OUT_OF_ORDER (later CHAN_NOT_IMPLEMENTED) with no
    # CHANNEL_CREATE: nothing was dialed, so it is not a "powered off" callee.
    tracker = CallTracker()
    for call_id in ("s1", "s2"):
        tracker.track(call_id)
    (refused,) = tracker.on_event(_job("s1", "-ERR DESTINATION_OUT_OF_ORDER\n"))
    assert isinstance(refused, OriginateFailed) and "DESTINATION_OUT_OF_ORDER" in refused.reason
    (gone,) = tracker.on_event(_job("s2", "-ERR CHAN_NOT_IMPLEMENTED\n"))
    assert isinstance(gone, OriginateFailed)
    assert tracker.in_flight() == set()


def test_err_after_a_channel_ends_the_call_as_failed_or_by_cause() -> None:
    tracker = CallTracker()
    tracker.track("c1")
    tracker.track("c2")
    tracker.track("c3")
    for call_id in ("c1", "c2", "c3"):
        tracker.on_event(EslEvent("CHANNEL_CREATE", {"Unique-ID": call_id}))
    (bad,) = tracker.on_event(_job("c1", "-ERR CHAN_NOT_IMPLEMENTED\n"))
    assert (bad.cause, bad.result) == (66, Result.FAILED)
    (odd,) = tracker.on_event(_job("c2", "-ERR Invalid Arguments\n"))
    assert (odd.cause, odd.cause_text, odd.result) == (0, "Invalid Arguments", Result.FAILED)
    (absent,) = tracker.on_event(_job("c3", "-ERR SUBSCRIBER_ABSENT\n", job_uuid="other"))
    assert (absent.cause, absent.result) == (20, Result.POWERED_OFF)
    assert tracker.on_event(_job("c3", "-ERR SUBSCRIBER_ABSENT\n")) == []


def test_reconcile_ends_only_vanished_candidates() -> None:
    tracker = CallTracker()
    for c in ("gone", "alive", "new"):
        tracker.track(c)
    tracker.on_event(EslEvent("CHANNEL_ANSWER", {"Unique-ID": "gone", "Channel-Name": "x"}))
    out = tracker.reconcile({"alive"}, {"gone", "alive"})
    assert [(h.call_id, h.cause, h.result) for h in out] == [("gone", 0, Result.ANSWERED)]
    assert tracker.in_flight() == {"alive", "new"}


def test_cause_names_resolve_to_q850() -> None:
    assert resolve_cause("CALL_REJECTED").code == 21
    assert resolve_cause("SERVICE_UNAVAILABLE").code == 63
    assert resolve_cause("ORIGINATOR_CANCEL").result is Result.NO_ANSWER
    assert resolve_cause("SOMETHING_NEW", "38").code == 38
    assert resolve_cause("SOMETHING_NEW").result is Result.FAILED


# No callcenter capture exists: this table follows the mod_callcenter documented format.
AGENTS = (
    "name|instance_id|uuid|type|contact|status|state|max_no_answer|wrap_up_time|ready_time\n"
    "1001@default|single_box||callback|user/1001|Available|Waiting|3|10|0\n"
    "1002@default|single_box||callback|user/1002|Available|In a queue call|3|10|0\n"
    "1003@default|single_box||callback|user/1003|On Break|Waiting|3|10|0\n"
    "1004@default|single_box||callback|user/1004|Logged Out|Waiting|3|10|0\n"
    "1005@default|single_box||callback|user/1005|Available|Waiting|3|10|2000\n"
    "1006@default|single_box||callback|user/1006|Available (On Demand)|Receiving|3|10|0\n"
    "+OK\n"
)


def test_callcenter_agent_list_maps_states() -> None:
    agents = parse_agent_list(AGENTS, "collect@default", now=1000.0)
    assert [(a.agent, a.state) for a in agents] == [
        ("1001@default", "idle"),
        ("1002@default", "talking"),
        ("1003@default", "paused"),
        ("1004@default", "logged_out"),
        ("1005@default", "wrapup"),
        ("1006@default", "ringing"),
    ]
    assert agent_state("Available (On Demand)", "Idle") == "wrapup"
    assert parse_agent_list("+OK\n", "q") == []


def test_agent_list_counts_wrap_up_after_the_last_bridge() -> None:
    body = (
        "name|status|state|wrap_up_time|last_bridge_end|ready_time\n"
        "a@default|Available|Waiting|30|980|0\n"
        "b@default|Available|Waiting|30|900|0\n"
        "+OK\n"
    )
    assert [a.state for a in parse_agent_list(body, "q", now=1000.0)] == ["wrapup", "idle"]
    assert parse_agent_rows(body, "q")[0] == AgentRow(
        "a@default", "q", "Available", "Waiting", 30, 980
    )


def cc(action: str, **headers: str) -> EslEvent:
    """A ``CUSTOM callcenter::info`` event with CC-* headers (``CC_Agent_State`` etc.)."""
    fields = {"Event-Name": "CUSTOM", "Event-Subclass": "callcenter::info", "CC-Action": action}
    fields.update({k.replace("_", "-"): v for k, v in headers.items()})
    return EslEvent("CUSTOM", fields)


def states(events: list) -> list[tuple[str, str, str]]:
    return [(e.state.agent, e.state.queue, e.state.state) for e in events]


def never_ours(call_id: str) -> bool:
    return False


def test_agent_state_changes_map_to_agent_events_once_each() -> None:
    tracker = AgentTracker(("collectors",))
    seen: list = []
    for status, state in [
        ("Available (On Demand)", "Waiting"),
        ("Available (On Demand)", "Receiving"),
        ("Available (On Demand)", "In a queue call"),
        ("Available (On Demand)", "Idle"),
        ("Available (On Demand)", "Idle"),  # repeated: no new event
        ("Available (On Demand)", "Waiting"),
        ("On Break", "Waiting"),
        ("Logged Out", "Waiting"),
    ]:
        event = cc(
            "agent-state-change",
            CC_Queue="collectors",
            CC_Agent="agent1@default",
            CC_Agent_Status=status,
            CC_Agent_State=state,
        )
        seen += tracker.on_event(event, 1000.0, never_ours)
    assert [s[2] for s in states(seen)] == [
        "idle",
        "ringing",
        "talking",
        "wrapup",
        "idle",
        "paused",
        "logged_out",
    ]
    assert {s[:2] for s in states(seen)} == {("agent1@default", "collectors")}


def test_waiting_after_a_call_is_wrap_up_until_wrap_up_time_passes() -> None:
    """mod_callcenter sends state and status separately and no event when wrap-up ends."""
    tracker = AgentTracker(("support@default",))
    listed = tracker.learn(
        [AgentRow("1001@default", "support@default", "Available", "Waiting", wrap_up_time=10)],
        1000.0,
    )
    assert listed == [AgentState("1001@default", "support@default", "idle")]

    def state(value: str, now: float) -> list:
        return tracker.on_event(
            cc("agent-state-change", CC_Agent="1001@default", CC_Agent_State=value), now, never_ours
        )

    assert states(state("In a queue call", 1001.0)) == [
        ("1001@default", "support@default", "talking")
    ]
    assert states(state("Waiting", 1060.0)) == [("1001@default", "support@default", "wrapup")]
    assert state("Waiting", 1062.0) == []  # still inside the 10 s wrap-up
    assert tracker.next_due() == 1070.0
    assert tracker.due(1069.9) == []
    assert states(tracker.due(1070.0)) == [("1001@default", "support@default", "idle")]
    assert tracker.due(1080.0) == [] and tracker.next_due() is None
    status = cc("agent-status-change", CC_Agent="1001@default", CC_Agent_Status="On Break")
    assert states(tracker.on_event(status, 1090.0, never_ours)) == [
        ("1001@default", "support@default", "paused")
    ]


def test_agents_outside_the_configured_queues_are_ignored() -> None:
    tracker = AgentTracker(("collectors",))
    unknown = cc("agent-state-change", CC_Agent="x@default", CC_Agent_State="In a queue call")
    other = cc(
        "agent-state-change", CC_Queue="sales", CC_Agent="y@default", CC_Agent_State="Receiving"
    )
    assert tracker.on_event(unknown, 1.0, never_ours) == []
    assert tracker.on_event(other, 1.0, never_ours) == []
    anyone = AgentTracker()
    assert states(anyone.on_event(unknown, 1.0, never_ours)) == [("x@default", "", "talking")]


def test_bridge_agent_start_of_our_call_is_agent_connected_with_the_queue_wait() -> None:
    tracker = AgentTracker(("collectors",))
    start = cc(
        "bridge-agent-start",
        CC_Queue="collectors",
        CC_Agent="agent2@default",
        CC_Member_Session_UUID="call-1",
        CC_Member_Joined_Time="1700000000",
        CC_Agent_Answered_Time="1700000002",
    )
    assert tracker.on_event(start, 0.0, {"call-1"}.__contains__) == [
        AgentConnected("call-1", agent="agent2@default", wait=2.0)
    ]
    assert tracker.on_event(start, 0.0, never_ours) == []
    assert (
        tracker.on_event(cc("bridge-agent-end", CC_Agent="a"), 0.0, {"call-1"}.__contains__) == []
    )
    other = EslEvent("CUSTOM", {"Event-Subclass": "conference::maintenance"})
    assert tracker.on_event(other, 0.0, never_ours) == []
    assert all(
        isinstance(e, AgentEvent)
        for e in AgentTracker().on_event(
            cc("agent-state-change", CC_Agent="z", CC_Agent_State="Waiting"), 0.0, never_ours
        )
    )


def run_callcenter_capture(
    name: str, queue: str, rows: list[AgentRow]
) -> tuple[str, list[tuple[float, object]], AgentTracker]:
    """Our call and every callcenter::info event of a capture through CallTracker and
    AgentTracker (``rows`` learned first, at the first event's time), with event times."""
    relpath = f"freeswitch/inbound/{name}.txt"
    commands = EslCommandParser()
    commands.feed(fixture_bytes(relpath, "C"))
    lines = [command_line(m) for m in iter(commands.next_message, None)]
    (call_id,) = [_UUID.search(c).group(1) for c in lines if c.startswith("bgapi originate")]
    calls = CallTracker()
    calls.track(call_id)
    agents = AgentTracker((queue,))
    out: list[tuple[float, object]] = []
    for msg in parse_all(fixture_bytes(relpath, "S")):
        if msg.event is None:
            continue
        now = int(msg.event.get("Event-Date-Timestamp") or 0) / 1e6
        if rows:
            out += [(now, AgentEvent(s)) for s in agents.learn(rows, now)]
            rows = []
        out += [(now, e) for e in calls.on_event(msg.event)]
        out += [(now, e) for e in agents.on_event(msg.event, now, {call_id}.__contains__)]
    assert calls.in_flight() == frozenset()
    return call_id, out, agents


def listed_agents(name: str, queue: str) -> list[list[AgentRow]]:
    """Each ``callcenter_config queue list agents`` answer of a capture, parsed."""
    bodies = [
        m.body.decode()
        for m in parse_all(fixture_bytes(f"freeswitch/inbound/{name}.txt", "S"))
        if m.content_type == "api/response"
    ]
    return [parse_agent_rows(b, queue) for b in bodies]


def test_callcenter_agent_call_is_connected_then_timed_wrap_up() -> None:
    """callcenter_events_agent_call.txt: agent1 (wrap-up 5 s) takes our call. One
    AgentConnected before the call's Hangup; the agent rings, talks, is in wrap-up at its
    Waiting (no event ends it) and idle 5 s later, as the second agent list shows."""
    first, last = listed_agents("callcenter_events_agent_call", "collectors@default")
    call_id, out, agents = run_callcenter_capture(
        "callcenter_events_agent_call", "collectors@default", first
    )
    calls = [e for _, e in out if not isinstance(e, AgentEvent)]
    assert [type(e) for e in calls] == [Answered, AgentConnected, Hangup]
    assert calls[1] == AgentConnected(call_id, agent="agent1@default", wait=0.0)
    assert (calls[2].result, calls[2].cause, calls[2].answered) == (Result.ANSWERED, 16, True)
    agent1 = [
        e.state.state
        for _, e in out
        if isinstance(e, AgentEvent) and e.state.agent == "agent1@default"
    ]
    assert agent1 == ["idle", "ringing", "talking", "wrapup"]
    ended = max(t for t, _ in out)
    due = agents.next_due()
    assert due is not None and due == pytest.approx(ended + 5, abs=0.1)
    assert agents.due(due - 0.5) == []
    assert states(agents.due(due)) == [("agent1@default", "collectors@default", "idle")]
    (row,) = [r for r in last if r.name == "agent1@default"]
    assert row.model_state(due) == "idle" and row.model_state(row.last_bridge_end + 1) == "wrapup"


def test_exit_key_while_the_agent_rings_is_no_agent_call_and_no_wrap_up() -> None:
    """callcenter_events_timeout_exit_agent_ringing.txt: the caller leaves with the exit key
    while agent7 rings (bridge-agent-fail, ORIGINATOR_CANCEL). No AgentConnected; the agent
    goes ringing → idle with no wrap-up (it never talked); the call still ends answered once."""
    (last,) = listed_agents("callcenter_events_timeout_exit_agent_ringing", "collectors@default")
    call_id, out, agents = run_callcenter_capture(
        "callcenter_events_timeout_exit_agent_ringing", "collectors@default", last
    )
    calls = [e for _, e in out if not isinstance(e, AgentEvent)]
    assert [type(e) for e in calls] == [Answered, Hangup]
    assert (calls[1].call_id, calls[1].result, calls[1].cause) == (call_id, Result.ANSWERED, 16)
    agent7 = [
        e.state.state
        for _, e in out
        if isinstance(e, AgentEvent) and e.state.agent == "agent7@default"
    ]
    assert agent7 == ["idle", "ringing", "idle"]
    assert agents.next_due() is None


def test_max_wait_time_while_the_agent_rings_still_connects_the_agent() -> None:
    """callcenter_events_max_wait_time_agent_ringing.txt (max-wait-time, which pacedial does
    not use: its deadline is the exit key): TIMEOUT does not fire while agent7 rings; the agent
    is bridged anyway at its answer 5 s after the join. The tracker reads that as it is, one
    AgentConnected (wait 5 s) for our call, the agent talking, then in wrap-up."""
    (last,) = listed_agents(
        "callcenter_events_max_wait_time_agent_ringing", "collectors-2s@default"
    )
    before = [dataclasses.replace(r, last_bridge_end=0) for r in last]  # as listed before the call
    call_id, out, agents = run_callcenter_capture(
        "callcenter_events_max_wait_time_agent_ringing", "collectors-2s@default", before
    )
    calls = [e for _, e in out if not isinstance(e, AgentEvent)]
    assert [type(e) for e in calls] == [Answered, AgentConnected, Hangup]
    assert calls[1] == AgentConnected(call_id, agent="agent7@default", wait=5.0)
    agent7 = [
        e.state.state
        for _, e in out
        if isinstance(e, AgentEvent) and e.state.agent == "agent7@default"
    ]
    assert agent7 == ["idle", "ringing", "talking", "wrapup"]
    assert agents.next_due() is not None
