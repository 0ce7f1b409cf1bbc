"""Money as people read it: integer minor units → major units with the currency.

Stored amounts are integer minor units (fen, cents); shown they are ``¥3,250.50`` or, for a
currency without a symbol here, ``3,250.50 EUR``. ISO 4217 exponents: most currencies have 2
decimals, JPY/KRW none, a few (BHD, KWD...) 3.
"""

from __future__ import annotations

_SYMBOLS = {"CNY": "¥", "USD": "$", "GBP": "£", "HKD": "HK$", "JPY": "¥"}
_EXPONENT = {"JPY": 0, "KRW": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}


def format_money(minor: int, currency: str = "CNY") -> str:
    """``format_money(325050, "CNY") == "¥3,250.50"``; ``(-5, "USD") == "-$0.05"``."""
    code = (currency or "CNY").upper()
    digits = _EXPONENT.get(code, 2)
    sign = "-" if minor < 0 else ""
    major, rest = divmod(abs(minor), 10**digits)
    text = f"{major:,}" + (f".{rest:0{digits}d}" if digits else "")
    symbol = _SYMBOLS.get(code)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {code}"
