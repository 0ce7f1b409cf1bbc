"""What answering-machine verdicts really met, written back once known."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg


async def record_amd_truth(conn: asyncpg.Connection, truths: Iterable[tuple[str, str]]) -> int:
    """What (call id, ``human`` | ``machine``) verdicts really met, once known (a review of the
    recording, a callback, a simulated PBX that knows); returns the verdicts updated. A MACHINE
    verdict on a ``human`` is a false positive: the audit and the pacing ledger count it as an
    abandoned live call."""
    pairs = list(truths)
    bad = [t for _, t in pairs if t not in ("human", "machine")]
    if bad:
        raise ValueError(f"amd truth: expected 'human' or 'machine', got {bad[0]!r}")
    status = await conn.execute(
        """UPDATE amd_decisions d SET truth = t.truth
           FROM unnest($1::uuid[], $2::text[]) AS t(call_id, truth)
           WHERE d.call_id = t.call_id""",
        [c for c, _ in pairs],
        [t for _, t in pairs],
    )
    return int(status.split()[-1])
