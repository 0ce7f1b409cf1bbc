"""The SQL behind ``pacedial audit``: a campaign's stored config, attempts and DNC history.

Attempts are read with the same definitions the runner uses for its own decisions
(``dialer_core.store.attempts.rule_histories``): an open attempt counts as ``in_progress``,
``connected`` means answered, not abandoned and not a machine. Attempts the runner wrote but
never dialed (``not_dialed``: held by the last check before the Originate) are not calls and are
left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from dialer_core.compliance.audit import AuditRecord
from dialer_core.compliance.dnc import DncEntry
from dialer_core.compliance.model import PastAttempt
from dialer_core.store.attempts import NOT_DIALED, RULE_COLUMNS


@dataclass(frozen=True)
class CampaignAttempts:
    """A campaign's attempts as audit records, in launch order, and its case labels."""

    records: tuple[AuditRecord, ...]
    external_ids: dict[str, str]  # case id (as in PastAttempt.case_id) → the case's external id


@dataclass(frozen=True)
class TimedDncEntry:
    """A DNC entry and when it was created (it binds calls from that instant on)."""

    entry: DncEntry
    since: datetime


async def campaign_attempts(
    conn: asyncpg.Connection, campaign_id: int, until: datetime | None = None
) -> CampaignAttempts:
    """Every dialed attempt of the campaign launched before ``until`` (None: all), and, as
    unjudged history, other campaigns' attempts to its numbers and its debtors."""
    rows = await conn.fetch(
        f"""WITH mine AS (
               SELECT a.* FROM attempts a WHERE a.campaign_id = $1),
           keys AS (
               SELECT DISTINCT m.e164, c.debtor_key FROM mine m JOIN cases c ON c.id = m.case_id)
           SELECT a.case_id, a.campaign_id = $1 AS judged, c.external_id, a.created_at,
                  a.e164, a.caller_id, c.debtor_key, c.address_zones, {RULE_COLUMNS},
                  (d.status = 'MACHINE' AND d.truth = 'human') IS TRUE AS amd_false_positive,
                  a.ended_at, a.ringing_at,
                  EXISTS (SELECT 1 FROM recordings r WHERE r.call_id = a.call_id) AS recorded
           FROM attempts a
           JOIN cases c ON c.id = a.case_id
           LEFT JOIN amd_decisions d ON d.call_id = a.call_id
           WHERE (a.campaign_id = $1
                  OR a.e164 IN (SELECT e164 FROM keys)
                  OR c.debtor_key IN (SELECT debtor_key FROM keys))
             AND coalesce(a.disposition, '') <> $2
             AND ($3::timestamptz IS NULL OR a.created_at < $3)
           ORDER BY a.created_at, a.call_id""",
        campaign_id,
        NOT_DIALED,
        until,
    )
    records = []
    labels: dict[str, str] = {}
    for r in rows:
        case = str(r["case_id"])
        labels[case] = r["external_id"]
        attempt = PastAttempt(
            r["created_at"],
            r["e164"],
            case,
            r["disposition"],
            r["connected"],
            r["abandoned"],
            r["machine"],
            r["debtor_key"],
            r["ended_at"],
        )
        live = bool(r["connected"] or r["abandoned"])
        records.append(
            AuditRecord(
                attempt,
                r["caller_id"],
                live=live,
                extra_zones=tuple(r["address_zones"]),
                judged=r["judged"],
                amd_false_positive=r["amd_false_positive"],
                ended=r["ended_at"],
                ringing=r["ringing_at"],
                recorded=r["recorded"],
            )
        )
    return CampaignAttempts(tuple(records), labels)


async def dnc_history(conn: asyncpg.Connection, campaign: str) -> tuple[TimedDncEntry, ...]:
    """The DNC entries that apply to ``campaign`` (global and its own) with their creation."""
    rows = await conn.fetch(
        """SELECT pattern, source, reason, created_at FROM dnc_entries
           WHERE source IN ('global', $1) ORDER BY created_at, id""",
        campaign,
    )
    return tuple(
        TimedDncEntry(DncEntry(r["pattern"], r["source"], r["reason"]), r["created_at"])
        for r in rows
    )
