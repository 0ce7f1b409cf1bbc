"""Pacing policies, caps, ledger and the [pacing] config: behaviour and invariants."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtr
from scipy.stats import poisson

from dialer_core.pacing.amd_plan import AmdSplit, amd_off_share
from dialer_core.pacing.config import PacingConfig, PacingConfigError, load_pacing, parse_pacing
from dialer_core.pacing.estimators import CallTimingModel, ResidualLife
from dialer_core.pacing.factory import make_policy
from dialer_core.pacing.interface import (
    AgentObservation,
    AgentStatus,
    AgentView,
    CallObservation,
    Outcome,
    PacingView,
    PreviewRequest,
)
from dialer_core.pacing.ledger import AbandonmentLedger, LedgerRow
from dialer_core.pacing.predictive import Predictive, window_rate
from dialer_core.pacing.unseen import unseen_quantile

ROOT = Path(__file__).resolve().parent.parent
MODES = ("predictive", "progressive", "preview", "robot", "fixed_ratio", "vicidial")


def view(idle=0, talking=0, wrapup=0, paused=0, ringing=(), waiting=(), since=0.0, extra=None):
    agents = []
    for status, count in (
        (AgentStatus.IDLE, idle),
        (AgentStatus.TALKING, talking),
        (AgentStatus.WRAPUP, wrapup),
        (AgentStatus.PAUSED, paused),
    ):
        agents += [AgentView(f"{status}{i}", status, since) for i in range(count)]
    return PacingView(tuple(agents), tuple(ringing), tuple(waiting), extra or {})


# ---- config --------------------------------------------------------------------------------
def test_shipped_campaign_holds_the_defaults():
    assert load_pacing(ROOT / "conf/campaigns/predictive.toml") == PacingConfig()


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"target_abandon_rate": 3}, "pacing.target_abandon_rate: expected a fraction"),
        ({"mode": "turbo"}, "pacing.mode: expected one of predictive|progressive"),
        ({"trunk_channels": 1.5}, "pacing.trunk_channels: expected an integer"),
        ({"ledger_windows_seconds": [10]}, "pacing.ledger_windows_seconds: expected a list"),
        ({"max_lines_per_agent": True}, "pacing.max_lines_per_agent: expected a number"),
        ({"speed": 2}, "pacing.speed: expected one of"),
    ],
)
def test_bad_pacing_value_names_file_key_and_expectation(table, fragment):
    with pytest.raises(PacingConfigError) as err:
        parse_pacing(table, "campaign.toml")
    assert str(err.value).startswith("campaign.toml: ")
    assert fragment in str(err.value)


def test_bad_campaign_file_is_named(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("[pacing]\ncalls_per_second = -1\n")
    with pytest.raises(PacingConfigError, match=r"c.toml: pacing.calls_per_second: expected .* -1"):
        load_pacing(bad)
    bad.write_text("[pacing\n")
    with pytest.raises(PacingConfigError, match="c.toml: not valid TOML"):
        load_pacing(bad)


# ---- ledger --------------------------------------------------------------------------------
def test_ledger_sums_rolling_windows_and_forgets_old_minutes():
    ledger = AbandonmentLedger((3600, 86400))
    ledger.record(0.0, answers=10, abandons=1)
    ledger.record(1800.0, answers=5)
    hour, day = ledger.totals(3000.0)
    assert (hour.answers, hour.abandons, day.answers) == (15, 1, 15)
    hour, day = ledger.totals(3600.0 + 61)
    assert (hour.answers, hour.abandons) == (5, 0)
    assert (day.answers, day.abandons) == (15, 1)
    hour, day = ledger.totals(86400.0 + 1900)
    assert (day.answers, day.abandons) == (0, 0)
    assert ledger.to_rows() == []


def test_ledger_rows_round_trip_restores_the_windows():
    ledger = AbandonmentLedger((3600, 86400))
    for i in range(50):
        ledger.record(i * 97.0, answers=3, abandons=i % 7 == 0)
    rows = ledger.to_rows()
    assert all(isinstance(r, LedgerRow) and r.bucket_start % 60 == 0 for r in rows)
    again = AbandonmentLedger.from_rows(rows, (3600, 86400))
    assert again.totals(5000.0) == ledger.totals(5000.0)
    plain = AbandonmentLedger.from_rows(
        [(r.bucket_start, r.answers, r.abandons) for r in rows], (3600, 86400)
    )
    assert plain.to_rows() == rows


# ---- invariants over random views ----------------------------------------------------------
views = st.builds(
    view,
    idle=st.integers(0, 30),
    talking=st.integers(0, 30),
    wrapup=st.integers(0, 10),
    paused=st.integers(0, 5),
    ringing=st.lists(st.floats(0, 100), max_size=80),
    waiting=st.lists(st.floats(90, 100), max_size=5),
    since=st.floats(0, 100),
    extra=st.just({"robot_sessions": 3.0}),
)


@settings(max_examples=60, deadline=None)
@given(mode=st.sampled_from(MODES), v=views, trunk=st.integers(0, 120), lines=st.floats(1, 5))
def test_decisions_are_never_negative_and_respect_hard_caps(mode, v, trunk, lines):
    cfg = PacingConfig(trunk_channels=trunk, max_lines_per_agent=lines, calls_per_second=0)
    n = make_policy(mode, cfg).decide(100.0, v)
    assert n >= 0
    in_flight = len(v.ringing) + len(v.waiting)
    talking = v.count(AgentStatus.TALKING)
    if trunk:
        assert n == 0 or in_flight + talking + 3 + n <= trunk
    staffed = len(v.agents) - v.count(AgentStatus.PAUSED)
    if mode != "robot":
        assert n == 0 or in_flight + n <= lines * staffed + 1e-9


@settings(max_examples=25, deadline=None)
@given(mode=st.sampled_from(MODES), cps=st.floats(0.5, 20), steps=st.integers(5, 60))
def test_calls_per_second_cap_holds_over_any_run(mode, cps, steps):
    cfg = PacingConfig(calls_per_second=cps, robot_concurrency=1000, max_lines_per_agent=20)
    policy = make_policy(mode, cfg)
    launched = 0
    for i in range(steps):
        launched += policy.decide(i * 0.5, view(idle=200, since=-60.0))
    elapsed = (steps - 1) * 0.5
    assert launched <= cps * elapsed + max(1.0, cps) + 1e-9


# ---- predictive ----------------------------------------------------------------------------
def feed_history(policy, answers, abandons, at=0.0):
    for i in range(answers):
        policy.observe(CallObservation(at, f"h{i}", Outcome.HUMAN_ANSWERED, duration=12.0))
    for i in range(abandons):
        policy.observe(CallObservation(at, f"x{i}", Outcome.ABANDONED, wait=2.0))


def test_predictive_never_launches_fewer_than_progressive():
    policy = Predictive(PacingConfig(calls_per_second=0))
    v = view(idle=6, talking=10, ringing=(99.0, 99.5))
    assert policy.decide(100.0, v) >= 4


def test_predictive_overdials_when_agents_are_about_to_free_up():
    policy = Predictive(PacingConfig(calls_per_second=0))
    feed_history(policy, 300, 0)
    # twenty agents all deep into wrap-up (mean 30 s): most free up within a ring time
    n = policy.decide(1000.0, view(wrapup=20, since=1000.0 - 40.0))
    assert n > 0


def test_predictive_falls_back_to_progressive_when_the_hour_is_at_the_cap():
    policy = Predictive(PacingConfig(calls_per_second=0))
    feed_history(policy, 100, 3, at=500.0)
    assert policy.allowed_rate(600.0) == 0.0
    assert policy.decide(600.0, view(idle=2, wrapup=20, since=560.0)) == 2


def test_window_rate_is_lower_for_small_teams():
    small, large = window_rate(0.03, 75, 2.0), window_rate(0.03, 1500, 2.0)
    assert 0 < small < large < 0.03


@pytest.mark.parametrize("mean", [0.05, 0.75, 1.5, 7.0, 36.0, 59.0, 61.0, 400.0])
@pytest.mark.parametrize("z", [2.0, 2.5, 3.0])
def test_unseen_quantile_is_the_poisson_quantile(mean, z):
    level = ndtr(z)
    k = unseen_quantile(mean, z)
    assert poisson.cdf(k, mean) >= level - 1e-9
    assert k == 0 or poisson.cdf(k - 2, mean) < level  # within one count (Cornish-Fisher)


def test_unseen_abandons_are_planned_at_their_quantile_not_their_mean():
    """An hour of 300 live answers at 0.5 % false positives: 1.5 expected, 5 planned (AMD on
    every call: ``amd_off_max = 0``)."""
    cfg = PacingConfig(amd_false_positive_rate=0.005, amd_off_max=0.0)
    policy = Predictive(cfg)
    feed_history(policy, 300, 0, at=3000.0)
    planned = unseen_quantile(1.5, cfg.fp_z)
    assert planned == 5
    assert policy.allowed_rate(3600.0) / policy.calibration <= 0.03 - planned / 300
    stricter = Predictive(replace(cfg, fp_z=3.0))
    feed_history(stricter, 300, 0, at=3000.0)
    assert stricter.allowed_rate(3600.0) < policy.allowed_rate(3600.0)


def test_predictive_budgets_for_amd_false_positives():
    plain = Predictive(PacingConfig())
    ofcom = Predictive(PacingConfig(amd_false_positive_rate=0.01, amd_off_max=0.0))
    for p in (plain, ofcom):
        feed_history(p, 400, 0, at=3000.0)
    assert ofcom.allowed_rate(3600.0) < plain.allowed_rate(3600.0)


# ---- exposure to AMD (pacing.amd_plan) -----------------------------------------------------
def test_amd_stays_on_while_the_false_positives_fit_the_budget():
    assert amd_off_share(0.0, 1800, 0.03, 2.5, 0.5) == 0.0
    assert amd_off_share(0.001, 1800, 0.03, 2.5, 0.5) == 0.0  # ~2 of the 27 allowed


def test_amd_is_turned_off_on_the_share_that_brings_the_quantile_inside_the_budget():
    fp, answers, cap, z, reserve = 0.02, 1800, 0.03, 2.5, 0.5
    share = amd_off_share(fp, answers, cap, z, reserve)
    assert 0.3 < share < 0.9
    budget = (1 - reserve) * cap * answers
    assert unseen_quantile(fp * (1 - share) * answers, z) <= budget
    assert unseen_quantile(fp * (1 - share + 0.05) * answers, z) > budget - 1  # not much more
    assert amd_off_share(fp, answers, cap, z, 0.7) > share  # more reserve, less AMD
    assert amd_off_share(0.005, 120, cap, z, reserve) == 1.0  # not one fits a small hour


def test_the_split_follows_the_share_call_by_call():
    split = AmdSplit()
    on = [split.amd_on(0.3) for _ in range(100)]
    assert on.count(False) == 30
    assert all(abs(on[:n].count(False) - 0.3 * n) <= 1 for n in range(1, 101))
    assert all(split.amd_on(0.0) for _ in range(10))


def test_predictive_turns_amd_off_from_its_ledger_and_plans_only_the_rest():
    """2 % false positives, 1,800 live answers an hour: AMD off on part of the calls, and the
    unseen false positives planned are those of the calls that still run it."""
    cfg = PacingConfig(amd_false_positive_rate=0.02)
    lever = Predictive(cfg)
    pinned = Predictive(replace(cfg, amd_off_max=0.0))
    for p in (lever, pinned):
        feed_history(p, 1800, 0, at=3000.0)
    assert lever.allowed_rate(3600.0) > 20 * pinned.allowed_rate(3600.0)
    expected = amd_off_share(0.02, 1800, 0.03, cfg.fp_z, cfg.amd_reserve)
    assert lever.amd_off_share == pytest.approx(expected) and 0 < expected < 1
    assert pinned.amd_off_share == 0.0
    quiet = Predictive(PacingConfig())
    feed_history(quiet, 1800, 0, at=3000.0)
    quiet.allowed_rate(3600.0)
    assert quiet.amd_off_share == 0.0  # no false positives: AMD on every call


def test_an_unscreened_answer_counts_for_the_agents_and_only_a_person_for_the_ledger():
    policy = Predictive(PacingConfig())
    before = policy.timing.human.total
    policy.observe(CallObservation(10.0, "a", Outcome.UNSCREENED, duration=9.0))
    assert policy.timing.human.total > before  # an agent is needed: the answer model learns
    assert policy.ledger.sums(10.0)[0][1] == 0
    policy.observe(CallObservation(11.0, "a", Outcome.LIVE))
    assert policy.ledger.sums(11.0)[0][1] == 1


# ---- baselines, preview, robot -------------------------------------------------------------
def test_vicidial_cuts_level_to_one_when_the_day_is_over_target():
    policy = make_policy("vicidial", PacingConfig(calls_per_second=0), brake=False)
    policy.level = 2.5
    for i in range(60):
        policy.observe(CallObservation(0.0, str(i), Outcome.LAUNCHED))
    feed_history(policy, 20, 2)
    policy.decide(0.0, view(idle=5))
    policy.decide(16.0, view(idle=5))
    assert policy.level == 1.0


def test_vicidial_raises_level_while_agents_sit_idle():
    policy = make_policy("vicidial", PacingConfig(calls_per_second=0), brake=False)
    for t in range(0, 31):
        policy.decide(float(t), view(idle=8, talking=2, ringing=(float(t),) * 10))
    assert policy.level > 1.0


def test_preview_dials_once_the_timer_expires_and_on_request():
    policy = make_policy("preview", PacingConfig(preview_auto_dial_seconds=10, calls_per_second=0))
    v = view(idle=2, since=0.0)
    assert policy.decide(5.0, v) == 0
    policy.observe(PreviewRequest(6.0, "idle0"))
    assert policy.due_agents(6.0, v) == ("idle0",)
    assert policy.decide(10.0, view(idle=2, since=0.0, ringing=(6.0,))) == 1
    manual = make_policy("preview", PacingConfig(preview_auto_dial_seconds=0))
    assert manual.decide(1000.0, v) == 0


def test_robot_keeps_the_concurrency_target():
    policy = make_policy("robot", PacingConfig(robot_concurrency=10, calls_per_second=0))
    v = PacingView((), (1.0,) * 4, (), {"robot_sessions": 3.0})
    assert policy.decide(5.0, v) == 3


def test_agent_observations_train_the_residual_life_model():
    policy = Predictive(PacingConfig())
    before = policy.agents_model.talk.mean()
    for i in range(200):
        policy.observe(AgentObservation(i * 1000.0, "a", AgentStatus.TALKING))
        policy.observe(AgentObservation(i * 1000.0 + 600.0, "a", AgentStatus.WRAPUP))
        policy.observe(AgentObservation(i * 1000.0 + 630.0, "a", AgentStatus.IDLE))
    assert policy.agents_model.talk.mean() > before + 200


def test_a_talk_that_ends_without_wrap_up_frees_its_agent_at_its_end():
    """Agents who hang up on machines (AMD off) in ~5 s and go straight back to idle: an agent
    2 s into a call is likely free within 6 s; one 60 s in still needs a wrap-up."""
    plain = ResidualLife((180.0, 1.2), (45.0, 0.5), 30.0, 150.0)
    mixed = ResidualLife((180.0, 1.2), (45.0, 0.5), 30.0, 150.0)
    rng = random.Random(3)
    for _ in range(400):
        talk = rng.lognormvariate(5.0, 0.8)
        plain.observe_talk(talk)
        mixed.observe_talk(talk)
        mixed.observe_talk(rng.lognormvariate(1.6, 0.2), wrap=False)
    for life in (plain, mixed):
        life.observe_wrap(45.0)
    grid = np.array([2.0, 60.0])
    p_plain = plain.free_within(grid, grid, np.array([6.0]))
    p_mixed = mixed.free_within(grid, grid, np.array([6.0]))
    assert p_plain[0, 0] < 0.05 < 0.4 < p_mixed[0, 0]  # about half of them are on machines
    assert p_mixed[1, 0] < 0.05


# ---- speed paths must not change a decision -------------------------------------------------
def test_fast_tables_equal_the_generic_formulas_bit_for_bit():
    rng = random.Random(5)
    horizons = np.array([1.0, 2, 3, 4, 6, 8, 11, 15, 20, 25, 32, 40])
    for _ in range(5):
        timing = CallTimingModel(0.15, 11.0, 0.5, 18.0, 0.6, 200.0, 400.0)
        life = ResidualLife((180.0, 1.2), (30.0, 0.5), 30.0, 150.0)
        for _ in range(rng.randrange(0, 2000)):
            timing.observe(rng.uniform(0.0, 150.0), human=rng.random() < 0.2)
            life.observe_talk(rng.lognormvariate(4.5, 1.0))
            life.observe_wrap(rng.lognormvariate(3.0, 0.5))
            if rng.random() < 0.3:  # a machine an agent hung up on, with AMD off
                life.observe_talk(rng.lognormvariate(1.6, 0.3), wrap=False)
        fast = timing.table(horizons)
        slow = timing.answer_within(timing.human.edges, horizons)
        assert np.array_equal(fast.view(np.int64), slow.view(np.int64))
        grid = life.talk.edges
        fast = np.ascontiguousarray(life.free_table(horizons + 2.0))
        slow = life.free_within(grid, grid, horizons + 2.0)
        assert np.array_equal(fast.view(np.int64), slow.view(np.int64))


def agent_views(seed: int, steps: int) -> list[PacingView]:
    """A day in miniature: agents change state, log in and out; unchanged agents keep their
    ``AgentView`` objects from one view to the next, as the simulator's views do."""
    rng = random.Random(seed)
    agents = {f"a{i}": AgentView(f"a{i}", AgentStatus.IDLE, 0.0) for i in range(12)}
    out = []
    statuses = [AgentStatus.IDLE, AgentStatus.TALKING, AgentStatus.WRAPUP, AgentStatus.PAUSED]
    for step in range(1, steps + 1):
        now = float(step)
        for _ in range(rng.randrange(0, 4)):
            name = rng.choice(sorted(agents))
            agents[name] = AgentView(name, rng.choice(statuses), now - rng.uniform(0, 400))
        if rng.random() < 0.1:
            agents.pop(rng.choice(sorted(agents)))
        if rng.random() < 0.1:
            name = f"b{step}"
            agents[name] = AgentView(name, AgentStatus.IDLE, now)
        ringing = tuple(now - rng.uniform(0, 60) for _ in range(rng.randrange(0, 30)))
        waiting = tuple(now - rng.uniform(0, 1) for _ in range(rng.randrange(0, 2)))
        out.append(PacingView(tuple(agents.values()), ringing, waiting))
    return out


def test_decisions_do_not_depend_on_shared_agent_view_objects():
    views_ = agent_views(seed=9, steps=300)
    fresh = [
        replace(v, agents=tuple(AgentView(a.agent, a.status, a.since) for a in v.agents))
        for v in views_
    ]
    shared_policy, fresh_policy = Predictive(PacingConfig()), Predictive(PacingConfig())
    for policy in (shared_policy, fresh_policy):
        feed_history(policy, 300, 2)
    got = [shared_policy.decide(float(i + 1), v) for i, v in enumerate(views_)]
    want = [fresh_policy.decide(float(i + 1), v) for i, v in enumerate(fresh)]
    assert got == want
    assert sum(got) > 0


def test_a_ledger_swapped_in_by_the_runner_counts_at_the_next_decision():
    policy = Predictive(PacingConfig(calls_per_second=0))
    feed_history(policy, 300, 0)
    v = view(idle=2, wrapup=20, since=560.0)
    assert policy.decide(600.0, v) > 2  # a clean history: predictive overdials
    windows = policy.cfg.ledger_windows_seconds
    at_cap = AbandonmentLedger.from_rows([LedgerRow(540, 100, 3)], windows)
    while at_cap.version < policy.ledger.version:  # same version, other ledger
        at_cap.record(540.0)
    policy.ledger = at_cap
    assert policy.decide(600.0, v) == 2  # same 5-second slot, yet progressive at once
