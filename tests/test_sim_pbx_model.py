"""The simulated PBX's pure decision code: callee plans and the agent board."""

from __future__ import annotations

import random
import statistics

import pytest

from pbx.sim.agents import AgentBoard, AgentPhase
from pbx.sim.callees import NEVER, CalleeOutcome, lognormal, plan_callee
from pbx.sim.config import AgentConfig, CalleeConfig, CalleeMix


def test_same_seed_gives_the_same_callee_plans():
    cfg = CalleeConfig()
    first = [plan_callee(random.Random(f"7:call:{i}"), cfg, "stochastic", "x") for i in range(50)]
    again = [plan_callee(random.Random(f"7:call:{i}"), cfg, "stochastic", "x") for i in range(50)]
    other = [plan_callee(random.Random(f"8:call:{i}"), cfg, "stochastic", "x") for i in range(50)]
    assert first == again
    assert first != other


def test_outcome_mix_follows_the_configured_probabilities():
    cfg = CalleeConfig(mix=CalleeMix.only(human=0.5, busy=0.3, no_answer=0.2))
    rng = random.Random(3)
    plans = [plan_callee(rng, cfg, "stochastic", "x") for _ in range(4000)]
    share = {o: sum(p.outcome is o for p in plans) / len(plans) for o in CalleeOutcome}
    assert abs(share[CalleeOutcome.HUMAN] - 0.5) < 0.03
    assert abs(share[CalleeOutcome.BUSY] - 0.3) < 0.03
    assert share[CalleeOutcome.MACHINE] == 0
    assert all(p.ring_seconds == NEVER for p in plans if p.outcome is CalleeOutcome.NO_ANSWER)
    assert {p.cause for p in plans if p.outcome is CalleeOutcome.BUSY} == {17}


def test_lognormal_has_the_requested_mean():
    rng = random.Random(1)
    draws = [lognormal(rng, 180.0, 1.0) for _ in range(20000)]
    assert abs(statistics.fmean(draws) - 180.0) < 8
    assert abs(statistics.pstdev(draws) / statistics.fmean(draws) - 1.0) < 0.15


def test_last_digit_rules_of_the_recording_rig():
    cfg = CalleeConfig(dtmf="")
    rng = random.Random(0)
    outcome = {d: plan_callee(rng, cfg, "last_digit", f"555123{d}") for d in range(10)}
    assert all(outcome[d].outcome is CalleeOutcome.HUMAN for d in range(5))
    assert all(2 <= outcome[d].ring_seconds <= 8 for d in range(5))
    assert (outcome[5].outcome, outcome[5].ring_seconds) == (CalleeOutcome.BUSY, 1.0)
    assert outcome[6].ring_seconds == NEVER
    assert outcome[7].outcome is CalleeOutcome.CONGESTION
    assert (outcome[8].ring_seconds, outcome[8].talk_seconds) == (2.0, 1.0)
    assert (outcome[9].outcome, outcome[9].cause) == (CalleeOutcome.UNALLOCATED, 1)
    forced = plan_callee(rng, cfg, "last_digit", "5551230", {"SIM_RING": "3", "SIM_DTMF": "12"})
    assert (forced.ring_seconds, forced.dtmf) == (3.0, ("1", "2"))


def test_agent_board_offers_the_longest_idle_agent_and_wraps_up():
    board = AgentBoard(AgentConfig(count=3))
    a1, a2, a3 = board.agents
    board.release(a1, now=5.0)
    board.release(a2, now=1.0)
    board.release(a3, now=3.0)
    assert board.pick_idle() is a2
    board.ring(a2)
    board.connect(a2)
    assert a2.device_status == 2 and board.pick_idle() is a3
    board.finish_call(a2, epoch=1000)
    # app_queue's wrap-up: not paused, "not in use", LastCall set, yet not offered a call.
    assert (a2.phase, a2.paused, a2.paused_reason, a2.calls_taken, a2.last_call) == (
        AgentPhase.WRAPUP,
        False,
        "",
        1,
        1000,
    )
    assert a2.device_status == 1 and board.pick_idle() is a3


def test_a_mix_of_only_some_outcomes_weighs_the_others_zero():
    assert dict(CalleeMix.only(busy=0.3, human=0.7).weights()) == {
        name: {"busy": 0.3, "human": 0.7}.get(name, 0.0) for name, _ in CalleeMix().weights()
    }
    with pytest.raises(TypeError):
        CalleeMix.only(voicemail=1.0)
