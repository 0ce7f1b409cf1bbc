"""Virtual-time day simulator driving the pacing policies (see docs/pacing.md)."""

from dialer_core.simulate.metrics import SimResult
from dialer_core.simulate.runner import run_simulation
from dialer_core.simulate.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["Scenario", "ScenarioError", "SimResult", "load_scenario", "run_simulation"]
