"""Numbers and money amounts in English words."""

from __future__ import annotations

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (10**3, "thousand"))

# currency code → (major singular, major plural, minor singular, minor plural)
CURRENCY_NAMES: dict[str, tuple[str, str, str, str]] = {
    "CNY": ("yuan", "yuan", "fen", "fen"),
    "USD": ("dollar", "dollars", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
    "GBP": ("pound", "pounds", "penny", "pence"),
    "HKD": ("Hong Kong dollar", "Hong Kong dollars", "cent", "cents"),
}


def _below_thousand(number: int) -> str:
    hundreds, rest = divmod(number, 100)
    words = []
    if hundreds:
        words.append(f"{_ONES[hundreds]} hundred")
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    elif rest:
        words.append(_ONES[rest])
    return " ".join(words)


def int_to_en(number: int) -> str:
    """Read a non-negative integer in English: 3250 → three thousand two hundred fifty."""
    if number < 0 or number >= 10**15:
        raise ValueError(f"int_to_en: expected 0 <= number < 10^15, got {number}")
    if number == 0:
        return "zero"
    words = []
    rest = number
    for scale, name in _SCALES:
        count, rest = divmod(rest, scale)
        if count:
            words.append(f"{_below_thousand(count)} {name}")
    if rest:
        words.append(_below_thousand(rest))
    return " ".join(words)


def amount_en(minor: int, currency: str = "CNY") -> str:
    """Read an amount in minor units: 325005, "USD" → three thousand two hundred fifty dollars
    and five cents."""
    if minor < 0:
        raise ValueError(f"amount_en: expected a non-negative amount, got {minor}")
    one, many, cent, cents = CURRENCY_NAMES.get(currency, (currency, currency, "cent", "cents"))
    major, minor_part = divmod(minor, 100)
    parts = []
    if major or not minor_part:
        parts.append(f"{int_to_en(major)} {one if major == 1 else many}")
    if minor_part:
        parts.append(f"{int_to_en(minor_part)} {cent if minor_part == 1 else cents}")
    return " and ".join(parts)
