"""Attempt writes in bulk: a launch batch in one INSERT, a tick's closes in a few statements.

Each function takes many rows and costs a constant number of round trips, whatever the batch
size (``unnest`` over one array per column). The single-row functions of
``dialer_core.store.attempts`` go through these, so there is one implementation of each rule.

A large round of results (``write_round``) is written on two connections at once, each
transaction taking the attempts of half of the cases (``case_id % 2``): the two never touch
the same attempt, schedule or phone row, so they cannot wait on each other, and the closes of
one case stay in order in one transaction.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:  # dialer_core.store.attempts delegates its single-row writes to this module
    from dialer_core.store.attempts import AttemptResult, Contact

__all__ = [
    "PROGRESS_STATES",
    "SPLIT_AT",
    "create_attempts",
    "finish_attempts",
    "mark_states",
    "open_attempts",
    "record_abandons",
    "write_round",
]

PROGRESS_STATES = ("ringing", "answered")
SPLIT_AT = 200  # writes in a round from which ``write_round`` uses two connections at once

Part = tuple[int, int]  # (k, n): only the attempts whose case_id % n == k
WHOLE: Part = (0, 1)


def _only(part: Part, alias: str = "") -> str:
    """The SQL condition that keeps a statement to its part of the cases ("" for all)."""
    k, n = part
    if not (type(k) is int and type(n) is int and 0 <= k < n):
        raise ValueError(f"attempt writes: bad part {part!r} (want 0 <= k < n)")
    return "" if n == 1 else f" AND {alias}case_id % {n} = {k}"


async def create_attempts(
    conn: asyncpg.Connection,
    campaign_id: int,
    batch: Sequence[tuple[Contact, str]],
    runner: str,
    now: datetime,
    call_ids: Sequence[str] | None = None,
) -> list[str | None]:
    """Write a batch of attempt rows (state dialing) BEFORE their Originates, in one INSERT.

    ``batch`` holds each leased contact with the caller ID chosen for it; ``call_ids`` (fresh
    UUIDs by default) lets the caller know the ids even when the INSERT's answer is lost.
    Returns the call id of each row, in order, or None where the case or the number already
    has an open attempt (another runner, campaign or case rings it): the partial unique
    indexes refuse a double dial (the number is filled in by a trigger from the phone).
    """
    if not batch:
        return []
    ids = list(call_ids) if call_ids is not None else [str(uuid.uuid4()) for _ in batch]
    rows = await conn.fetch(
        """INSERT INTO attempts (call_id, campaign_id, case_id, phone_id, attempt_no,
                                 caller_id, runner, created_at)
           SELECT u.call_id, $2, u.case_id, u.phone_id, u.attempt_no, u.caller_id, $3, $4
           FROM unnest($1::uuid[], $5::bigint[], $6::bigint[], $7::int[], $8::text[])
                AS u(call_id, case_id, phone_id, attempt_no, caller_id)
           ON CONFLICT DO NOTHING
           RETURNING call_id::text""",
        ids,
        campaign_id,
        runner,
        now,
        [c.case_id for c, _ in batch],
        [c.phone_id for c, _ in batch],
        [c.attempt_no for c, _ in batch],
        [caller_id for _, caller_id in batch],
    )
    written = {r["call_id"] for r in rows}
    return [call_id if call_id in written else None for call_id in ids]


async def open_attempts(conn: asyncpg.Connection, call_ids: Sequence[str]) -> set[str]:
    """Which of these call ids have an attempt row that is not closed yet."""
    rows = await conn.fetch(
        "SELECT call_id::text FROM attempts WHERE call_id = ANY($1::uuid[]) AND state <> 'done'",
        list(call_ids),
    )
    return {r["call_id"] for r in rows}


async def mark_states(
    conn: asyncpg.Connection,
    progress: Sequence[tuple[str, str, datetime]],
    part: Part = WHOLE,
) -> None:
    """Record progress (call id, "ringing" | "answered", when) of open attempts in one UPDATE.

    Never reopens a done attempt; a later state never goes back to an earlier one, and each
    first time (ringing_at, answered_at) is kept. ``part`` keeps it to some cases.
    """
    if not progress:
        return
    unknown = {p[1] for p in progress} - set(PROGRESS_STATES)
    if unknown:
        raise ValueError(f"attempt progress: unknown state(s) {sorted(unknown)}")
    await conn.execute(
        """UPDATE attempts a SET
                  state = CASE WHEN a.state = 'answered' THEN 'answered' ELSE u.state END,
                  ringing_at = CASE WHEN u.state = 'ringing'
                                    THEN coalesce(a.ringing_at, u.at) ELSE a.ringing_at END,
                  answered_at = CASE WHEN u.state = 'answered'
                                     THEN coalesce(a.answered_at, u.at) ELSE a.answered_at END
           FROM (SELECT DISTINCT ON (call_id) call_id, state, at
                 FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS x(call_id, state, at)
                 ORDER BY call_id, (state = 'answered') DESC) AS u
           WHERE a.call_id = u.call_id AND a.state <> 'done'"""
        + _only(part, "a."),
        [p[0] for p in progress],
        [p[1] for p in progress],
        [p[2] for p in progress],
    )


async def record_abandons(
    conn: asyncpg.Connection, call_ids: Sequence[str], part: Part = WHOLE
) -> None:
    """Answered calls that found no agent within the limit, in one UPDATE."""
    if call_ids:
        await conn.execute(
            "UPDATE attempts SET abandoned = true WHERE call_id = ANY($1::uuid[])" + _only(part),
            list(call_ids),
        )


async def finish_attempts(conn: asyncpg.Connection, results: Sequence[AttemptResult]) -> list[bool]:
    """Close attempts and reschedule (or finish) their cases, atomically and exactly once.

    One transaction for the whole batch. Returns, per result, False when the attempt was
    already closed (a duplicate hangup, a reconciliation racing a late event, or the same call
    twice in the batch): the first writer wins and nothing is written twice.
    """
    if not results:
        return []
    async with conn.transaction():
        return await _finish(conn, _Closes.of(results), WHOLE)


async def write_round(
    pool: asyncpg.Pool,
    progress: Sequence[tuple[str, str, datetime]],
    abandons: Sequence[str],
    closes: Sequence[AttemptResult],
    *,
    ways: int = 2,
    split_at: int = SPLIT_AT,
) -> list[bool]:
    """Write a round of progress, abandons and closes (``finish_attempts``'s answer per close).

    From ``split_at`` writes on, the round is split by case over ``ways`` connections of the
    pool, one transaction each, all at once (the server works on both halves side by side);
    a smaller round is one transaction. Raises the first database error: the parts that did
    commit stay written, and writing the whole round again changes nothing for them (a close
    is written once, progress never goes back, an abandon flag is set or not).
    """
    n = ways if len(progress) + len(abandons) + len(closes) >= split_at else 1
    rows = _Closes.of(closes)

    async def one(part: Part) -> list[bool]:
        async with pool.acquire() as conn, conn.transaction():
            await mark_states(conn, progress, part)
            await record_abandons(conn, abandons, part)
            return await _finish(conn, rows, part) if closes else []

    parts = await asyncio.gather(*(one((k, n)) for k in range(n)), return_exceptions=True)
    for done in parts:
        if isinstance(done, BaseException):
            raise done
    return [any(closed) for closed in zip(*parts, strict=True)]  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Closes:
    """A batch of results made ready once for the UPDATE (several parts share it)."""

    results: Sequence[AttemptResult]
    first: dict[str, AttemptResult]  # the first result of each call id
    order: dict[str, int]  # call id -> its place among the first results
    columns: tuple[list, ...]  # the UPDATE's arrays, one per column

    @classmethod
    def of(cls, results: Sequence[AttemptResult]) -> _Closes:
        first: dict[str, AttemptResult] = {}
        for r in results:
            first.setdefault(r.call_id, r)
        todo = list(first.values())
        columns = (
            [r.call_id for r in todo],
            [r.ended_at for r in todo],
            [r.disposition for r in todo],
            [r.pbx_result for r in todo],
            [r.q850_cause for r in todo],
            [r.cause_text for r in todo],
            [r.talk_seconds for r in todo],
            [r.next_attempt_at for r in todo],
            [r.detail or {} for r in todo],
            [r.agent for r in todo],
            [r.abandoned for r in todo],
        )
        return cls(results, first, {r.call_id: i for i, r in enumerate(todo)}, columns)


async def _finish(conn: asyncpg.Connection, closes: _Closes, part: Part) -> list[bool]:
    """``finish_attempts`` inside the caller's transaction, for the attempts of ``part``."""
    rows = await conn.fetch(
        """UPDATE attempts a SET state = 'done', ended_at = u.ended_at,
                  disposition = u.disposition, pbx_result = u.pbx_result,
                  q850_cause = u.q850_cause, cause_text = u.cause_text,
                  talk_seconds = u.talk_seconds, next_attempt_at = u.next_at,
                  detail = a.detail || u.detail,
                  agent = coalesce(nullif(u.agent, ''), a.agent),
                  abandoned = a.abandoned OR u.abandoned
           FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::int[],
                       $6::text[], $7::float8[], $8::timestamptz[], $9::jsonb[],
                       $10::text[], $11::bool[])
                AS u(call_id, ended_at, disposition, pbx_result, q850_cause, cause_text,
                     talk_seconds, next_at, detail, agent, abandoned)
           WHERE a.call_id = u.call_id AND a.state <> 'done'"""
        + _only(part, "a.")
        + " RETURNING a.call_id::text, a.case_id, a.phone_id",
        *closes.columns,
    )
    first, order = closes.first, closes.order
    closed = {row["call_id"]: (row["case_id"], row["phone_id"]) for row in rows}
    done = [(first[cid], case_id, phone_id) for cid, (case_id, phone_id) in closed.items()]
    # A case appears at most once per round, so each round's lookups see the last one's
    # writes (two closes of one case in a batch are rare, but must stay in order).
    for group in _rounds(sorted(done, key=lambda d: order[d[0].call_id])):
        await _reschedule(conn, group)
    seen: set[str] = set()
    out = []
    for r in closes.results:
        out.append(r.call_id in closed and r.call_id not in seen)
        seen.add(r.call_id)
    return out


_Closed = tuple["AttemptResult", int, int]  # the result, its case id, its phone id


def _rounds(done: list[_Closed]) -> list[list[_Closed]]:
    """Split closes into consecutive groups in which each case appears once."""
    rounds: list[list[_Closed]] = [[]]
    cases: set[int] = set()
    for item in done:
        if item[1] in cases:
            rounds.append([])
            cases = set()
        rounds[-1].append(item)
        cases.add(item[1])
    return rounds


async def _reschedule(conn: asyncpg.Connection, done: list[_Closed]) -> None:
    """Stop dead phones, then move each case on: next phone, redial time, or out of the dialer."""
    if not done:
        return
    stops = [(phone_id, r.reason or r.disposition) for r, _, phone_id in done if r.stop_phone]
    if stops:
        await conn.execute(
            """UPDATE phones p SET status = 'stopped', stop_reason = u.reason
               FROM unnest($1::bigint[], $2::text[]) AS u(id, reason) WHERE p.id = u.id""",
            [s[0] for s in stops],
            [s[1] for s in stops],
        )
    wants_other = [
        (case_id, phone_id)
        for r, case_id, phone_id in done
        if r.stop_phone or r.advance_phone or r.next_attempt_at is None
    ]
    other: dict[int, int] = {}
    if wants_other:
        # Each case's next active phone after the current one (wrapping around), if any.
        rows = await conn.fetch(
            """SELECT DISTINCT ON (cur.id) cur.id AS cur, p.id AS next
               FROM unnest($1::bigint[], $2::bigint[]) AS x(case_id, phone_id)
               JOIN phones cur ON cur.id = x.phone_id
               JOIN phones p ON p.case_id = x.case_id AND p.status = 'active' AND p.id <> cur.id
               ORDER BY cur.id, (p.position > cur.position) DESC, p.position""",
            [w[0] for w in wants_other],
            [w[1] for w in wants_other],
        )
        other = {row["cur"]: row["next"] for row in rows}
    drop: list[int] = []
    moves: list[tuple[int, datetime | None, int]] = []
    for r, case_id, phone_id in done:
        nxt = other.get(phone_id)
        if r.close_case or (nxt is None and (r.stop_phone or r.next_attempt_at is None)):
            drop.append(case_id)
        elif nxt is not None:
            moves.append((case_id, r.ended_at, nxt))
        else:
            moves.append((case_id, r.next_attempt_at, phone_id))
    if drop:
        await conn.execute("DELETE FROM schedule WHERE case_id = ANY($1::bigint[])", drop)
    if moves:
        await conn.execute(
            """UPDATE schedule s SET next_attempt_at = u.at, phone_id = u.phone,
                      attempts = s.attempts + 1, leased_by = NULL, lease_until = NULL
               FROM unnest($1::bigint[], $2::timestamptz[], $3::bigint[]) AS u(case_id, at, phone)
               WHERE s.case_id = u.case_id""",
            [m[0] for m in moves],
            [m[1] for m in moves],
            [m[2] for m in moves],
        )
