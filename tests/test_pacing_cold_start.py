"""Cold start: a campaign with no history is as safe in its first hour as later in the day.

The priors (``prior_*``) may be wrong; the policy must not bet on them. Issue 14 saw 10 of a
campaign's first-day 11 abandons in its first 30 minutes.
"""

from __future__ import annotations

import numpy as np
import pytest

from dialer_core.pacing.config import PacingConfig
from dialer_core.pacing.factory import make_policy
from dialer_core.simulate.engine import Simulator
from dialer_core.simulate.scenario import AgentsSpec, CallsSpec, Scenario, TalkSpec

FLOOR = Scenario(
    name="cold",
    shift_hours=1.5,
    agents=AgentsSpec(count=12, ramp_up_minutes=2, breaks_per_agent=0, lunch_share=0.0),
    calls=CallsSpec(human_rate=0.3, machine_rate=0.2),  # twice the default prior's answer rate
    talk=TalkSpec(right_party_mean=120.0, wrap_mean=15.0),  # shorter than the prior's
)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    "priors",
    [
        {},  # the shipped priors, wrong for this floor
        {"prior_human_rate": 0.05, "prior_talk_mean_seconds": 400.0},  # over-dial bait
        {"prior_human_rate": 0.6, "prior_wrap_mean_seconds": 5.0},
    ],
)
def test_first_half_hour_and_first_hour_stay_under_the_cap(priors, seed):
    cfg = PacingConfig(**priors)
    trace = Simulator(FLOOR, make_policy("predictive", cfg, seed), seed).run()
    answers = np.asarray(trace.answer_times)
    abandons = np.asarray(trace.abandon_times)
    for end in (1800.0, 3600.0):
        n, k = int((answers <= end).sum()), int((abandons <= end).sum())
        assert n > 100, "the floor was busy"
        assert k <= cfg.target_abandon_rate * n, f"{k} abandoned of {n} by {end:.0f} s"
    # the first half hour holds no more than its share of the day's abandons
    early = int((abandons <= 1800.0).sum())
    assert early <= max(2, len(abandons) / 2)
