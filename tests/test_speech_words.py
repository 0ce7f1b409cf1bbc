"""Amounts, numbers and dates read the way people say them."""

from __future__ import annotations

import datetime as dt

import pytest

from agi_scripts.speech import amount_en, amount_zh, date_en, date_zh, int_to_en, int_to_zh

ZH_AMOUNTS = [
    (325_000, "三千二百五十元"),
    (325_050, "三千二百五十元五角"),
    (325_005, "三千二百五十元零五分"),
    (325_055, "三千二百五十元五角五分"),
    (50, "五角"),
    (5, "五分"),
    (0, "零元"),
    (200, "二元"),
    (1_000, "十元"),
    (1_500, "十五元"),
    (11_000, "一百一十元"),
    (100_500, "一千零五元"),
    (500_500, "五千零五元"),
    (200_000, "两千元"),
    (2_000_000, "两万元"),
    (20_000_000, "二十万元"),
    (2_222_200, "两万两千二百二十二元"),
    (12_000_000, "十二万元"),
    (100_010_000, "一百万零一百元"),
    (1_000_500_000, "一千万五千元"),
    (10_000_000_000, "一亿元"),
    (10_000_000_100, "一亿零一元"),
    (10_001_000_000, "一亿零一万元"),
    (20_000_000_000, "两亿元"),
    (101_000_000_000, "十亿一千万元"),
    (100_000_000_000_000, "一万亿元"),
]


@pytest.mark.parametrize(("minor", "words"), ZH_AMOUNTS)
def test_amount_zh(minor, words):
    assert amount_zh(minor) == words


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (0, "零"),
        (10, "十"),
        (19, "十九"),
        (101, "一百零一"),
        (1010, "一千零一十"),
        (10010, "一万零一十"),
    ],
)
def test_int_to_zh(number, words):
    assert int_to_zh(number) == words


@pytest.mark.parametrize("bad", [-1, 10**16])
def test_int_to_zh_rejects_out_of_range(bad):
    with pytest.raises(ValueError, match=str(bad)):
        int_to_zh(bad)


@pytest.mark.parametrize(
    ("minor", "currency", "words"),
    [
        (325_005, "USD", "three thousand two hundred fifty dollars and five cents"),
        (100, "USD", "one dollar"),
        (1, "USD", "one cent"),
        (0, "CNY", "zero yuan"),
        (325_000, "CNY", "three thousand two hundred fifty yuan"),
        (1_200_000_099, "EUR", "twelve million euros and ninety-nine cents"),
        (101_000_000, "GBP", "one million ten thousand pounds"),
    ],
)
def test_amount_en(minor, currency, words):
    assert amount_en(minor, currency) == words


def test_int_to_en():
    assert int_to_en(1_001_019) == "one million one thousand nineteen"


@pytest.mark.parametrize(
    ("day", "zh", "en"),
    [
        (dt.date(2025, 3, 1), "三月一日", "March first"),
        (dt.date(2025, 3, 15), "三月十五日", "March fifteenth"),
        (dt.date(2025, 10, 22), "十月二十二日", "October twenty-second"),
        (dt.date(2025, 12, 30), "十二月三十日", "December thirtieth"),
    ],
)
def test_dates(day, zh, en):
    assert date_zh(day) == zh
    assert date_en(day) == en


def test_dates_with_year():
    assert date_zh(dt.date(2025, 3, 15), with_year=True) == "二零二五年三月十五日"
    assert date_en(dt.date(2025, 3, 15), with_year=True) == "March fifteenth, 2025"
