"""Turn a simulated day's raw trace into the figures a pacing engineer compares."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from dialer_core.pacing.interface import AgentStatus
from dialer_core.simulate.engine import Trace

WINDOW = 3600.0


@dataclass(frozen=True)
class SeriesPoint:
    minute: float
    rolling_hour_rate: float
    talk_share: float  # talking agents / logged-in agents at that minute
    logged_in: int


@dataclass(frozen=True)
class SimResult:
    """Headline figures of one simulated shift (rates are fractions, times seconds)."""

    scenario: str
    policy: str
    seed: int
    calls: int
    human_answers: int
    abandoned: int
    abandon_rate: float
    worst_hour_rate: float
    talk_utilization: float  # talk / logged-in available time (breaks and pauses excluded)
    busy_utilization: float  # (talk + wrap-up) / logged-in available time
    physical_limit: float  # talk / (talk + wrap-up): the utilization of agents never idle
    connects_per_agent_hour: float
    idle_gap_mean: float
    idle_gap_p95: float
    connect_wait_mean: float
    logged_in_hours: float  # available (breaks and pauses excluded)
    hours_over_target: int = 0  # clock hours in which some rolling hour ended over the target
    fallback_share: float = 0.0  # predictive decisions taken with no budget (as progressive)
    alarm: str = ""
    outcomes: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    series: tuple[SeriesPoint, ...] = ()

    @property
    def amd_false_positives(self) -> int:
        """People AMD hung up on as machines (the dialer never saw them)."""
        return self.outcomes.get("amd_false_positive", 0)

    @property
    def machines_to_agents(self) -> int:
        """Machines answering calls placed with AMD off, disposed of by an agent."""
        return self.outcomes.get("machine_to_agent", 0)

    def to_json(self, with_series: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not with_series:
            data.pop("series")
        return data


def rolling_rates(answers: list[float], abandons: list[float], end: float, step: float = 60.0):
    """(window end, abandons / answers) for every full hour window ending on a ``step`` grid."""
    ans = np.sort(np.asarray(answers))
    abn = np.sort(np.asarray(abandons))
    last = max(end, WINDOW)
    ends = np.arange(min(WINDOW, last), last + 1e-9, step)
    n_ans = np.searchsorted(ans, ends, "right") - np.searchsorted(ans, ends - WINDOW, "right")
    n_abn = np.searchsorted(abn, ends, "right") - np.searchsorted(abn, ends - WINDOW, "right")
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.where(n_ans > 0, n_abn / np.maximum(n_ans, 1), 0.0)
    return ends, rates


def summarise(
    trace: Trace,
    scenario: str,
    policy: str,
    seed: int,
    shift_end: float,
    target: float = 0.03,
    fallback_share: float = 0.0,
) -> SimResult:
    """Compute the headline metrics from ``trace`` (``target``: the abandonment cap)."""
    # talk with people: an agent's seconds on a machine (AMD off) are lost time, not talk
    talk = sum(a.time_in.get(AgentStatus.TALKING, 0.0) - a.machine_time for a in trace.agents)
    wrap = sum(a.time_in.get(AgentStatus.WRAPUP, 0.0) for a in trace.agents)
    logged = sum(
        t for a in trace.agents for s, t in a.time_in.items() if s is not AgentStatus.PAUSED
    )
    answers = len(trace.answer_times)
    abandoned = len(trace.abandon_times)
    end = min(trace.end_time, shift_end + 60.0)
    window_ends, rates = rolling_rates(trace.answer_times, trace.abandon_times, end)
    over = {
        int((t - 1e-9) // WINDOW) for t, r in zip(window_ends, rates, strict=True) if r > target
    }
    gaps = np.asarray(trace.idle_gaps) if trace.idle_gaps else np.zeros(1)
    waits = trace.connect_waits
    connects = trace.outcomes.get("connected", 0)
    ends, minute_rates = rolling_rates(trace.answer_times, trace.abandon_times, shift_end, 300.0)
    series = []
    for t, n_in, n_talk, _idle in trace.samples[::5]:
        idx = int(np.searchsorted(ends, t))
        rate = float(minute_rates[min(idx, len(minute_rates) - 1)]) if t >= WINDOW else 0.0
        series.append(SeriesPoint(t / 60.0, rate, n_talk / n_in if n_in else 0.0, n_in))
    return SimResult(
        scenario=scenario,
        policy=policy,
        seed=seed,
        calls=trace.launched,
        human_answers=answers,
        abandoned=abandoned,
        abandon_rate=abandoned / answers if answers else 0.0,
        worst_hour_rate=float(rates.max()) if len(rates) else 0.0,
        talk_utilization=talk / logged if logged else 0.0,
        busy_utilization=(talk + wrap) / logged if logged else 0.0,
        physical_limit=talk / (talk + wrap) if talk + wrap else 0.0,
        connects_per_agent_hour=connects / (logged / 3600.0) if logged else 0.0,
        idle_gap_mean=float(gaps.mean()),
        idle_gap_p95=float(np.percentile(gaps, 95)),
        connect_wait_mean=sum(waits) / len(waits) if waits else 0.0,
        logged_in_hours=logged / 3600.0,
        hours_over_target=len(over),
        fallback_share=fallback_share,
        alarm=trace.alarm,
        outcomes=dict(sorted(trace.outcomes.items())),
        series=tuple(series),
    )
