"""Campaigns sharing one agent queue: the fair split (pure), the claims in PostgreSQL, and one
driver's events reaching every campaign runner (docs/compliance.md)."""

from __future__ import annotations

import asyncio
import gc
import itertools
from datetime import UTC, datetime

from dialer_core.campaign.queue_board import shared_queue_key
from dialer_core.pacing.interface import AgentStatus, AgentView, PacingView
from dialer_core.pacing.progressive import Progressive
from dialer_core.pacing.sharing import (
    STALE_FOR,
    TURN_SECONDS,
    QueueClaim,
    RecentShares,
    fair_shares,
    shared_view,
)
from dialer_core.store.queue_claims import peer_claims, publish_claim
from dialer_core.store.runners import heartbeat, mark_stopped, register_runner
from pbx.driver_events import EventOutbox
from pbx.model import AgentEvent, AgentState, OriginateFailed

NOW = 1_000_000.0 * TURN_SECONDS + 10.0  # 10 s into a turn


def members(idle: int, ringing: int = 0) -> PacingView:
    """A runner's own view: ``idle`` idle members, ``ringing`` calls of its own out."""
    agents = tuple(AgentView(f"idle{i}", AgentStatus.IDLE, NOW - 100 + i) for i in range(idle))
    return PacingView(agents=agents, ringing=(NOW - 1,) * ringing)


def test_fair_shares_are_equal_and_the_remainder_takes_turns():
    assert fair_shares(3, ["b", "a"]) == {"a": 2, "b": 1}
    assert fair_shares(3, ["b", "a"], turn=1) == {"a": 1, "b": 2}
    assert fair_shares(7, ["a", "b", "c"], turn=2) == {"a": 2, "b": 2, "c": 3}
    assert fair_shares(8, ["a", "b", "c"], turn=2) == {"a": 3, "b": 2, "c": 3}
    assert fair_shares(0, ["a", "b"]) == {"a": 0, "b": 0}
    assert fair_shares(5, []) == {}


def test_other_runners_calls_count_and_their_unused_share_is_reserved():
    me = QueueClaim("a", ringing=0, waiting=0)
    b = QueueClaim("b", ringing=0, waiting=0)
    view = shared_view(members(3), NOW, me, [b])
    # b has nothing out yet: its share of the 3 idle members is kept for it.
    turn = int(NOW // TURN_SECONDS)
    mine = fair_shares(3, ["a", "b"], turn)["a"]
    assert view.count(AgentStatus.IDLE) == mine
    assert view.count(AgentStatus.PAUSED) == 3 - mine
    assert Progressive().decide(NOW, view) == mine
    # b's calls now use its share: they count as ringing, nothing is reserved any more.
    b_busy = QueueClaim("b", ringing=3 - mine - 1, waiting=1)
    view = shared_view(members(3), NOW, me, [b_busy])
    assert view.count(AgentStatus.IDLE) == 3
    assert len(view.ringing) == 3 - mine - 1 and view.waiting == (NOW,)
    assert Progressive().decide(NOW, view) == mine


def test_a_runner_not_dialing_keeps_nothing_reserved_but_its_calls_count():
    me = QueueClaim("a", 0, 0)
    paused = QueueClaim("b", ringing=1, waiting=0, dialing=False)  # its last calls still ring
    view = shared_view(members(4), NOW, me, [paused])
    assert view.count(AgentStatus.IDLE) == 4
    assert Progressive().decide(NOW, view) == 3


def test_alone_the_view_is_untouched():
    view = members(2)
    assert shared_view(view, NOW, QueueClaim("a", 1, 0), []) is view


def test_runners_within_their_share_never_place_more_calls_than_idle_members():
    """Each runner within its share, each seeing the other's calls or fewer (a claim read a
    moment late misses the newest): the two progressive runners' calls fit the idle members."""
    for idle in range(6):
        share = fair_shares(idle, ["a", "b"], int(NOW // TURN_SECONDS))
        for a_out, b_out in itertools.product(range(share["a"] + 1), range(share["b"] + 1)):
            for a_seen, b_seen in itertools.product(range(a_out + 1), range(b_out + 1)):
                a_view = shared_view(members(idle, a_out), NOW, QueueClaim("a", a_out, 0), [
                    QueueClaim("b", b_seen, 0)
                ])  # fmt: skip
                b_view = shared_view(members(idle, b_out), NOW, QueueClaim("b", b_out, 0), [
                    QueueClaim("a", a_seen, 0)
                ])  # fmt: skip
                a_adds = Progressive().decide(NOW, a_view)
                b_adds = Progressive().decide(NOW, b_view)
                assert a_out + a_adds <= share["a"] and b_out + b_adds <= share["b"]
                assert a_out + a_adds + b_out + b_adds == idle, (idle, a_out, b_out)


def test_a_claim_read_late_keeps_the_other_runners_share_of_the_last_seconds():
    """Two idle members, one each; a's call is out, b's call was placed after b's claim was
    read. a's call then takes a member: one idle left, and the odd member is a's by turn. b's
    share of a moment ago is still kept for it, until a claim that old cannot be late."""
    assert fair_shares(1, ["a", "b"], int(NOW // TURN_SECONDS)) == {"a": 1, "b": 0}
    recent, b_seen = RecentShares(), QueueClaim("b", 0, 0)
    view = shared_view(members(2, 1), NOW, QueueClaim("a", 1, 0), [b_seen], recent)
    assert Progressive().decide(NOW, view) == 0
    a_now = QueueClaim("a", 0, 0)
    assert Progressive().decide(NOW + 1, shared_view(members(1), NOW + 1, a_now, [b_seen])) == 1
    view = shared_view(members(1), NOW + 1, a_now, [b_seen], recent)
    assert Progressive().decide(NOW + 1, view) == 0  # b's call may be on its way to that one
    later = NOW + 1 + STALE_FOR + 0.1
    assert Progressive().decide(later, shared_view(members(1), later, a_now, [b_seen], recent)) == 1


async def test_claims_of_stopped_or_silent_runners_are_ignored(db):
    started = datetime.now(UTC)
    async with db.acquire() as conn:
        for runner in ("h:1:1.1", "h:2:1.1", "h:3:1.1", "h:4:1.1"):
            await register_runner(conn, runner, "h", 1, started, None)
        await publish_claim(conn, "collectors", QueueClaim("h:2:1.1", 2, 1, True))
        await publish_claim(conn, "collectors", QueueClaim("h:3:1.1", 1, 0, False))
        await publish_claim(conn, "collectors", QueueClaim("h:4:1.1", 5, 0, True))
        await publish_claim(conn, "other-queue", QueueClaim("h:1:1.1", 9, 9, True))
        await publish_claim(conn, "collectors", QueueClaim("h:2:1.1", 3, 0, True))  # rewritten
        seen = await peer_claims(conn, "collectors", "h:1:1.1", ttl=30.0)
        assert sorted(seen, key=lambda c: c.runner) == [
            QueueClaim("h:2:1.1", 3, 0, True),
            QueueClaim("h:3:1.1", 1, 0, False),
            QueueClaim("h:4:1.1", 5, 0, True),
        ]
        assert await peer_claims(conn, "collectors", "h:2:1.1", 30.0) != []  # not its own
        await mark_stopped(conn, "h:3:1.1")
        await conn.execute(
            "UPDATE runners SET heartbeat_at = now() - interval '60 s' WHERE id = 'h:4:1.1'"
        )
        seen = await peer_claims(conn, "collectors", "h:1:1.1", ttl=30.0)
        assert [c.runner for c in seen] == ["h:2:1.1"]
        await heartbeat(conn, "h:4:1.1")  # beating again, but its claim is 0 s old: counts
        assert {c.runner for c in await peer_claims(conn, "collectors", "h:1:1.1", 30.0)} == {
            "h:2:1.1",
            "h:4:1.1",
        }


async def test_every_runner_on_one_driver_gets_every_event():
    out = EventOutbox()
    early = AgentEvent(AgentState("1001", "collectors", "idle"))
    out.put(early)  # before any reader: kept for the first
    first, second = out.stream(), out.stream()
    late = OriginateFailed("call-1", "refused")
    out.put(late)
    out.end()

    async def read(stream):
        return [e async for e in stream]

    assert await asyncio.wait_for(read(first), 5) == [early, late]
    assert await asyncio.wait_for(read(second), 5) == [late]
    assert await asyncio.wait_for(read(out.stream()), 5) == []  # opened after the end


def test_a_queue_is_shared_per_pbx_and_a_loopback_pbx_is_this_hosts_own():
    assert shared_queue_key("collectors", "pbx1.example:5038") == "collectors@pbx1.example:5038"
    assert shared_queue_key("collectors", "10.0.0.7:8021", host="n1") == "collectors@10.0.0.7:8021"
    assert shared_queue_key("collectors", "127.0.0.1:5038", host="n1") == (
        "collectors@n1/127.0.0.1:5038"
    )
    assert shared_queue_key("c", "localhost:8021", host="n2") == "c@n2/localhost:8021"
    assert shared_queue_key("c", "::1:8021", host="n2") == "c@n2/::1:8021"


async def test_a_stream_dropped_unread_stops_receiving_events():
    out = EventOutbox()
    kept = out.stream()
    dropped = out.stream()
    del dropped
    gc.collect()
    out.put(OriginateFailed("call-1", "refused"))
    out.end()
    assert [e async for e in kept] == [OriginateFailed("call-1", "refused")]
    assert out._readers == []  # the read one left when it ended, the dropped one at once
