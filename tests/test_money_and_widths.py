"""Money in major units with the currency; CJK-aware column widths."""

from __future__ import annotations

import pytest

from dialer_core.money import format_money
from dialer_core.textwidth import fit, width


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (325050, "CNY", "¥3,250.50"),
        (5, "usd", "$0.05"),
        (-120000, "GBP", "-£1,200.00"),
        (1500, "JPY", "¥1,500"),
        (1234567, "EUR", "12,345.67 EUR"),
        (1005, "KWD", "1.005 KWD"),
    ],
)
def test_money_is_shown_in_major_units_with_its_currency(minor, currency, shown):
    assert format_money(minor, currency) == shown


def test_wide_characters_take_two_cells_and_columns_line_up():
    assert width("张三") == 4 and width("Zhang") == 5 and width("e\u0301") == 1
    rows = [fit(name, 8) + "|" for name in ("张三", "欧阳娜娜娜娜", "Li Wei")]
    assert {width(r) for r in rows} == {9}
    assert rows[1] == "欧阳娜… |"
    assert fit("12", 5, ">") == "   12"
