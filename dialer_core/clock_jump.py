"""A simulated clock that can also jump forward: multi-day runs with no real waiting."""

from __future__ import annotations

from dialer_core.clock import ScaledClock


class JumpClock(ScaledClock):
    """A ``ScaledClock`` plus an offset that only grows.

    Simulated time runs ``scale`` times faster than real time; ``jump_to`` skips the idle
    stretches (nights, redial delays) at once. Jump only while no call is in flight: the PBX
    model's own timers are not moved, so a call spanning a jump would see a skewed duration.
    """

    def __init__(self, start: float, scale: float = 1.0) -> None:
        super().__init__(start, scale)
        self.offset = 0.0
        self.jumps = 0

    def __call__(self) -> float:
        return super().__call__() + self.offset

    def jump_to(self, t: float) -> float:
        """Move the clock forward to ``t`` (never backward); return the seconds skipped."""
        skip = t - self()
        if skip <= 0:
            return 0.0
        self.offset += skip
        self.jumps += 1
        return skip
