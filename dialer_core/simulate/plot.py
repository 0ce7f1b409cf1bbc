"""Self-contained HTML (inline SVG, no network) of abandonment and utilization over the day."""

from __future__ import annotations

import html

from dialer_core.simulate.metrics import SimResult

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
_W, _H, _PAD = 720, 240, 40


def _polyline(points: list[tuple[float, float]], x_max: float, y_max: float, color: str) -> str:
    coords = " ".join(
        f"{_PAD + x / x_max * (_W - 2 * _PAD):.1f},{_H - _PAD - y / y_max * (_H - 2 * _PAD):.1f}"
        for x, y in points
    )
    return f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{coords}"/>'


def _chart(title: str, results: list[SimResult], pick, y_max: float, cap: float | None) -> str:
    x_max = max((p.minute for r in results for p in r.series), default=1.0) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}">',
        f'<text x="{_PAD}" y="20" font-size="14">{html.escape(title)}</text>',
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#888"/>',
        f'<line x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{_H - _PAD}" stroke="#888"/>',
        f'<text x="{_W - _PAD}" y="{_H - 10}" font-size="11" text-anchor="end">'
        f"minutes ({x_max:.0f})</text>",
        f'<text x="4" y="{_PAD}" font-size="11">{y_max:.0%}</text>',
    ]
    if cap is not None:
        y = _H - _PAD - cap / y_max * (_H - 2 * _PAD)
        parts.append(
            f'<line x1="{_PAD}" y1="{y:.1f}" x2="{_W - _PAD}" y2="{y:.1f}" stroke="#000" '
            f'stroke-dasharray="4 3"/><text x="{_W - _PAD}" y="{y - 3:.1f}" font-size="11" '
            f'text-anchor="end">cap {cap:.0%}</text>'
        )
    for i, r in enumerate(results):
        color = _COLORS[i % len(_COLORS)]
        pts = [(p.minute, min(pick(p), y_max)) for p in r.series]
        parts.append(_polyline(pts, x_max, y_max, color))
        parts.append(
            f'<text x="{_PAD + 10 + 130 * i}" y="{_H - _PAD + 28}" font-size="11" '
            f'fill="{color}">{html.escape(r.policy)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def render_html(results: list[SimResult], cap: float) -> str:
    """One page: rolling-hour abandon rate and talk share over the shift for each result."""
    title = html.escape(f"pacedial simulation: {results[0].scenario}, seed {results[0].seed}")
    worst = max((p.rolling_hour_rate for r in results for p in r.series), default=0.0)
    y_ab = max(cap * 2, worst * 1.1, 0.01)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body style='font-family:sans-serif'><h1 style='font-size:18px'>{title}</h1>"
        + _chart("abandon rate, rolling hour", results, lambda p: p.rolling_hour_rate, y_ab, cap)
        + "<br>"
        + _chart("agents talking / logged in", results, lambda p: p.talk_share, 1.0, None)
        + "</body></html>"
    )
