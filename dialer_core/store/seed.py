"""Rows written directly, for tests and benches that need a history the runner did not make:
a case with its phones (and optionally its schedule), finished attempts, with any columns.

Column names are checked against the tables' known columns, so a caller can never smuggle SQL
in through a keyword; every value goes in as a query parameter.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

CASE_COLUMNS = frozenset(
    {"debtor_name", "amount_minor", "currency", "days_past_due", "product", "due_date", "extra"}
)
PHONE_COLUMNS = frozenset({"country", "province", "city", "status"})
ATTEMPT_COLUMNS = frozenset(
    {
        "attempt_no", "caller_id", "runner", "state", "created_at", "ringing_at", "answered_at",
        "connected_at", "ended_at", "pbx_result", "q850_cause", "cause_text", "disposition",
        "talk_seconds", "agent", "abandoned", "next_attempt_at", "detail",
    }
)  # fmt: skip
CASE_DEFAULTS: dict[str, Any] = {
    "debtor_name": "debtor",
    "amount_minor": 100_000,
    "days_past_due": 0,
}
ATTEMPT_DEFAULTS: dict[str, Any] = {"attempt_no": 1, "runner": "seed", "state": "done"}


@dataclass(frozen=True)
class SeededCase:
    id: int
    phone_ids: tuple[int, ...]  # in the order the numbers were given (position 0 first)

    @property
    def phone_id(self) -> int:
        """The first phone's id."""
        return self.phone_ids[0]


def _checked(columns: Mapping[str, Any], known: frozenset[str], table: str) -> dict[str, Any]:
    unknown = sorted(set(columns) - known)
    if unknown:
        raise ValueError(f"{table}: unknown column(s) {unknown}")
    return dict(columns)


def _insert(table: str, columns: Sequence[str], returning: str = "") -> str:
    marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    tail = f" RETURNING {returning}" if returning else ""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}){tail}"


async def add_case(
    conn: asyncpg.Connection,
    campaign_id: int,
    external_id: str,
    phones: Sequence[str],
    *,
    phone: Mapping[str, Any] | None = None,
    schedule_at: datetime | None = None,
    **case: Any,
) -> SeededCase:
    """A case with ``phones`` (E.164, position 0 first), each with the ``phone`` columns;
    scheduled for its first phone at ``schedule_at`` when given."""
    values = {**CASE_DEFAULTS, **_checked(case, CASE_COLUMNS, "cases")}
    cols = ["campaign_id", "external_id", *values]
    case_id = await conn.fetchval(
        _insert("cases", cols, "id"), campaign_id, external_id, *values.values()
    )
    extra = _checked(phone or {}, PHONE_COLUMNS, "phones")
    phone_cols = ["case_id", "position", "e164", *extra]
    insert_phone = _insert("phones", phone_cols, "id")
    ids = [
        await conn.fetchval(insert_phone, case_id, pos, e164, *extra.values())
        for pos, e164 in enumerate(phones)
    ]
    if schedule_at is not None:
        await conn.execute(
            _insert("schedule", ["case_id", "campaign_id", "phone_id", "next_attempt_at"]),
            case_id,
            campaign_id,
            ids[0],
            schedule_at,
        )
    return SeededCase(case_id, tuple(ids))


async def add_attempts(
    conn: asyncpg.Connection,
    campaign_id: int,
    rows: Iterable[tuple[int, int, Mapping[str, Any]]],
) -> list[str]:
    """Attempts (default: finished, attempt 1) for (case id, phone id, columns) rows that share
    one set of column names; returns their call ids."""
    rows = list(rows)
    if not rows:
        return []
    names = list({**ATTEMPT_DEFAULTS, **_checked(rows[0][2], ATTEMPT_COLUMNS, "attempts")})
    call_ids = [str(uuid.uuid4()) for _ in rows]
    args = []
    for call_id, (case_id, phone_id, columns) in zip(call_ids, rows, strict=True):
        values = {**ATTEMPT_DEFAULTS, **_checked(columns, ATTEMPT_COLUMNS, "attempts")}
        if list(values) != names:
            raise ValueError(f"attempts: every row needs the columns {names}")
        args.append((call_id, campaign_id, case_id, phone_id, *values.values()))
    cols = ["call_id", "campaign_id", "case_id", "phone_id", *names]
    await conn.executemany(_insert("attempts", cols), args)
    return call_ids


async def add_attempt(
    conn: asyncpg.Connection, campaign_id: int, case_id: int, phone_id: int, **columns: Any
) -> str:
    """One attempt (default: finished, attempt 1); returns its call id."""
    return (await add_attempts(conn, campaign_id, [(case_id, phone_id, columns)]))[0]
