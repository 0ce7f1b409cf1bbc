"""Generated demo cases: Chinese debtors with +86 mobile numbers across provinces."""

from __future__ import annotations

import csv
import io
import random

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志强红梅"
# Mobile prefixes (HLR blocks) that phonenumbers geocodes to different provinces.
_PREFIXES = (
    "1380013",
    "1391234",
    "1860201",
    "1501234",
    "1370571",
    "1355512",
    "1890288",
    "1592103",
    "1330551",
    "1770731",
    "1820755",
    "1393712",
    "1580931",
    "1368866",
)
_PRODUCTS = ("credit_card", "cash_loan", "consumer_loan")


def demo_cases_csv(count: int, seed: int = 7) -> bytes:
    """A UTF-8 CSV of ``count`` overdue cases with one to three phones each."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "external_id",
            "debtor_name",
            "amount",
            "days_past_due",
            "phone1",
            "phone2",
            "phone3",
            "product",
        ]
    )
    used: set[str] = set()
    for i in range(1, count + 1):
        name = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.randint(1, 2)))
        phones = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            while True:
                number = rng.choice(_PREFIXES) + f"{rng.randrange(10_000):04d}"
                if number not in used:
                    used.add(number)
                    phones.append(number)
                    break
        phones += [""] * (3 - len(phones))
        amount = f"{rng.randrange(50_000, 5_000_000) / 100:.2f}"
        writer.writerow(
            [f"DEMO-{i:06d}", name, amount, rng.randint(1, 120), *phones, rng.choice(_PRODUCTS)]
        )
    return out.getvalue().encode("utf-8")
