"""Numbers and money amounts in Mandarin words, the way people read them aloud."""

from __future__ import annotations

_DIGITS = "零一二三四五六七八九"
_SECTION_UNITS = ("", "万", "亿", "万亿")
_MAX = 10**16  # up to 万亿 sections


def _section(value: int) -> str:
    """Words for 0 < value < 10000, without a leading-zero marker."""
    out: list[str] = []
    pending_zero = False
    for power, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = value // power % 10
        if digit == 0:
            if out:
                pending_zero = True
            continue
        if pending_zero:
            out.append("零")
            pending_zero = False
        word = "两" if digit == 2 and unit == "千" else _DIGITS[digit]
        out.append(word + unit)
    return "".join(out)


def int_to_zh(number: int) -> str:
    """Read a non-negative integer in Mandarin: 10005 → 一万零五, 15 → 十五, 2000 → 两千."""
    if number < 0 or number >= _MAX:
        raise ValueError(f"int_to_zh: expected 0 <= number < 10^16, got {number}")
    if number == 0:
        return "零"
    sections = []
    rest = number
    while rest:
        sections.append(rest % 10000)
        rest //= 10000
    out: list[str] = []
    zero_needed = False
    for index in range(len(sections) - 1, -1, -1):
        value = sections[index]
        if value == 0:
            zero_needed = bool(out)
            continue
        if out and (zero_needed or value < 1000):
            out.append("零")
        words = _section(value)
        unit = _SECTION_UNITS[index]
        if unit and words == "二":
            words = "两"
        out.append(words + unit)
        zero_needed = False
    text = "".join(out)
    # A number that starts with 一十 is said 十 (十五, 十二万), anywhere else 一十 stays.
    if text.startswith("一十"):
        text = text[1:]
    return text


def amount_zh(minor: int, unit: str = "元") -> str:
    """Read an amount in fen as spoken Mandarin: 325000 → 三千二百五十元, 325005 → …元零五分."""
    if minor < 0:
        raise ValueError(f"amount_zh: expected a non-negative amount in fen, got {minor}")
    major, cents = divmod(minor, 100)
    jiao, fen = divmod(cents, 10)
    parts: list[str] = []
    if major:
        parts.append(int_to_zh(major) + unit)
    if jiao:
        parts.append(_DIGITS[jiao] + "角")
    if fen:
        if major and not jiao:
            parts.append("零")
        parts.append(_DIGITS[fen] + "分")
    return "".join(parts) if parts else "零" + unit
