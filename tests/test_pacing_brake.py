"""The abandonment brake (pacing.brake): no mode dials through a window at or over the target."""

from __future__ import annotations

import dataclasses

import pytest

from dialer_core.pacing.brake import (
    CAUSE_AGENTS,
    CAUSE_ANSWERS,
    AbandonBrake,
    lines_per_agent,
)
from dialer_core.pacing.config import MODES, PacingConfig
from dialer_core.pacing.factory import make_policy
from dialer_core.pacing.interface import (
    AgentObservation,
    AgentStatus,
    AgentView,
    CallObservation,
    Outcome,
    PacingView,
)
from dialer_core.pacing.ledger import AbandonmentLedger
from dialer_core.simulate.engine import Simulator
from dialer_core.simulate.runner import run_simulation
from dialer_core.simulate.scenario import AgentsSpec, CallsSpec, Scenario

CFG = PacingConfig(calls_per_second=0)


def idle_view(idle: int, ringing: int = 0) -> PacingView:
    agents = tuple(AgentView(f"a{i}", AgentStatus.IDLE, 0.0) for i in range(idle))
    return PacingView(agents, tuple([0.0] * ringing), ())


def ledger_with(answers: int, abandons: int, at: float = 1000.0) -> AbandonmentLedger:
    ledger = AbandonmentLedger(CFG.ledger_windows_seconds)
    ledger.record(at, answers=answers, abandons=abandons)
    return ledger


@pytest.mark.parametrize("mode", [m for m in MODES if m not in ("robot", "preview")])
def test_every_mode_drops_below_one_line_per_idle_agent_at_the_target(mode):
    policy = make_policy(mode, CFG, ledger=ledger_with(100, 3))  # 3.0%: at the target
    n = policy.decide(1010.0, idle_view(10))
    assert isinstance(policy, AbandonBrake)
    assert 1 <= n < 10


@pytest.mark.parametrize("mode", ["progressive", "predictive", "fixed_ratio", "vicidial"])
def test_twice_the_target_means_one_call_at_a_time_for_a_free_agent(mode):
    policy = make_policy(mode, CFG, ledger=ledger_with(100, 6))
    assert policy.decide(1010.0, idle_view(10)) == 1
    assert policy.decide(1011.0, idle_view(10, ringing=1)) == 0
    assert policy.decide(1012.0, idle_view(0)) == 0


def test_the_brake_eases_as_the_excess_falls():
    assert lines_per_agent(1.0) < 1.0
    assert lines_per_agent(1.0) > lines_per_agent(1.5) > lines_per_agent(1.9) > 0
    assert lines_per_agent(2.0) == 0.0


def test_unseen_false_positives_count_in_the_measured_rate():
    cfg = PacingConfig(calls_per_second=0, amd_false_positive_rate=0.01)
    policy = make_policy("progressive", cfg, ledger=ledger_with(100, 2))  # 2% + 1% unseen
    assert policy.decide(1010.0, idle_view(10)) < 10
    plain = make_policy("progressive", CFG, ledger=ledger_with(100, 2))
    assert plain.decide(1010.0, idle_view(10)) == 10


def test_a_rate_far_above_any_plan_raises_an_alarm_and_stops_dialing():
    policy = make_policy("progressive", CFG)
    for i in range(40):  # far more abandons than any plan, no agent reported idle meanwhile
        policy.decide(float(i), idle_view(5))
        policy.observe(CallObservation(float(i), str(i), Outcome.HUMAN_ANSWERED))
        if i % 2:
            policy.observe(CallObservation(float(i), str(i), Outcome.ABANDONED))
    assert policy.decide(41.0, idle_view(5)) == 0
    assert policy.alarm is not None and CAUSE_ANSWERS in policy.alarm
    policy.resume()
    assert policy.alarm is None
    assert policy.decide(43.0, idle_view(5)) == 1  # resumed, still braked


def test_wrong_agent_count_brake_holds_and_the_campaign_pauses_with_the_alarm():
    """The dialer sees 12 idle agents that never take a call besides 4 real ones."""
    scenario = Scenario(
        name="phantoms",
        shift_hours=1.0,
        agents=AgentsSpec(count=4, phantom=12, breaks_per_agent=0, lunch_share=0.0),
    )
    braked = Simulator(scenario, make_policy("progressive", CFG), seed=2).run()
    bare = Simulator(scenario, make_policy("progressive", CFG, brake=False), seed=2).run()
    assert braked.alarm and CAUSE_AGENTS in braked.alarm
    assert 0 < braked.alarm_at < 3600.0
    assert len(bare.abandon_times) > 10 * max(1, len(braked.abandon_times))
    assert not any(t > braked.alarm_at + 60 for t in braked.abandon_times)


def test_abandons_while_agents_are_reported_idle_name_the_agent_picture():
    policy = make_policy("predictive", CFG)
    policy.observe(AgentObservation(0.0, "a0", AgentStatus.IDLE))
    for i in range(3):
        policy.observe(CallObservation(float(i), str(i), Outcome.HUMAN_ANSWERED))
        policy.observe(CallObservation(float(i) + 2, str(i), Outcome.ABANDONED))
    assert policy.alarm is not None and CAUSE_AGENTS in policy.alarm
    assert policy.decide(10.0, idle_view(1)) == 0


@pytest.mark.parametrize("seed", [1, 2])
def test_cold_start_with_a_wrong_prior_keeps_the_first_hour_under_the_target(seed):
    """No history, and a prior answer rate six times too low (the over-dialing direction)."""
    scenario = Scenario(
        name="cold",
        shift_hours=1.0,
        agents=AgentsSpec(count=20, ramp_up_minutes=0.5, breaks_per_agent=0, lunch_share=0.0),
        calls=CallsSpec(human_rate=0.30),
    )
    cfg = dataclasses.replace(PacingConfig(), prior_human_rate=0.05)
    result = run_simulation(cfg, scenario, "predictive", seed)
    assert result.human_answers > 200  # a full hour of dialing, not a stalled one
    assert result.abandon_rate <= cfg.target_abandon_rate
