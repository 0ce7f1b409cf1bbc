"""Dates as spoken words (Mandarin and English)."""

from __future__ import annotations

import datetime as dt

from agi_scripts.speech.words_en import int_to_en
from agi_scripts.speech.words_zh import int_to_zh

_YEAR_DIGITS_ZH = "零一二三四五六七八九"
_MONTHS_EN = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def date_zh(day: dt.date, with_year: bool = False) -> str:
    """2025-03-15 → 三月十五日 (with_year: 二零二五年三月十五日; years are read digit by digit)."""
    text = f"{int_to_zh(day.month)}月{int_to_zh(day.day)}日"
    if with_year:
        text = "".join(_YEAR_DIGITS_ZH[int(c)] for c in str(day.year)) + "年" + text
    return text


def ordinal_en(number: int) -> str:
    """1 → first, 22 → twenty-second, 30 → thirtieth."""
    words = int_to_en(number)
    head, sep, last = words.rpartition("-") if "-" in words else words.rpartition(" ")
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head}{sep}{last}"


def date_en(day: dt.date, with_year: bool = False) -> str:
    """2025-03-15 → March fifteenth (with_year: March fifteenth, 2025)."""
    text = f"{_MONTHS_EN[day.month - 1]} {ordinal_en(day.day)}"
    return f"{text}, {day.year}" if with_year else text
