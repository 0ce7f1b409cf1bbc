"""CSV import: every bad-row kind is reported precisely; valid rows land; re-import is a no-op."""

from __future__ import annotations

import pytest

from dialer_core.cases_csv import CsvFileError, parse_cases_csv
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases

HEADER = "external_id,debtor_name,amount,days_past_due,phone1,phone2,product\n"
GOOD = (
    "C1,张三,3250.50,12,13800138000,18602012345,card\nC2,欧阳娜娜,100,45,+86 139 1234 5678,,loan\n"
)


def parse(text: str | bytes):
    return parse_cases_csv(text.encode() if isinstance(text, str) else text)


def test_valid_rows_are_normalised_to_e164_with_region():
    parsed = parse(HEADER + GOOD)
    assert parsed.errors == ()
    c1, c2 = parsed.rows
    assert c1.debtor_name == "张三" and c1.amount_minor == 325050 and c1.days_past_due == 12
    assert [p.e164 for p in c1.phones] == ["+8613800138000", "+8618602012345"]
    assert c1.phones[1].province == "Guangdong"
    assert c1.phones[1].city == "Guangzhou"
    assert c2.phones[0].e164 == "+8613912345678"


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("C9,张三,10,1,,,card", "phone1", "missing phone number"),
        ("C9,张三,10,1,12345,,card", "phone1", "invalid phone number"),
        ("C9,张三,10,1,abc-def,,card", "phone1", "unparseable phone number"),
        ("C9,张三,-10,1,13800138000,,card", "amount", "negative amount"),
        ("C9,张三,ten,1,13800138000,,card", "amount", "not a number"),
        ("C9,张三,1.234,1,13800138000,,card", "amount", "more than 2 decimals"),
        ("C9,张三,1e30,1,13800138000,,card", "amount", "amount too large"),
        ("C9,张三,99999999999999999999,1,13800138000,,card", "amount", "amount too large"),
        ("C9,张三,1e300000,1,13800138000,,card", "amount", "amount too large"),
        ("C9,张三,1e999999999,1,13800138000,,card", "amount", "not a number"),
        ("C9,张三,10,9999999999,13800138000,,card", "days_past_due", "whole number of days"),
        ("C9,张三,10,-1,13800138000,,card", "days_past_due", "whole number of days"),
        ("C9,,10,1,13800138000,,card", "debtor_name", "missing debtor name"),
        (",张三,10,1,13800138000,,card", "external_id", "missing external id"),
        ("C9,张三,10,1,13800138000,card", "*", "expected 7 fields, got 6"),
    ],
)
def test_each_bad_row_kind_is_reported_with_line_column_reason(row, column, reason):
    parsed = parse(HEADER + GOOD + row + "\n")
    assert [r.external_id for r in parsed.rows] == ["C1", "C2"]
    assert len(parsed.errors) == 1
    err = parsed.errors[0]
    assert (err.line, err.column) == (4, column)
    assert reason in err.reason


def test_bad_encoding_line_is_reported_and_the_rest_imported():
    data = (HEADER + GOOD).encode() + "C3,钱七,1,1,13800138001,,x\n".encode("gbk")
    parsed = parse(data)
    assert parsed.encoding == "utf-8"
    assert [r.external_id for r in parsed.rows] == ["C1", "C2"]
    assert parsed.errors[0].line == 4 and "bad utf-8 encoding" in parsed.errors[0].reason


def test_gbk_file_is_detected_and_decoded():
    parsed = parse((HEADER + GOOD).encode("gbk"))
    assert parsed.encoding == "gb18030"
    assert [r.debtor_name for r in parsed.rows] == ["张三", "欧阳娜娜"]


def test_duplicate_external_id_in_one_file_is_rejected():
    parsed = parse(HEADER + GOOD + "C1,张三,1,1,13800138002,,x\n")
    assert len(parsed.rows) == 2
    assert "duplicate external id 'C1'" in parsed.errors[0].reason


def test_missing_required_column_is_a_file_error():
    with pytest.raises(CsvFileError, match="missing column.*amount"):
        parse("external_id,debtor_name,days_past_due,phone\nC1,a,1,13800138000\n")


async def test_import_upserts_and_reimport_changes_nothing(db):
    parsed = parse(HEADER + GOOD + "C3,王五,x,1,13800138000,,card\n")
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, "spring")
        first = await import_cases(conn, cid, parsed.rows, parsed.errors, "cases.csv")
        assert (first.imported, first.updated, first.unchanged, first.rejected) == (2, 0, 0, 1)
        snapshot = await conn.fetch("SELECT * FROM cases ORDER BY id")
        phones = await conn.fetch("SELECT * FROM phones ORDER BY id")
        again = await import_cases(conn, cid, parsed.rows, parsed.errors, "cases.csv")
        assert (again.imported, again.updated, again.unchanged) == (0, 0, 2)
        assert await conn.fetch("SELECT * FROM cases ORDER BY id") == snapshot
        assert await conn.fetch("SELECT * FROM phones ORDER BY id") == phones
        assert await conn.fetchval("SELECT count(*) FROM schedule") == 2
        changed = parse(HEADER + GOOD.replace("3250.50", "3300"))
        third = await import_cases(conn, cid, changed.rows, changed.errors, "cases.csv")
        assert (third.imported, third.updated, third.unchanged) == (0, 1, 1)
        assert (
            await conn.fetchval("SELECT amount_minor FROM cases WHERE external_id = 'C1'") == 330000
        )
        errors = await conn.fetchval("SELECT errors FROM imports ORDER BY id LIMIT 1")
        assert errors[0]["line"] == 4 and errors[0]["column"] == "amount"
