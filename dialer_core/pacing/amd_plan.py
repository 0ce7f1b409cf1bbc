"""Exposure to AMD: on which share of calls answering-machine detection runs.

AMD false positives (people hung up on as machines) are abandoned calls the dialer never sees
(pacing.unseen). A call placed with AMD off cannot produce one: its answer goes to an agent, who
disposes of a machine in a few seconds, and if no agent is free within the connect limit it is an
abandoned call the ledger sees (a machine or not, nobody can tell). The policy turns AMD off on
the smallest share of calls that keeps the upper ``z`` quantile of the unseen false positives of
a window within ``1 - reserve`` of the window's cap, leaving ``reserve`` of the cap to the
dialer's own abandons; AMD stays on everywhere when the false positives fit without it (AMD saves
agent time). Pure: no clock, no I/O.
"""

from __future__ import annotations

import math


def amd_off_share(fp: float, answers: float, cap: float, z: float, reserve: float) -> float:
    """Smallest share of calls (0..1) with AMD off so that the unseen false positives of a window
    of ``answers`` live answers stay, at their upper ``z`` quantile, within ``(1 - reserve) ×
    cap × answers``.

    The quantile of Poisson(m) is approximated as ``m + z·√m + (z² - 1) / 6`` plus one count
    (the whole count ``pacing.unseen`` rounds up to), so the budget ``B`` allows the largest
    ``m`` with ``m + z·√m + c ≤ B``: ``√m = (-z + √(z² - 4(c - B))) / 2``.
    """
    if fp <= 0 or answers <= 0:
        return 0.0
    budget = (1.0 - reserve) * cap * answers
    c = (z * z - 1.0) / 6.0 + 1.0
    disc = z * z - 4.0 * (c - budget)
    if disc <= z * z:  # c >= budget: not even one unseen false positive fits
        return 1.0
    root = (-z + math.sqrt(disc)) / 2.0
    allowed = root * root  # largest mean of unseen false positives the window can carry
    return min(1.0, max(0.0, 1.0 - allowed / (fp * answers)))


class AmdSplit:
    """Per call, whether AMD runs, so that the share of calls with AMD off follows ``share``.

    Error diffusion, not chance: after any run of calls the count with AMD off is within one of
    ``share`` times their number (when the share is steady), and a replay gives the same calls.
    """

    def __init__(self) -> None:
        self._owed = 0.0  # calls that should have had AMD off and did not yet

    def amd_on(self, share_off: float) -> bool:
        """True when the next call runs AMD (``share_off``: the share wanted with AMD off)."""
        self._owed += min(1.0, max(0.0, share_off))
        if self._owed >= 0.5:
            self._owed -= 1.0
            return False
        return True
