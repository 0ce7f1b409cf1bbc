"""Case import: upsert parsed CSV rows by external id, in bulk, idempotently."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from dialer_core.cases_csv import CaseRow
from dialer_core.config_errors import RowError


@dataclass(frozen=True)
class ImportSummary:
    imported: int
    updated: int
    unchanged: int
    rejected: int

    def __str__(self) -> str:
        return (
            f"imported {self.imported}, updated {self.updated}, "
            f"unchanged {self.unchanged}, rejected {self.rejected}"
        )


async def import_cases(
    conn: asyncpg.Connection,
    campaign_id: int,
    rows: tuple[CaseRow, ...],
    errors: tuple[RowError, ...],
    source: str,
) -> ImportSummary:
    """Upsert cases and phones; schedule new cases; record the import run. One transaction."""
    async with conn.transaction():
        changed = await conn.fetch(
            """INSERT INTO cases (campaign_id, external_id, debtor_name, amount_minor, currency,
                                  days_past_due, product, due_date)
               SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[],
                                        $6::int[], $7::text[], $8::date[])
               ON CONFLICT (campaign_id, external_id) DO UPDATE SET
                   debtor_name = excluded.debtor_name, amount_minor = excluded.amount_minor,
                   currency = excluded.currency, days_past_due = excluded.days_past_due,
                   product = excluded.product, due_date = excluded.due_date, updated_at = now()
               WHERE (cases.debtor_name, cases.amount_minor, cases.currency, cases.days_past_due,
                      cases.product, cases.due_date)
                     IS DISTINCT FROM
                     (excluded.debtor_name, excluded.amount_minor, excluded.currency,
                      excluded.days_past_due, excluded.product, excluded.due_date)
               RETURNING id, external_id, (xmax = 0) AS inserted""",
            campaign_id,
            [r.external_id for r in rows],
            [r.debtor_name for r in rows],
            [r.amount_minor for r in rows],
            [r.currency for r in rows],
            [r.days_past_due for r in rows],
            [r.product for r in rows],
            [r.due_date for r in rows],
        )
        ids = {
            r["external_id"]: r["id"]
            for r in await conn.fetch(
                "SELECT id, external_id FROM cases WHERE campaign_id = $1 "
                "AND external_id = ANY($2::text[])",
                campaign_id,
                [r.external_id for r in rows],
            )
        }
        phone_cols: list[list] = [[], [], [], [], [], []]
        for r in rows:
            for pos, p in enumerate(r.phones):
                for col, val in zip(
                    phone_cols,
                    (
                        ids[r.external_id],
                        pos,
                        p.e164,
                        p.country,
                        p.province,
                        p.city,
                    ),
                    strict=True,
                ):
                    col.append(val)
        phones_changed = await conn.fetch(
            """INSERT INTO phones (case_id, position, e164, country, province, city)
               SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[],
                                    $6::text[])
               ON CONFLICT (case_id, e164) DO UPDATE SET position = excluded.position
               WHERE phones.position IS DISTINCT FROM excluded.position
               RETURNING case_id""",
            *phone_cols,
        )
        await conn.execute(
            """INSERT INTO schedule (case_id, campaign_id, phone_id)
               SELECT DISTINCT ON (p.case_id) p.case_id, $1, p.id
               FROM phones p WHERE p.case_id = ANY($2::bigint[]) AND p.status = 'active'
               ORDER BY p.case_id, p.position
               ON CONFLICT (case_id) DO NOTHING""",
            campaign_id,
            list(ids.values()),
        )
        inserted = sum(1 for r in changed if r["inserted"])
        touched = {r["id"] for r in changed if not r["inserted"]}
        touched |= {r["case_id"] for r in phones_changed} - {r["id"] for r in changed}
        summary = ImportSummary(
            inserted, len(touched), len(rows) - inserted - len(touched), len(errors)
        )
        await conn.execute(
            """INSERT INTO imports (campaign_id, source, imported, updated, unchanged, rejected,
                                    errors) VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            campaign_id,
            source,
            summary.imported,
            summary.updated,
            summary.unchanged,
            summary.rejected,
            [{"line": e.line, "column": e.column, "reason": e.reason} for e in errors],
        )
    return summary
