"""Streaming import: chunks, duplicates across chunks, unchanged rows skipped, --strict.

Files are imported in tiny chunks (3 rows) so that every cross-chunk path runs on a few rows.
"""

from __future__ import annotations

import asyncio
import io

import asyncpg
import phonenumbers
import pytest

from dialer_core.cases_csv import CsvFileError, parse_phone
from dialer_core.compliance.region import ZoneUnknown, region_of
from dialer_core.importer import import_case_file
from dialer_core.phone_regions import PhoneRegions
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.case_import import CaseWriter

HEADER = "external_id,debtor_name,amount,days_past_due,phone1,phone2,product\n"


def rows(n: int, start: int = 0) -> str:
    return "".join(
        f"C{i},张三{i},{100 + i}.50,{i % 90},138{i:08d},,card\n" for i in range(start, start + n)
    )


async def run_import(pool, text: str, campaign: str = "spring", **kw):
    async with pool.acquire() as conn:
        cid = await ensure_campaign(conn, campaign)
    errors, progress = [], []
    result = await import_case_file(
        pool,
        cid,
        io.BytesIO(text.encode()),
        source="test.csv",
        on_error=errors.append,
        on_progress=progress.append,
        chunk_rows=3,
        **kw,
    )
    return cid, result, errors, progress


async def test_streamed_import_lands_every_valid_row_and_reports_progress(db):
    cid, result, errors, progress = await run_import(db, HEADER + rows(10))
    assert (result.summary.imported, result.summary.rejected, errors) == (10, 0, [])
    assert len(progress) == 4 and progress[-1].rows_done == 10
    assert progress[-1].bytes_done == len((HEADER + rows(10)).encode())
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM cases WHERE campaign_id=$1", cid) == 10
        assert await conn.fetchval("SELECT count(*) FROM phones") == 10
        assert await conn.fetchval("SELECT count(*) FROM schedule") == 10
        assert await conn.fetchval("SELECT count(*) FROM cases WHERE source_digest IS NULL") == 0


async def test_duplicate_ids_are_caught_across_chunks_first_line_wins(db):
    text = HEADER + rows(5) + "C1,李四,1,1,13900000001,,x\n" + rows(1, start=3)
    _, result, errors, _ = await run_import(db, text)
    assert result.summary.imported == 5 and result.summary.rejected == 2
    assert [(e.line, e.column) for e in errors] == [(7, "external_id"), (8, "external_id")]
    assert "duplicate external id 'C1' (first on line 3)" in errors[0].reason
    assert "(first on line 5)" in errors[1].reason


async def test_cases_sharing_a_number_across_chunks_written_at_once_are_one_debtor(db, monkeypatch):
    # Chunks of 3 rows, two written at once: cases i, i+4, i+8 share a number, so every chunk
    # shares numbers with the chunk being written beside it. Each chunk's transaction stays
    # open a moment after its phones are added: the next chunk must wait for it to end.
    write = CaseWriter.write

    async def slow_to_commit(self, rows, **kw):
        written = await write(self, rows, **kw)
        await asyncio.sleep(0.1)
        return written

    monkeypatch.setattr(CaseWriter, "write", slow_to_commit)
    text = HEADER + "".join(
        f"C{i},张三{i},10,1,138{i:08d},139{i % 4:08d},card\n" for i in range(12)
    )
    cid, result, errors, _ = await run_import(db, text)
    assert (result.summary.imported, errors) == (12, [])
    async with db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT external_id, debtor_key FROM cases WHERE campaign_id=$1", cid
        )
    key = {r["external_id"]: r["debtor_key"] for r in rows}
    groups = [{key[f"C{i}"] for i in range(r, 12, 4)} for r in range(4)]
    assert all(len(g) == 1 for g in groups)
    assert len(set().union(*groups)) == 4


async def test_a_chunk_chosen_as_a_deadlock_victim_is_written_again(db, monkeypatch):
    write, failed = CaseWriter.write, []

    async def deadlocks_once(self, rows, **kw):
        if rows and rows[0][1] == "C3" and not failed:  # the second chunk, the first time
            failed.append(True)
            raise asyncpg.DeadlockDetectedError("deadlock detected")
        return await write(self, rows, **kw)

    monkeypatch.setattr(CaseWriter, "write", deadlocks_once)
    cid, result, errors, _ = await run_import(db, HEADER + rows(9))
    assert failed and (result.summary.imported, errors) == (9, [])
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM schedule") == 9


async def test_reimport_of_an_unchanged_file_skips_every_row(db):
    text = HEADER + rows(7)
    cid, _, _, _ = await run_import(db, text)
    async with db.acquire() as conn:
        before = await conn.fetch("SELECT id, updated_at FROM cases ORDER BY id")
    _, result, errors, _ = await run_import(db, text)
    assert (result.summary.unchanged, result.summary.imported, result.summary.updated) == (7, 0, 0)
    assert errors == []
    async with db.acquire() as conn:
        assert await conn.fetch("SELECT id, updated_at FROM cases ORDER BY id") == before


async def test_changed_row_is_updated_and_same_values_in_new_text_stay_unchanged(db):
    await run_import(db, HEADER + rows(4))
    changed = HEADER + rows(4).replace("张三1,", "张三一,").replace("102.50", "102.5")
    _, result, _, _ = await run_import(db, changed)
    assert (result.summary.updated, result.summary.unchanged) == (1, 3)
    _, again, _, _ = await run_import(db, changed)  # the new text is remembered
    assert again.summary.unchanged == 4


async def test_strict_import_keeps_nothing_when_a_row_is_rejected(db):
    text = HEADER + rows(5) + "C9,张三,10,1,12345,,card\n"
    cid, result, errors, _ = await run_import(db, text, strict=True)
    assert result.committed is False and result.summary.rejected == 1
    assert errors[0].line == 7 and errors[0].column == "phone1"
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM cases") == 0
        logged = await conn.fetchrow("SELECT committed, strict, rejected FROM imports")
    assert tuple(logged) == (False, True, 1)


async def test_non_strict_import_keeps_valid_rows_and_logs_the_rejected(db):
    text = HEADER + rows(2) + "C9,张三,10,1,12345,,card\n"
    _, result, _, _ = await run_import(db, text)
    assert result.committed and (result.summary.imported, result.summary.rejected) == (2, 1)
    async with db.acquire() as conn:
        logged = await conn.fetchrow("SELECT errors, encoding, committed FROM imports")
    assert logged["errors"][0]["line"] == 4 and logged["encoding"] == "utf-8"


async def test_a_file_without_the_required_columns_writes_nothing(db):
    with pytest.raises(CsvFileError, match="missing column"):
        await run_import(db, "external_id,name\nC1,x\n")
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM imports") == 0


NUMBERS = [
    "13800138000",
    "+8618602012345",
    "+442079460000",
    "+12125550100",
    "+5491123456789",
    "+81312345678",
    "+4930123456",
    "01012345678",
    "+8675588880001",
]


def test_shared_region_lookup_answers_as_region_of_for_every_number():
    memo = PhoneRegions()
    # Each number, then a sibling with other last digits (same block: the memo answers it).
    for number in NUMBERS + [n[:-3] + "987" for n in NUMBERS]:
        try:
            row = parse_phone(number, "CN", memo)
        except ValueError:
            continue  # an invalid sibling: nothing to compare
        region = region_of(row.e164)
        expected = (
            ("", "")
            if isinstance(region, ZoneUnknown)
            else (region.province or "", region.city or "")
        )
        assert (row.province, row.city) == expected, number
        assert row.e164 == phonenumbers.format_number(
            phonenumbers.parse(number, "CN"), phonenumbers.PhoneNumberFormat.E164
        )


def test_fast_region_lookup_matches_region_of_on_many_numbers():
    import random

    rng = random.Random(4)
    memo = PhoneRegions()
    blocks = [
        "13",
        "15",
        "17",
        "18",
        "19",
        "010",
        "020",
        "0755",
        "021",
        "0571",
        "+1212",
        "+1415",
        "+4420",
        "+331",
        "+8190",
        "+6221",
        "+5511",
        "+52155",
        "+7495",
    ]
    checked = 0
    for _ in range(1500):
        number = rng.choice(blocks) + "".join(rng.choice("0123456789") for _ in range(9))
        try:
            row = parse_phone(number[:15], "CN", memo)
        except ValueError:
            continue
        region = region_of(row.e164)
        expected = (
            ("", "")
            if isinstance(region, ZoneUnknown)
            else (region.province or "", region.city or "")
        )
        assert (row.province, row.city) == expected, number
        checked += 1
    assert checked > 150


def test_direct_region_lookup_answers_as_phonenumbers_own_for_every_calling_code():
    import random

    from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

    from dialer_core.phone_regions import _place_of

    rng = random.Random(7)
    memo = PhoneRegions()
    codes = sorted(COUNTRY_CODE_TO_REGION_CODE)
    checked = 0
    for _ in range(20_000):
        text = f"+{rng.choice(codes)}" + "".join(rng.choices("0123456789", k=rng.randint(6, 11)))
        try:
            number = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            continue
        ntype = phonenumbers.number_type(number)
        if ntype == phonenumbers.PhoneNumberType.UNKNOWN:
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        country = phonenumbers.region_code_for_number(number) or ""
        assert memo.place(number, ntype, country, e164) == _place_of(
            number, ntype, country, e164
        ), e164
        checked += 1
    assert checked > 1000


async def test_large_file_path_validates_in_worker_processes_with_the_same_result(db, monkeypatch):
    monkeypatch.setattr("dialer_core.importer.PARALLEL_FROM_BYTES", 0)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    text = HEADER + rows(8) + "C3,李四,1,1,13900000001,,x\nC9,张三,10,1,12345,,card\n"
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, "spring")
    errors = []
    data = text.encode()
    result = await import_case_file(
        db,
        cid,
        io.BytesIO(data),
        source="t",
        chunk_rows=3,
        bytes_total=len(data),
        on_error=errors.append,
    )
    assert (result.summary.imported, result.summary.rejected) == (8, 2)
    assert [(e.line, e.column) for e in errors] == [(10, "external_id"), (11, "phone1")]


async def test_text_with_tabs_line_ends_backslashes_and_quotes_is_stored_as_written(db):
    # Rows reach PostgreSQL as COPY text lines: every special character must arrive intact.
    text = (
        "external_id,debtor_name,amount,days_past_due,phone1,product,debtor_id,due_date,tz\n"
        'C\\1,"张\t三\r\n""四""\\N",10.5,3,13800138000,\\N,id\\x,2024-02-29,Asia/Shanghai\n'
        "C2,李四,1,1,13900000001,,,,\n"
    )
    cid, result, errors, _ = await run_import(db, text, campaign="odd-text")
    assert (result.summary.imported, errors) == (2, [])
    async with db.acquire() as conn:
        got = await conn.fetch(
            """SELECT external_id, debtor_name, product, debtor_id, due_date::text AS due,
                      address_zones, amount_minor, days_past_due
               FROM cases WHERE campaign_id = $1 ORDER BY external_id""",
            cid,
        )
    assert [tuple(r) for r in got] == [
        ("C2", "李四", "", None, None, [], 100, 1),
        ("C\\1", '张\t三\r\n"四"\\N', "\\N", "id\\x", "2024-02-29", ["Asia/Shanghai"], 1050, 3),
    ]


INTEGRITY = """
SELECT (SELECT count(*) FROM phones p LEFT JOIN cases c ON c.id = p.case_id WHERE c.id IS NULL),
       (SELECT count(*) FROM schedule s LEFT JOIN phones p ON p.id = s.phone_id
        WHERE p.id IS NULL OR p.case_id <> s.case_id),
       (SELECT count(*) FROM cases c LEFT JOIN campaigns k ON k.id = c.campaign_id
        WHERE k.id IS NULL)"""


@pytest.mark.parametrize("unchecked", [True, False])
async def test_chunks_written_without_per_row_key_checks_land_as_with_them(
    db, monkeypatch, unchecked
):
    # A superuser's session skips PostgreSQL's per-row foreign-key checks (sql/241); a
    # foreign key the writer does not know keeps the ordinary checks. Same rows either way,
    # and the triggers (debtor keys, merges over a shared number) run in both.
    import dialer_core.store.case_import as case_import

    if not unchecked:
        monkeypatch.setattr(case_import, "_CHECKED_FOREIGN_KEYS", set())
    modes = []
    write = CaseWriter.write

    async def noting_mode(self, rows, **kw):
        modes.append(self.unchecked)
        written = await write(self, rows, **kw)
        role = await self.conn.fetchval("SELECT current_setting('session_replication_role')")
        assert role == "origin"  # replica mode never outlives the statements it stands for
        return written

    monkeypatch.setattr(CaseWriter, "write", noting_mode)
    name = f"keys-{unchecked}"
    shared = "C90,王五,5,5,13800000003,,card\n"  # shares C3's number: one debtor
    cid, result, errors, _ = await run_import(db, HEADER + rows(8) + shared, campaign=name)
    assert (result.summary.imported, errors) == (9, [])
    # again with one more phone on an existing case: its phones are added to a locked case
    again = HEADER + rows(8).replace("13800000001,,", "13800000001,13911112222,") + shared
    _, result, errors, _ = await run_import(db, again, campaign=name)
    assert (result.summary.updated, errors) == (1, [])
    assert set(modes) == {unchecked}
    async with db.acquire() as conn:
        assert tuple(await conn.fetchrow(INTEGRITY)) == (0, 0, 0)
        keys = await conn.fetch(
            "SELECT external_id, debtor_key, 'case:' || id AS own FROM cases "
            "WHERE campaign_id = $1 ORDER BY id",
            cid,
        )
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM phones p JOIN cases c ON c.id = p.case_id "
                "WHERE c.campaign_id = $1",
                cid,
            )
            == 10
        )  # nine cases, one number added on the second import
    by_id = {r["external_id"]: r for r in keys}
    assert by_id["C3"]["debtor_key"] == by_id["C90"]["debtor_key"]
    assert all(r["debtor_key"] == r["own"] for r in keys if r["external_id"] not in {"C3", "C90"})


async def test_per_row_key_checks_stay_for_a_role_that_is_not_a_superuser_or_a_vanished_case(db):
    import dialer_core.store.case_import as case_import

    _, result, _, _ = await run_import(db, HEADER + rows(2), campaign="vanish")
    assert result.summary.imported == 2
    async with db.acquire() as conn:
        existing = await conn.fetchval("SELECT min(id) FROM cases")
        assert await case_import._unchecked_allowed(conn)
        async with CaseWriter(conn, 0), conn.transaction():
            await conn.execute(
                "INSERT INTO import_case_ids VALUES ('a', $1, false, false)", existing
            )
            assert await conn.fetchval(case_import._LOCK_EXISTING)
            await conn.execute("INSERT INTO import_case_ids VALUES ('b', -1, false, false)")
            assert not await conn.fetchval(case_import._LOCK_EXISTING)  # gone: ordinary checks
        role = f"plain_{conn.get_server_pid()}"
        await conn.execute(f"CREATE ROLE {role}")
        try:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL ROLE {role}")
                assert not await case_import._unchecked_allowed(conn)
        finally:
            await conn.execute(f"DROP ROLE {role}")
