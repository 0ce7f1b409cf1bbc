"""One way into a pacing policy: the ledger, live settings and preview requests are observations."""

from __future__ import annotations

import pytest

from dialer_core.pacing.config import PacingConfig
from dialer_core.pacing.factory import make_policy
from dialer_core.pacing.interface import (
    AgentStatus,
    AgentView,
    LedgerObservation,
    PacingView,
    PreviewRequest,
    SettingsObservation,
)
from dialer_core.pacing.ledger import AbandonmentLedger
from dialer_core.pacing.preview import Preview
from dialer_core.pacing.progressive import Progressive

CFG = PacingConfig()


def test_the_database_ledger_replaces_a_predictive_policys_own() -> None:
    policy = make_policy("predictive", CFG)
    fresh = AbandonmentLedger(CFG.ledger_windows_seconds)
    fresh.record(100.0, answers=40, abandons=3)
    policy.observe(LedgerObservation(120.0, fresh))
    assert policy.ledger.totals(120.0)[0].abandons == 3


def test_live_settings_reach_predictive_progressive_and_vicidial() -> None:
    change = SettingsObservation(10.0, target_abandon_rate=0.01, lines_per_agent=2.5)
    predictive = make_policy("predictive", CFG)
    predictive.observe(change)
    assert (predictive.cfg.target_abandon_rate, predictive.cfg.lines_per_agent) == (0.01, 2.5)
    progressive = make_policy("progressive", CFG)
    progressive.observe(change)
    inner = getattr(progressive, "inner", progressive)  # under the abandonment brake
    assert isinstance(inner, Progressive) and inner.lines_per_agent == 2.5
    vicidial = make_policy("vicidial", CFG)
    vicidial.observe(change)
    assert vicidial.target == 0.01


@pytest.mark.parametrize("mode", ["robot", "preview", "fixed_ratio"])
def test_other_policies_take_every_observation_without_error(mode: str) -> None:
    policy = make_policy(mode, CFG)
    policy.observe(SettingsObservation(1.0, 0.02, 1.0))
    policy.observe(LedgerObservation(1.0, AbandonmentLedger(CFG.ledger_windows_seconds)))


def test_a_preview_request_dials_for_that_agent_only() -> None:
    policy = make_policy("preview", CFG.__class__(preview_auto_dial_seconds=0.0))
    assert isinstance(getattr(policy, "inner", policy), Preview)
    view = PacingView(
        agents=(AgentView("a", AgentStatus.IDLE, 0.0), AgentView("b", AgentStatus.IDLE, 0.0))
    )
    assert policy.decide(5.0, view) == 0
    policy.observe(PreviewRequest(6.0, "b"))
    assert getattr(policy, "inner", policy).due_agents(6.0, view) == ("b",)
