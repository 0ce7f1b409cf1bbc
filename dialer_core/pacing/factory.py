"""``make_policy``: one place that turns a campaign's ``[pacing]`` table into a policy object."""

from __future__ import annotations

from dialer_core.pacing.baselines import FixedRatio, VicidialAdapt
from dialer_core.pacing.brake import AbandonBrake
from dialer_core.pacing.caps import CallRateLimiter, HardCaps
from dialer_core.pacing.config import MODES, PacingConfig
from dialer_core.pacing.interface import PacingPolicy, PacingView
from dialer_core.pacing.ledger import AbandonmentLedger
from dialer_core.pacing.predictive import Predictive
from dialer_core.pacing.preview import Preview
from dialer_core.pacing.progressive import Progressive
from dialer_core.pacing.robot import Robot


def make_caps(cfg: PacingConfig, per_agent: bool = True) -> HardCaps:
    """The hard caps of ``cfg`` (``per_agent=False`` drops the lines-per-agent cap)."""
    lines = cfg.max_lines_per_agent if per_agent else 0.0
    return HardCaps(lines, cfg.trunk_channels, CallRateLimiter(cfg.calls_per_second))


def make_policy(
    mode: str,
    cfg: PacingConfig,
    seed: int = 0,
    ledger: AbandonmentLedger | None = None,
    brake: bool = True,
) -> PacingPolicy:
    """Build the policy for ``mode`` (one of ``MODES``) from ``cfg``.

    Every mode that hands calls to agents runs inside the abandonment brake (pacing.brake);
    ``brake=False`` is for baselines in comparisons only. ``seed`` is accepted for policies that
    randomise (none of the shipped ones do). ``ledger`` restores a persisted abandonment ledger.
    """
    policy = _bare_policy(mode, cfg, ledger)
    if not brake or mode == "robot":  # robot answers never wait for an agent
        return policy
    ledger = ledger or getattr(policy, "ledger", None) or AbandonmentLedger(
        cfg.ledger_windows_seconds
    )
    return AbandonBrake(policy, cfg.target_abandon_rate, cfg.amd_false_positive_rate, ledger)


def _bare_policy(
    mode: str, cfg: PacingConfig, ledger: AbandonmentLedger | None
) -> PacingPolicy:
    if mode == "predictive":
        return Predictive(cfg, ledger)
    if mode == "progressive":
        return _CappedProgressive(cfg)
    if mode == "preview":
        return Preview(cfg.preview_auto_dial_seconds, make_caps(cfg))
    if mode == "robot":
        return Robot(cfg.robot_concurrency, make_caps(cfg, per_agent=False))
    if mode == "fixed_ratio":
        return FixedRatio(cfg.fixed_ratio, make_caps(cfg))
    if mode == "vicidial":
        return VicidialAdapt(
            make_caps(cfg),
            cfg.target_abandon_rate,
            cfg.vicidial_max_level,
            cfg.vicidial_intensity,
            cfg.vicidial_start_level,
        )
    raise ValueError(f"unknown pacing mode {mode!r}; expected one of {'|'.join(MODES)}")


class _CappedProgressive(Progressive):
    """Progressive pacing that also respects trunk and calls-per-second caps."""

    def __init__(self, cfg: PacingConfig) -> None:
        super().__init__(cfg.lines_per_agent)
        self._caps = make_caps(cfg)

    def decide(self, now: float, view: PacingView) -> int:
        return self._caps.clamp(now, view, super().decide(now, view))
