"""Inline SVG bar charts for the HTML report: plain markup, no script, no network."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

BAR = "#2f6db5"
AXIS = "#888"


def _label(text: str, limit: int = 18) -> str:
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def column_chart(
    title: str,
    items: Sequence[tuple[str, float]],
    fmt: Callable[[float], str],
    *,
    width: int = 640,
    height: int = 220,
) -> str:
    """Vertical bars for an ordered dimension (hour, day, attempt number, DPD bucket)."""
    top, bottom, left = 28, 36, 8
    plot_h = height - top - bottom
    peak = max((v for _, v in items), default=0.0) or 1.0
    step = (width - 2 * left) / max(len(items), 1)
    bar_w = max(step * 0.75, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f'<text x="{left}" y="16" class="t">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - left}" y2="{top + plot_h}" '
        f'stroke="{AXIS}"/>',
    ]
    every = max(1, len(items) // 16)  # keep axis labels readable on long series
    for i, (label, value) in enumerate(items):
        h = plot_h * value / peak
        x = left + i * step + (step - bar_w) / 2
        y = top + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{BAR}">'
            f"<title>{escape(label)}: {escape(fmt(value))}</title></rect>"
        )
        if i % every == 0:
            cx = left + i * step + step / 2
            parts.append(
                f'<text x="{cx:.1f}" y="{top + plot_h + 14}" class="a">{_label(label, 10)}</text>'
            )
        if len(items) <= 16:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" class="v">'
                f"{escape(fmt(value))}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    title: str,
    items: Sequence[tuple[str, float]],
    fmt: Callable[[float], str],
    *,
    width: int = 640,
    row: int = 18,
) -> str:
    """Horizontal bars for a categorical dimension (region, caller ID, agent)."""
    top, label_w, right = 28, 150, 70
    height = top + row * max(len(items), 1) + 8
    plot_w = width - label_w - right
    peak = max((v for _, v in items), default=0.0) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f'<text x="4" y="16" class="t">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(items):
        y = top + i * row
        w = plot_w * value / peak
        parts.append(
            f'<text x="{label_w - 6}" y="{y + row * 0.7:.1f}" class="l">{_label(label)}</text>'
            f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 5}" fill="{BAR}">'
            f"<title>{escape(label)}: {escape(fmt(value))}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + row * 0.7:.1f}" class="v2">'
            f"{escape(fmt(value))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
