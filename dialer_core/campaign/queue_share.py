"""One runner's part in sharing its agent queue with the other campaigns that feed it: its
claims published (live on the board, through PostgreSQL across processes) and the pacing view
cut down to its share (docs/compliance.md, "Campaigns sharing one agent queue")."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from dialer_core.campaign.queue_board import (
    SHARE_EVERY,
    QueueBoard,
    share_forever,
    shared_queue_key,
)
from dialer_core.pacing.interface import PacingView
from dialer_core.pacing.sharing import QueueClaim, RecentShares, shared_view


@dataclass
class QueueShare:
    """A runner's seat on its queue's board."""

    board: QueueBoard
    runner_id: str
    every: float = SHARE_EVERY  # seconds between two exchanges of claims in PostgreSQL
    recent: RecentShares = field(default_factory=RecentShares)

    def view(self, view: PacingView, now: float, claim: Callable[[], QueueClaim]) -> PacingView:
        """``view`` with the other runners' calls in flight and this runner's share of the
        idle members (unchanged while no other runner feeds the queue)."""
        if not (others := self.board.others(self.runner_id)):
            return view
        late = self.recent if self.board.late else None  # another process's claims
        return shared_view(view, now, claim(), others, late)

    async def run(
        self, pool: asyncpg.Pool, pbx: str, claim: Callable[[], QueueClaim], read: asyncio.Event
    ) -> None:
        """Publish ``claim`` and read the others' until cancelled; ``read`` is set once the
        others' claims were first read (no decision before). ``pbx``: the control link's
        ``host:port``."""
        self.board.join(self.runner_id, claim)
        key = shared_queue_key(self.board.queue, pbx)
        await share_forever(pool, self.board, self.runner_id, key, self.every, read)
