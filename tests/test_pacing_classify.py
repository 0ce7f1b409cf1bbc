"""Live answers are classified before the policy hears of them (pacing.classify)."""

from __future__ import annotations

import dataclasses

from dialer_core.pacing.classify import AnswerClassifier, is_live_verdict
from dialer_core.pacing.config import PacingConfig
from dialer_core.pacing.interface import Outcome
from dialer_core.pacing.predictive import Predictive
from dialer_core.simulate.engine import Simulator
from dialer_core.simulate.scenario import AgentsSpec, CallsSpec, Scenario


def outcomes(observations) -> list[Outcome]:
    return [o.outcome for o in observations]


def test_verdicts_that_reach_a_person_are_live() -> None:
    assert is_live_verdict("HUMAN", "human")
    assert is_live_verdict("NOTSURE", "human")
    assert is_live_verdict("MACHINE", "human")  # the campaign sends machines to agents too
    assert not is_live_verdict("MACHINE", "hangup")
    assert not is_live_verdict("MACHINE", "message")
    assert not is_live_verdict("HANGUP", "human")


def test_with_amd_an_answer_waits_for_the_verdict() -> None:
    c = AnswerClassifier(amd_enabled=True)
    c.launched(0.0, "m")
    c.launched(0.0, "h")
    assert c.answered(10.0, "m") == []
    assert outcomes(c.amd_verdict(12.0, "m", "MACHINE", "hangup")) == [Outcome.MACHINE_ANSWERED]
    assert c.answered(10.0, "h") == []
    [live] = c.amd_verdict(12.5, "h", "HUMAN", "human")
    assert live.outcome is Outcome.HUMAN_ANSWERED and live.duration == 12.5
    assert c.amd_verdict(13.0, "h", "HUMAN", "human") == []  # never counted twice


def test_without_amd_the_answer_is_live_and_an_unjudged_answer_is_not() -> None:
    off = AnswerClassifier(amd_enabled=False)
    off.launched(0.0, "a")
    assert outcomes(off.answered(9.0, "a")) == [Outcome.HUMAN_ANSWERED]
    on = AnswerClassifier(amd_enabled=True)
    on.launched(0.0, "b")
    on.answered(9.0, "b")
    assert outcomes(on.ended(10.0, "b")) == [Outcome.MACHINE_ANSWERED]


def test_an_abandon_always_follows_its_live_answer() -> None:
    c = AnswerClassifier(amd_enabled=True)
    c.launched(0.0, "x")
    c.answered(5.0, "x")
    assert outcomes(c.abandoned(9.0, "x", 2.0)) == [Outcome.HUMAN_ANSWERED, Outcome.ABANDONED]
    c.launched(0.0, "y")
    c.answered(5.0, "y")
    c.amd_verdict(7.0, "y", "HUMAN", "human")
    assert outcomes(c.abandoned(9.0, "y", 2.0)) == [Outcome.ABANDONED]


def ledger_scenario(name: str) -> Scenario:
    """An hour of six agents, 30 % people, 30 % machines, AMD taking 5 % of people for machines."""
    return Scenario(
        name=name,
        shift_hours=1.0,
        agents=AgentsSpec(count=6, breaks_per_agent=0, lunch_share=0.0),
        calls=CallsSpec(human_rate=0.3, machine_rate=0.3, amd_false_positive_rate=0.05),
    )


def replayed(pbx_events: list, policy: Predictive) -> Predictive:
    """``policy`` after hearing the simulator's PBX events classified the way the runner does."""
    runner_side = AnswerClassifier(amd_enabled=True)
    for event, at, call_id, args in pbx_events:
        for observation in getattr(runner_side, event)(at, call_id, *args):
            policy.observe(observation)
    return policy


def test_live_ledger_equals_simulated_ledger_for_the_same_events() -> None:
    """The simulator's PBX events replayed the way the runner classifies them: same ledger."""
    scenario = ledger_scenario("ledger")
    cfg = dataclasses.replace(PacingConfig(), target_abandon_rate=0.1, min_history_answers=5)
    simulated = Predictive(cfg)
    sim = Simulator(scenario, simulated, seed=3, record_events=True)
    trace = sim.run()
    assert trace.outcomes.get("machine", 0) > 20 and trace.outcomes.get("abandoned", 0) > 0

    live = replayed(trace.pbx_events, Predictive(cfg))

    assert live.ledger.to_rows() == simulated.ledger.to_rows()
    answers = sum(r.answers for r in live.ledger.to_rows())
    abandons = sum(r.abandons for r in live.ledger.to_rows())
    # machines and AMD false positives never enter the live-answer count
    assert answers == len(trace.answer_times) == trace.outcomes["connected"] + abandons
    assert abandons == trace.outcomes["abandoned"]


def test_the_runners_raw_observations_are_classified_by_feed() -> None:
    """The call state machine reports "answered" as HUMAN_ANSWERED; feed holds it for AMD."""
    from dialer_core.pacing.interface import CallObservation as Obs

    c = AnswerClassifier.for_handling(None)
    assert not c.amd_enabled
    on = AnswerClassifier(amd_enabled=True)
    assert outcomes(on.feed(Obs(0.0, "m", Outcome.LAUNCHED))) == [Outcome.LAUNCHED]
    assert on.feed(Obs(9.0, "m", Outcome.HUMAN_ANSWERED, duration=9.0)) == []
    assert on.feed(Obs(11.0, "m", Outcome.MACHINE_ANSWERED)) == []  # the verdict decides
    assert outcomes(on.amd_verdict(11.0, "m", "MACHINE", "hangup")) == [Outcome.MACHINE_ANSWERED]
    assert on.ended(12.0, "m") == []
    assert on.amd_verdict(13.0, "m", "HUMAN", "human") == []  # a late report of a closed call


def test_with_amd_off_an_answer_needs_an_agent_and_only_a_person_or_a_drop_is_live() -> None:
    c = AnswerClassifier(amd_enabled=True)
    for call in ("person", "machine", "dropped"):
        [launched] = c.launched(0.0, call, amd=False)
        assert not launched.amd
        [answer] = c.answered(8.0, call)
        assert answer.outcome is Outcome.UNSCREENED and answer.duration == 8.0
    assert outcomes(c.connected(9.0, "person", 1.0)) == [Outcome.LIVE, Outcome.CONNECTED]
    assert outcomes(c.connected(9.0, "machine", 1.0, True)) == [Outcome.CONNECTED]
    assert outcomes(c.abandoned(10.0, "dropped", 2.0)) == [Outcome.LIVE, Outcome.ABANDONED]
    assert all(c.ended(11.0, call) == [] for call in ("person", "machine", "dropped"))


def test_live_ledger_equals_simulated_ledger_with_amd_off_on_a_share_of_calls() -> None:
    """The policy turns AMD off on part of the calls: the replayed events give the same ledger,
    machines an agent took stay out of it, and a dropped answer counts live."""
    scenario = ledger_scenario("ledger-amd-off")
    cfg = dataclasses.replace(
        PacingConfig(),
        target_abandon_rate=0.1,
        min_history_answers=5,
        amd_false_positive_rate=0.05,
    )
    simulated = Predictive(cfg)
    trace = Simulator(scenario, simulated, seed=3, record_events=True).run()
    assert 0 < simulated.amd_off_share < 1
    assert trace.outcomes["machine_to_agent"] > 10 and trace.outcomes["machine"] > 0

    live = replayed(trace.pbx_events, Predictive(cfg))
    assert live.ledger.to_rows() == simulated.ledger.to_rows()
    answers = sum(r.answers for r in live.ledger.to_rows())
    assert answers == trace.outcomes["connected"] + trace.outcomes.get("abandoned", 0)
