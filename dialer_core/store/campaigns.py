"""Campaign rows: the one lookup by name, creation, run state and the counts the API shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class StoredCampaign:
    """A campaign row: its id, mode, run state and the campaign document last stored."""

    id: int
    name: str
    mode: str
    state: str
    config: dict[str, Any]


@dataclass(frozen=True)
class CampaignListing:
    """One line of the campaign list."""

    name: str
    mode: str
    state: str
    created_at: datetime
    scheduled: int


@dataclass(frozen=True)
class CampaignCounts:
    """A campaign's run state and how many cases it holds, has scheduled and has due now."""

    state: str
    cases: int
    scheduled: int
    due: int


async def find_campaign(conn: asyncpg.Connection, name: str) -> StoredCampaign | None:
    """The campaign called ``name``, or None."""
    row = await conn.fetchrow(
        "SELECT id, name, mode, state, config FROM campaigns WHERE name = $1", name
    )
    if row is None:
        return None
    return StoredCampaign(
        row["id"], row["name"], row["mode"], row["state"], dict(row["config"] or {})
    )


async def campaign_id(conn: asyncpg.Connection, name: str) -> int | None:
    """The id of the campaign called ``name``, or None."""
    found = await find_campaign(conn, name)
    return found.id if found is not None else None


async def ensure_campaign(
    conn: asyncpg.Connection, name: str, mode: str = "progressive", config: dict | None = None
) -> int:
    """The campaign's id, creating it if needed (config is replaced when given)."""
    row = await conn.fetchrow(
        """INSERT INTO campaigns (name, mode, config) VALUES ($1, $2, $3)
           ON CONFLICT (name) DO UPDATE SET
               config = CASE WHEN $4 THEN excluded.config ELSE campaigns.config END,
               mode = CASE WHEN $4 THEN excluded.mode ELSE campaigns.mode END
           RETURNING id""",
        name,
        mode,
        config or {},
        config is not None,
    )
    return row["id"]


async def set_campaign_state(conn: asyncpg.Connection, campaign_id: int, state: str) -> None:
    """Record whether the campaign is running, paused or stopped."""
    await conn.execute("UPDATE campaigns SET state = $2 WHERE id = $1", campaign_id, state)


async def set_campaign_config(
    conn: asyncpg.Connection, campaign_id: int, config: dict[str, Any]
) -> None:
    """Replace the campaign's stored document (a live pacing change is kept for the next start)."""
    await conn.execute("UPDATE campaigns SET config = $2 WHERE id = $1", campaign_id, config)


async def campaign_state(conn: asyncpg.Connection, campaign_id: int) -> str | None:
    """The campaign's recorded run state, or None for an unknown id."""
    return await conn.fetchval("SELECT state FROM campaigns WHERE id = $1", campaign_id)


async def list_campaigns(conn: asyncpg.Connection) -> list[CampaignListing]:
    """Every campaign by name, with its number of scheduled cases."""
    rows = await conn.fetch(
        """SELECT c.name, c.mode, c.state, c.created_at,
                  (SELECT count(*) FROM schedule s WHERE s.campaign_id = c.id) AS scheduled
           FROM campaigns c ORDER BY c.name"""
    )
    return [
        CampaignListing(r["name"], r["mode"], r["state"], r["created_at"], r["scheduled"])
        for r in rows
    ]


async def campaign_counts(conn: asyncpg.Connection, campaign_id: int) -> CampaignCounts:
    """The campaign's state and case counts (``due``: scheduled for now or earlier)."""
    row = await conn.fetchrow(
        """SELECT c.state,
                  (SELECT count(*) FROM cases WHERE campaign_id = c.id) AS cases,
                  (SELECT count(*) FROM schedule WHERE campaign_id = c.id) AS scheduled,
                  (SELECT count(*) FROM schedule WHERE campaign_id = c.id
                      AND next_attempt_at <= now()) AS due
           FROM campaigns c WHERE c.id = $1""",
        campaign_id,
    )
    return CampaignCounts(row["state"], row["cases"], row["scheduled"], row["due"])
