"""DNC lists: exact numbers, prefix patterns, CSV import with per-row errors."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from dialer_core.compliance import DncEntry, DncError, DncList, normalize_number, parse_dnc_csv


def test_exact_and_prefix_matching():
    dnc = DncList.of("+8613800138000", "+86139*", "+1212555*")
    assert dnc.matches("+8613800138000")
    assert not dnc.matches("+8613800138001")
    assert dnc.matches("+8613912345678")
    assert not dnc.matches("+8613812345678")
    assert dnc.matches("+12125551234")
    assert not dnc.matches("+12125561234")
    assert dnc.matches("+86139")  # the prefix itself is covered


def test_longest_prefix_wins_and_union_keeps_sources():
    glob = DncList([DncEntry("+86*", "global", "whole country")])
    camp = DncList([DncEntry("+86138*", "campaign-a", "complaint")])
    both = camp | glob
    assert both.match("+8613800138000").source == "campaign-a"
    assert both.match("+8618600000000").source == "global"
    assert len(both) == 2


@given(
    digits=st.text("0123456789", min_size=6, max_size=12),
    cut=st.integers(1, 6),
)
def test_a_prefix_matches_exactly_the_numbers_that_start_with_it(digits, cut):
    number = "+1" + digits
    prefix = number[: 1 + cut]
    dnc = DncList.of(prefix + "*")
    assert dnc.matches(number)
    other = number[: 1 + cut - 1] + str((int(number[cut]) + 1) % 10) + number[1 + cut :]
    assert not dnc.matches(other)


def test_lookup_is_fast_on_a_large_list():
    dnc = DncList.of(
        *(f"+86138{i:08d}" for i in range(50_000)), *(f"+1{i:03d}*" for i in range(200, 999, 7))
    )
    t0 = time.perf_counter()
    hits = sum(dnc.matches(f"+86138{i:08d}") for i in range(0, 200_000, 4))
    elapsed = time.perf_counter() - t0
    assert hits == 12_500
    assert elapsed < 1.0  # 50k lookups


def test_csv_import_reports_line_column_and_reason():
    text = (
        "\ufeffNumber,reason\n+8613800138000,complaint\n13912345678,national\n\n"
        "abc,bad\n+86139*,range\n+8612*3,bad pattern\n+861,short\n"
    )
    result = parse_dnc_csv(text, "dnc.csv", default_region="CN")
    assert [e.pattern for e in result.entries] == ["+8613800138000", "+8613912345678", "+86139*"]
    assert result.entries[0].reason == "complaint"
    assert result.entries[0].source == "dnc.csv"
    assert [(e.line, e.column) for e in result.errors] == [
        (5, "number"),
        (7, "number"),
        (8, "number"),
    ]
    assert "pattern" in result.errors[1].reason
    assert str(result.errors[0]).startswith("line 5, column number:")


def test_csv_without_number_column_or_default_region():
    r = parse_dnc_csv("name,reason\nx,y\n", "dnc.csv")
    assert r.entries == () and r.errors[0].line == 1 and "header" in r.errors[0].reason
    r = parse_dnc_csv("phone\n13912345678\n", "dnc.csv")
    assert r.errors[0].line == 2 and "default region" in r.errors[0].reason
    assert parse_dnc_csv("", "dnc.csv").errors[0].reason.startswith("empty file")


def test_normalize_rejects_garbage():
    assert normalize_number(" +86 139-1234-5678 ") == "+8613912345678"
    for bad in ("", "+", "++1*", "*", "+0123*"):
        try:
            normalize_number(bad)
        except DncError:
            continue
        raise AssertionError(bad)
