"""The import's fast phone path gives exactly phonenumbers' answers, bad numbers included."""

from __future__ import annotations

import io
import random
import re

import phonenumbers
import pytest

from dialer_core import cases_csv
from dialer_core.cases_csv import CaseCsvReader, validate_records
from dialer_core.compliance.region import ZoneUnknown, region_of
from dialer_core.phone_fast import fast_parse, number_type

REGIONS = ["CN", "US", "GB", "DE", "IT", "FR", "IN", "BR", "RU", "JP", "AU", "AR", "MX", "HK"]
# Starts that reach each special turn of phonenumbers.parse: IDD (00, CN's 1[12]xx00 and
# 179xx00), the region's own code without '+' (86, 1, 44, 49...), national prefixes and
# carrier codes (0, 11xx, 12xx, 179xx, AR's 15, MX's 1, BR's 0xx), shared and non-geographic
# calling codes (+1, +7, +44, +800, +882), and ordinary mobile and fixed blocks.
STARTS = [
    "13",
    "15",
    "18",
    "19",
    "17",
    "010",
    "020",
    "0755",
    "00",
    "0086",
    "86",
    "8613",
    "11",
    "12",
    "1790",
    "179",
    "1",
    "44",
    "49",
    "39",
    "33",
    "91",
    "55",
    "7",
    "81",
    "61",
    "54",
    "52",
    "852",
    "0",
    "015",
    "9",
    "6",
    "5",
    "2",
    "3",
    "4",
    "+86",
    "+8613",
    "+861",
    "+8610",
    "+1",
    "+1212",
    "+44",
    "+447",
    "+4420",
    "+49",
    "+4915",
    "+39",
    "+393",
    "+3906",
    "+33",
    "+336",
    "+91",
    "+919",
    "+55",
    "+5511",
    "+7",
    "+7495",
    "+81",
    "+8190",
    "+61",
    "+614",
    "+54",
    "+549",
    "+52",
    "+521",
    "+852",
    "+800",
    "+882",
    "+0",
    "+999",
    "+2",
    "+260",
    "+3",
]


def varied_sample(count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    sample = []
    for _ in range(count):
        start = rng.choice(STARTS)
        length = rng.randint(0, 14)
        text = start + "".join(rng.choice("0123456789") for _ in range(length))
        sample.append((text, rng.choice(REGIONS)))
    return sample


def test_fast_parse_builds_the_number_phonenumbers_parses_or_declines():
    taken = 0
    for text, region in varied_sample(40_000, seed=16):
        fast = fast_parse(text, region)
        try:
            expected = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            assert fast is None, (text, region)  # an error is always the general parser's
            continue
        if fast is not None:
            taken += 1
            assert fast == expected, (text, region)
        assert number_type(expected) == phonenumbers.number_type(expected), (text, region)
    assert taken > 8_000  # the fast path is what runs on bare digits


@pytest.mark.parametrize(
    "text",
    [
        "138 0013 8000",
        "(010) 1234 5678",
        "+86-138-0013-8000",
        "１３８００１３８０００",
        "13800138000 ext. 12",
        "tel:+8613800138000",
        "138-0013-8000",
        " 13800138000 ",
    ],
)
def test_anything_but_bare_digits_takes_the_general_parser(text):
    assert fast_parse(text, "CN") is None


def reference_phone(text: str, region: str) -> tuple[str, str, str, str] | str:
    """What parse_phone gave before the fast path: phonenumbers alone, region_of's place."""
    try:
        num = phonenumbers.parse(text.strip(), region)
    except phonenumbers.NumberParseException as exc:
        return f"unparseable phone number {text!r} ({exc})"
    if phonenumbers.number_type(num) == phonenumbers.PhoneNumberType.UNKNOWN:
        return f"invalid phone number {text!r} for {region}"
    e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    place = region_of(e164)
    province, city = (
        ("", "") if isinstance(place, ZoneUnknown) else (place.province or "", place.city or "")
    )
    return e164, phonenumbers.region_code_for_number(num) or "", province, city


def test_parse_phone_answers_as_phonenumbers_and_region_of_did():
    for text, region in varied_sample(6_000, seed=61):
        try:
            row = cases_csv.parse_phone(text, region)
            got: tuple[str, str, str, str] | str = (row.e164, row.country, row.province, row.city)
        except ValueError as exc:
            got = str(exc)
        assert got == reference_phone(text, region), (text, region)


def test_a_file_validates_the_same_with_and_without_the_fast_path(monkeypatch):
    rng = random.Random(7)
    lines = ["external_id,debtor_name,amount,days_past_due,phone1,phone2"]
    for i, (text, _) in enumerate(varied_sample(3_000, seed=5)):
        other = rng.choice(["", "13800138000", "+8613800138000", "12345", "abc", "1380013800O"])
        if rng.random() < 0.5:  # a well-formed mobile number, as most rows have
            text = (
                rng.choice(["", "+86"]) + "1" + rng.choice("3578") + f"{rng.randrange(10**9):09d}"
            )
        lines.append(f"C{i},张三,{i}.5,{i % 90},{text},{other}")
    lines.append("C-bad,李四,10,1,12345,")  # a bad row: line and column named
    data = ("\n".join(lines) + "\n").encode()

    def validate():
        reader = CaseCsvReader(io.BytesIO(data), default_country="CN")
        rows, errors = [], []
        for records, bad in reader.chunks():
            valid, invalid = validate_records(reader.layout, records, "CN")
            rows += [row for row, _ in valid]
            errors += bad + invalid
        return rows, errors

    fast_rows, fast_errors = validate()
    monkeypatch.setattr(cases_csv, "fast_digits", lambda text, region: None)
    monkeypatch.setattr(cases_csv, "number_type", phonenumbers.number_type)
    slow_rows, slow_errors = validate()
    assert fast_rows == slow_rows and fast_errors == slow_errors
    assert len(fast_rows) > 500 and len(fast_errors) > 500
    last = [e for e in fast_errors if e.line == len(lines)]
    assert [(e.column, e.reason) for e in last] == [
        ("phone1", "invalid phone number '12345' for CN")
    ]


def test_number_type_answers_as_phonenumbers_for_numbers_of_every_calling_code():
    from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

    rng = random.Random(11)
    codes = sorted(COUNTRY_CODE_TO_REGION_CODE)
    kinds = set()
    for _ in range(30_000):
        text = f"+{rng.choice(codes)}" + "".join(rng.choices("0123456789", k=rng.randint(4, 13)))
        try:
            number = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            continue
        expected = phonenumbers.number_type(number)
        assert number_type(number) == expected, text
        kinds.add(expected)
    assert len(kinds) >= 8  # fixed, mobile, both, toll free, premium... and UNKNOWN all reached


def test_plain_amounts_answer_as_the_decimal_parser(monkeypatch):
    def outcome(text: str) -> object:
        try:
            return cases_csv.parse_amount(text)
        except ValueError as exc:
            return str(exc)

    rng = random.Random(12)
    pieces = ["0", "1", "9", "12", "007", "3250", ".", ".5", ",", "¥", "$", " ", "e", "-", "_"]
    texts = ["".join(rng.choices(pieces, k=rng.randint(1, 5))) for _ in range(20_000)]
    fast = [outcome(text) for text in texts]
    monkeypatch.setattr(cases_csv, "_PLAIN_AMOUNT", re.compile(r"(?!)"))  # Decimal only
    assert fast == [outcome(text) for text in texts]
    assert sum(isinstance(got, int) for got in fast) > 5_000
