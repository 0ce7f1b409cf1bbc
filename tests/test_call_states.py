"""The call state machine without I/O: every state against every event, and what each emits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialer_core.campaign import calls as c
from dialer_core.campaign.calls import State
from dialer_core.campaign.config import parse_campaign
from dialer_core.pacing.interface import Outcome
from dialer_core.store.attempts import Contact
from pbx import model as pbx
from pbx.model import Hangup, Result

T0 = datetime(2026, 6, 2, 2, 0, tzinfo=UTC).timestamp()  # 10:00 in Shenzhen
CAMPAIGN = parse_campaign({"campaign": {"name": "north"}}, "test")
CONTACT = Contact(7, 70, "+8675588888888", "cn", "", "", 1, "X-7", "D", 100, "CNY", 30, "", None)
ANSWERED_END = Hangup("c1", 16, "normal", True, Result.ANSWERED, talk_seconds=20.0)
BUSY_END = Hangup("c1", 17, "busy", False, Result.BUSY)


def new_call() -> c.Call:
    return c.Call("c1", CONTACT, CAMPAIGN, "+8675500000000")


def sample(kind: type[c.Event], at: float) -> c.Event:
    """One event of each kind, at ``at``."""
    return {
        c.Launch: lambda: c.Launch(at),
        c.Hold: lambda: c.Hold(at, "dnc"),
        c.Refused: lambda: c.Refused(at, "Asterisk is shutting down"),
        c.Rang: lambda: c.Rang(at),
        c.Answer: lambda: c.Answer(at),
        c.AgentJoined: lambda: c.AgentJoined(at, "1001", 2.0),
        c.Ended: lambda: c.Ended(at, ANSWERED_END),
        c.Lost: lambda: c.Lost(at, "shutdown"),
        c.StopRequested: lambda: c.StopRequested(at),
        c.HandlerStarted: lambda: c.HandlerStarted(at),
        c.QueueWaitStarted: lambda: c.QueueWaitStarted(at),
        c.RobotStarted: lambda: c.RobotStarted(at),
        c.AmdDecided: lambda: c.AmdDecided(at, "HUMAN", "", "human"),
        c.RecordingStarted: lambda: c.RecordingStarted(at, "/r/c1.wav"),
        c.Abandoned: lambda: c.Abandoned(at),
        c.HandlerFinished: lambda: c.HandlerFinished(at, "agent_talked", {}),
        c.GraceOver: lambda: c.GraceOver(at),
        c.RingOver: lambda: c.RingOver(at),
    }[kind]()


# The shortest way to each state, as event kinds from a new (written) call.
PATHS: dict[State, list[type[c.Event]]] = {
    State.WRITTEN: [],
    State.ORIGINATED: [c.Launch],
    State.RINGING: [c.Launch, c.Rang],
    State.ANSWERED: [c.Launch, c.Rang, c.Answer],
    State.IN_HANDLER: [c.Launch, c.Answer, c.HandlerStarted],
    State.IN_QUEUE: [c.Launch, c.Answer, c.HandlerStarted, c.QueueWaitStarted],
    State.CONNECTED: [c.Launch, c.Answer, c.HandlerStarted, c.QueueWaitStarted, c.AgentJoined],
    State.ABANDONED: [c.Launch, c.Answer, c.HandlerStarted, c.QueueWaitStarted, c.Abandoned],
    State.HANDLED: [c.Launch, c.Answer, c.HandlerStarted, c.HandlerFinished],
    State.ENDED: [c.Launch, c.Answer, c.HandlerStarted, c.Ended],
    State.CLOSED: [c.Launch, c.Ended],
}

# Where each accepted (state, event) leads; pairs not listed keep the state.
MOVES: dict[tuple[State, type[c.Event]], State] = {
    (State.WRITTEN, c.Launch): State.ORIGINATED,
    (State.WRITTEN, c.Hold): State.CLOSED,
    (State.ORIGINATED, c.Refused): State.CLOSED,
    (State.ORIGINATED, c.Rang): State.RINGING,
    (State.ORIGINATED, c.Answer): State.ANSWERED,
    (State.RINGING, c.Answer): State.ANSWERED,
    **{(s, c.AgentJoined): State.CONNECTED for s in c.PRE_HANDLER},
    (State.IN_HANDLER, c.AgentJoined): State.CONNECTED,
    (State.IN_QUEUE, c.AgentJoined): State.CONNECTED,
    **{(s, c.HandlerStarted): State.IN_HANDLER for s in c.PRE_HANDLER},
    **{(s, c.QueueWaitStarted): State.IN_QUEUE for s in c.PRE_HANDLER | {State.IN_HANDLER}},
    **{(s, c.Abandoned): State.ABANDONED for s in c.HANDLER_RUNNING},
    **{(s, c.HandlerFinished): State.HANDLED for s in c.HANDLER_RUNNING},
    (State.ENDED, c.HandlerFinished): State.CLOSED,
    (State.ENDED, c.GraceOver): State.CLOSED,
    **{(s, e): State.ENDED for s in c.HANDLER_RUNNING for e in (c.Ended, c.Lost)},
    **{(s, e): State.CLOSED for s in c.PRE_HANDLER | {State.HANDLED} for e in (c.Ended, c.Lost)},
}


def call_in(state: State) -> c.Call:
    call = new_call()
    for i, kind in enumerate(PATHS[state]):
        call.handle(sample(kind, T0 + i))
    assert call.state is state
    return call


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
@pytest.mark.parametrize("kind", list(c.ACCEPTS), ids=lambda k: k.__name__)
def test_every_state_takes_or_refuses_every_event(state: State, kind: type[c.Event]) -> None:
    call = call_in(state)
    event = sample(kind, T0 + 100)
    if state not in c.ACCEPTS[kind]:
        with pytest.raises(c.IllegalTransition, match=f"{kind.__name__} in state {state.value}"):
            call.handle(event)
        assert call.state is state, "a refused event changes nothing"
        return
    effects = call.handle(event)
    assert call.state is MOVES.get((state, kind), state)
    closed = call.state is State.CLOSED and state is not State.CLOSED
    assert any(isinstance(e, c.Forget) for e in effects) == closed, "forgotten once, when closed"


def test_every_listed_move_is_accepted_and_every_state_is_reached() -> None:
    for state, kind in MOVES:
        assert state in c.ACCEPTS[kind], (state, kind)
    assert set(PATHS) == set(State)
    assert {to for to in MOVES.values()} | {State.WRITTEN} == set(State)


def test_a_closed_call_takes_nothing() -> None:
    call = call_in(State.CLOSED)
    for kind in c.ACCEPTS:
        with pytest.raises(c.IllegalTransition):
            call.handle(sample(kind, T0 + 9))


def test_launch_registers_tells_the_policy_and_originates_with_the_campaign_settings() -> None:
    call = new_call()
    effects = call.handle(c.Launch(T0))
    assert [type(e) for e in effects] == [c.Register, c.Observe, c.Count, c.Originate]
    assert effects[1].observation.outcome is Outcome.LAUNCHED
    request = effects[3].request
    assert (request.call_id, request.destination, request.caller_id) == (
        "c1",
        CONTACT.e164,
        "+8675500000000",
    )
    assert request.variables["PACEDIAL_CASE_ID"] == "7"
    # The PBX gives up later than the ring time: the delay before the first ring is not ringing.
    assert request.ring_timeout == CAMPAIGN.ring_timeout + c.RING_START_ALLOWANCE
    assert call.launched_at == T0


def test_held_before_the_originate_is_closed_not_dialed_without_a_policy_observation() -> None:
    effects = new_call().handle(c.Hold(T0, "window"))
    assert effects[0] == c.Count("held", "window")
    result = next(e.result for e in effects if isinstance(e, c.WriteResult))
    assert result.disposition == "not_dialed" and "window" in result.cause_text
    assert result.next_attempt_at == datetime.fromtimestamp(T0, UTC)
    assert not any(isinstance(e, c.Observe) for e in effects)


def test_an_unanswered_end_tells_the_policy_and_redials_by_the_rules() -> None:
    call = call_in(State.RINGING)
    effects = call.handle(c.Ended(T0 + 40, BUSY_END))
    failed = [e.observation for e in effects if isinstance(e, c.Observe)]
    assert failed[0].outcome is Outcome.FAILED and failed[0].duration == 40.0
    result = next(e.result for e in effects if isinstance(e, c.WriteResult))
    assert result.disposition == "busy" and result.q850_cause == 17
    launched = datetime.fromtimestamp(T0, UTC)  # redial delays run from the attempt's start
    assert result.next_attempt_at == launched + timedelta(minutes=10)
    assert c.Count("finished", "busy") in effects


def test_answer_is_counted_once_even_when_the_handler_was_first() -> None:
    call = call_in(State.ORIGINATED)
    call.handle(c.HandlerStarted(T0 + 5))
    effects = call.handle(c.Answer(T0 + 6))
    assert call.state is State.IN_HANDLER, "a late answer does not move the call back"
    human = [e.observation for e in effects if isinstance(e, c.Observe)]
    assert human[0].outcome is Outcome.HUMAN_ANSWERED and human[0].duration == 6.0
    assert c.Progress("answered", T0 + 6) in effects
    assert call.handle(c.Answer(T0 + 7)) == []


def test_a_hangup_while_the_handler_runs_waits_for_its_disposition() -> None:
    call = call_in(State.CONNECTED)
    assert call.handle(c.Ended(T0 + 50, ANSWERED_END)) == [c.WaitForHandler(c.HANDLER_GRACE)]
    assert call.handle(c.Ended(T0 + 51, ANSWERED_END)) == [], "a repeated end is ignored"
    effects = call.handle(c.HandlerFinished(T0 + 52, "agent_talked", {"route": "r1"}))
    result = next(e.result for e in effects if isinstance(e, c.WriteResult))
    assert result.disposition == "agent_talked" and result.agent == "1001"
    assert result.ended_at == datetime.fromtimestamp(T0 + 50, UTC), "the PBX's end time"
    assert result.detail == {"route": "r1", "agent": "1001"} and result.talk_seconds == 20.0


def test_the_first_ring_starts_the_ring_time_and_its_end_hangs_up_as_no_answer() -> None:
    call = call_in(State.ORIGINATED)
    assert call.handle(c.Rang(T0 + 3)) == [
        c.Progress("ringing", T0 + 3),
        c.WaitForRing(CAMPAIGN.ring_timeout),
    ]
    assert c.WaitForRing not in map(type, call.handle(c.Rang(T0 + 4))), "once, at the first"
    assert call.handle(c.RingOver(T0 + 3 + CAMPAIGN.ring_timeout)) == [
        c.Count("rang_out"),
        c.HangUp(),
    ]
    # The PBX reports the hangup we asked for (normal clearing, not answered).
    cut = Hangup("c1", 16, "Normal Clearing", False, Result.FAILED)
    effects = call.handle(c.Ended(T0 + 34, cut))
    result = next(e.result for e in effects if isinstance(e, c.WriteResult))
    assert result.disposition == "no_answer" and result.pbx_result == "no_answer"
    assert result.q850_cause == 16, "the PBX's own cause is kept"


def test_grace_over_closes_with_what_is_known() -> None:
    call = call_in(State.IN_QUEUE)
    call.handle(c.AgentJoined(T0 + 20, "1002", 3.0))
    call.handle(c.Ended(T0 + 60, ANSWERED_END))
    effects = call.handle(c.GraceOver(T0 + 75))
    result = next(e.result for e in effects if isinstance(e, c.WriteResult))
    assert result.disposition == "agent_talked" and result.agent == "1002"


def test_abandon_tells_the_policy_the_wait_and_marks_the_result() -> None:
    call = call_in(State.ANSWERED)
    call.handle(c.HandlerStarted(T0 + 10))
    call.handle(c.QueueWaitStarted(T0 + 12))
    effects = call.handle(c.Abandoned(T0 + 14))
    obs = [e.observation for e in effects if isinstance(e, c.Observe)][0]
    assert obs.outcome is Outcome.ABANDONED and obs.wait == 2.0
    assert c.RecordAbandon() in effects and c.Count("abandoned") in effects
    call.handle(c.Ended(T0 + 20, ANSWERED_END))
    closing = call.handle(c.HandlerFinished(T0 + 21, "abandoned", {}))
    result = next(e.result for e in closing if isinstance(e, c.WriteResult))
    assert result.abandoned and result.disposition == "abandoned"


def test_a_machine_is_news_for_the_policy_unless_treated_as_human() -> None:
    machine = c.amd_effects("c1", T0, "MACHINE", "LONGGREETING", "hangup")
    assert machine[0].observation.outcome is Outcome.MACHINE_ANSWERED
    assert machine[1] == c.RecordAmd("MACHINE", "LONGGREETING", "hangup", T0)
    assert c.amd_effects("c1", T0, "MACHINE", "x", "human") == [
        c.RecordAmd("MACHINE", "x", "human", T0)
    ]
    assert c.late_report_effects("c1", c.Abandoned(T0)) == [c.RecordAbandon()]
    assert c.late_report_effects("c1", c.HandlerStarted(T0)) == []


def test_stop_hangs_up_a_live_call_and_lost_closes_it_as_failed() -> None:
    call = call_in(State.RINGING)
    assert call.handle(c.StopRequested(T0 + 90)) == [c.HangUp()]
    effects = call.handle(c.Lost(T0 + 100, "runner stopped"))
    result = next(e.result for e in effects if isinstance(e, c.WriteResult))
    assert result.pbx_result == "failed" and result.cause_text == "runner stopped"


def test_the_pacing_view_counts_ringing_waiting_and_robot_calls() -> None:
    ringing, queued, robot = (
        call_in(State.RINGING),
        call_in(State.IN_QUEUE),
        call_in(State.IN_HANDLER),
    )
    robot.handle(c.RobotStarted(T0 + 3))
    stale = call_in(State.IN_QUEUE)
    stale.waiting_since = T0 - 1000
    view = c.pacing_view([ringing, queued, robot, stale], {}, T0 + 4, CAMPAIGN.agent_wait)
    assert view.ringing == (T0,)
    assert view.waiting == (queued.waiting_since,)
    assert view.extra["robot_sessions"] == 1.0


@pytest.mark.parametrize("state", [State.ANSWERED, State.IN_HANDLER])
def test_an_answered_call_waits_for_an_agent_before_the_handler_queues_it(state) -> None:
    """Between the answer and the handler's queue report (handler connecting, recording, AMD)
    the call will take an idle agent: the view counts it, or a policy would launch a second
    call for that agent (the abandons of the 30 s wrap-up e2e run)."""
    call = call_in(state)
    view = c.pacing_view([call], {}, T0 + 4, CAMPAIGN.agent_wait)
    assert view.waiting == (call.answered_at,) and view.extra["robot_sessions"] == 0.0
    call.handle(c.AmdDecided(T0 + 5, "MACHINE", "INITIALSILENCE", "hangup"))
    view = c.pacing_view([call], {}, T0 + 6, CAMPAIGN.agent_wait)
    assert view.waiting == ()  # a machine being hung up takes no agent


@pytest.mark.parametrize("state", [State.ANSWERED, State.IN_HANDLER])
def test_a_robot_campaigns_answered_call_is_a_robot_session_from_its_answer(state) -> None:
    """A robot campaign's calls never take an agent: answered, they count as robot sessions
    (the robot concurrency cap), never as callers waiting for an agent."""
    robot_campaign = parse_campaign({"campaign": {"name": "bot"}, "pacing": {"mode": "robot"}}, "t")
    call = c.Call("c1", CONTACT, robot_campaign, "+8675500000000")
    for i, kind in enumerate(PATHS[state]):
        call.handle(sample(kind, T0 + i))
    view = c.pacing_view([call], {}, T0 + 4, robot_campaign.agent_wait)
    assert view.waiting == () and view.extra["robot_sessions"] == 1.0
    assert not call.bound_for_agent and call.robot


def test_pbx_events_become_call_events_at_the_time_they_are_read() -> None:
    assert c.from_pbx(pbx.Ringing("c1"), T0) == c.Rang(T0)
    assert c.from_pbx(pbx.Answered("c1"), T0) == c.Answer(T0)
    assert c.from_pbx(pbx.AgentConnected("c1", "1001", 1.5), T0) == c.AgentJoined(T0, "1001", 1.5)
    assert c.from_pbx(BUSY_END, T0) == c.Ended(T0, BUSY_END)
    failed = c.from_pbx(pbx.OriginateFailed("c1", "trunk down"), T0)
    assert isinstance(failed, c.Refused) and failed.reason == "trunk down"  # not dialed
