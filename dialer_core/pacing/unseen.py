"""Unseen abandons: AMD false positives, people hung up on as machines (Ofcom counts them as
abandoned; the dialer never sees them). A window of ``L`` live answers holds Poisson(fp · L) of
them; pacing plans for an upper quantile of that count, not its mean, because a shift has
hundreds of overlapping rolling hours and the worst of them is the one that breaks the cap.
"""

from __future__ import annotations

import math
from functools import lru_cache

from scipy.special import ndtr


@lru_cache(maxsize=4096)
def _poisson_upper(mean_milli: int, z_centi: int) -> int:
    """Smallest k with P(Poisson(mean) <= k) >= Φ(z) (mean in thousandths, z in hundredths)."""
    mean, z = mean_milli / 1000.0, z_centi / 100.0
    if mean > 60:  # Cornish-Fisher: within one count of the exact quantile here
        return math.ceil(mean + z * math.sqrt(mean) + (z * z - 1) / 6)
    level = ndtr(z)
    k, term = 0, math.exp(-mean)
    total = term
    while total < level:
        k += 1
        term *= mean / k
        total += term
    return k


def unseen_quantile(mean: float, z: float) -> int:
    """Upper ``z`` quantile of Poisson(``mean``) unseen abandons (0 when ``mean`` is 0)."""
    return _poisson_upper(round(mean * 1000), round(z * 100)) if mean > 0 else 0
