"""Column widths as a terminal shows them: CJK and other wide characters take two cells.

``str.ljust`` counts characters, so a table with Chinese names goes out of line; these count
display cells (Unicode East Asian Width W/F = 2, combining marks = 0).
"""

from __future__ import annotations

import unicodedata


def width(text: str) -> int:
    """Terminal cells ``text`` takes."""
    cells = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        cells += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return cells


def fit(text: str, cells: int, align: str = "<") -> str:
    """``text`` cut to at most ``cells`` (ending in … when cut) and padded to exactly ``cells``."""
    if width(text) > cells:
        out, used = [], 0
        for ch in text:
            w = width(ch)
            if used + w > cells - 1:
                break
            out.append(ch)
            used += w
        text = "".join(out) + "…"
    pad = " " * (cells - width(text))
    return pad + text if align == ">" else text + pad
