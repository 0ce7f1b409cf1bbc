"""Robot pacing: no agents; keep a concurrency target under a calls-per-second cap."""

from __future__ import annotations

from dialer_core.pacing.caps import HardCaps, channels_in_use
from dialer_core.pacing.interface import Observation, PacingView


class Robot:
    """Launch up to ``concurrency`` − channels in use (ringing, waiting, robot sessions).

    The runner reports running robot dialogs as ``view.extra["robot_sessions"]``.
    """

    amd_off_share = 0.0  # AMD runs on every call it launches

    def __init__(self, concurrency: int, caps: HardCaps) -> None:
        self.concurrency = concurrency
        self.caps = caps

    def observe(self, observation: Observation) -> None:
        """Robot pacing needs no history."""

    def decide(self, now: float, view: PacingView) -> int:
        return self.caps.clamp(now, view, max(0, self.concurrency - channels_in_use(view)))
