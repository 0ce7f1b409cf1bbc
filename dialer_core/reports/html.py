"""The cycle report as one self-contained HTML page: inline CSS, inline SVG, no script."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from dialer_core.reports.svg import bar_chart, column_chart
from dialer_core.reports.tables import Cell, Column, Table
from dialer_core.store.reports import Group, Metrics

CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC",sans-serif;
margin:24px;color:#222;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#666;margin-bottom:16px}
.kpis{display:flex;flex-wrap:wrap;gap:12px}
.kpi{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:120px}
.kpi b{display:block;font-size:20px}.kpi span{color:#666;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:16px}
svg{border:1px solid #eee;border-radius:4px;background:#fff}
svg .t{font-size:13px;font-weight:600}svg .a{font-size:10px;text-anchor:middle;fill:#555}
svg .v{font-size:9px;text-anchor:middle;fill:#333}svg .l{font-size:11px;text-anchor:end}
svg .v2{font-size:10px;fill:#333}
table{border-collapse:collapse;font-size:12px;margin-bottom:8px}
th,td{border:1px solid #ddd;padding:3px 7px}th{background:#f4f6f9}
td.n{text-align:right;font-variant-numeric:tabular-nums}
p.note{color:#666;font-size:12px;max-width:900px}
"""


def money(minor: float) -> str:
    """Minor units as major units with two decimals and thousands separators."""
    return f"{minor / 100:,.2f}"


def pct(x: float) -> str:
    return f"{x:.1%}"


def _cell(column: Column, group: Group) -> str:
    value: Cell = column.value(group)
    if column.kind == "rate":
        return pct(float(value))
    if column.kind == "money":
        return money(float(value))
    if column.kind == "seconds":
        return f"{float(value):,.0f}"
    if column.kind == "int":
        return f"{int(value):,}"
    return escape(str(value))


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{escape(c.title or c.name)}</th>" for c in table.columns)
    body = []
    for g in table.rows:
        cells = "".join(
            f'<td class="{"" if c.kind == "text" else "n"}">{_cell(c, g)}</td>'
            for c in table.columns
        )
        body.append(f"<tr>{cells}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(table.columns)}">no attempts</td></tr>')
    return (
        f'<h2 id="{table.name}">{escape(table.title)}</h2>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _kpis(total: Metrics, agent_days: Group | None) -> str:
    items = [
        ("Attempts", f"{total.attempts:,}"),
        ("Contact rate", pct(total.contact_rate)),
        ("Right-party contacts", f"{total.right_party:,}"),
        ("Promises to pay", f"{total.promises:,}"),
        ("Promised amount", money(total.promised_minor)),
        ("Abandon rate", pct(total.abandon_rate)),
        ("Robot / human", f"{total.robot:,} / {total.human:,}"),
    ]
    if agent_days is not None and agent_days.days:
        items.append(("Agent-days", f"{agent_days.days:,}"))
        items.append(
            ("Calls per agent-day", f"{agent_days.metrics.attempts / agent_days.days:.1f}")
        )
        items.append(("Agent utilization", pct(agent_days.metrics.utilization)))
    return (
        '<div class="kpis">'
        + "".join(
            f'<div class="kpi"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for k, v in items
        )
        + "</div>"
    )


def _series(rows: Sequence[Group], f) -> list[tuple[str, float]]:
    return [(g.key, float(f(g.metrics))) for g in rows]


def _charts(tables: dict[str, Table]) -> str:
    count = lambda v: f"{v:,.0f}"  # noqa: E731
    charts = [
        column_chart(
            "Attempts by hour", _series(tables["by_hour"].rows, lambda m: m.attempts), count
        ),
        column_chart(
            "Contact rate by hour", _series(tables["by_hour"].rows, lambda m: m.contact_rate), pct
        ),
        column_chart(
            "Attempts by day", _series(tables["by_day"].rows, lambda m: m.attempts), count
        ),
        column_chart(
            "Contact rate by attempt number",
            _series(tables["by_attempt_no"].rows, lambda m: m.contact_rate),
            pct,
        ),
        column_chart(
            "Promises by DPD bucket",
            _series(tables["by_dpd_bucket"].rows, lambda m: m.promises),
            count,
        ),
        column_chart(
            "Promised amount by DPD bucket",
            _series(tables["by_dpd_bucket"].rows, lambda m: m.promised_minor),
            money,
        ),
        bar_chart(
            "Contact rate by region",
            _series(tables["by_region"].rows[:25], lambda m: m.contact_rate),
            pct,
        ),
        bar_chart(
            "Contact rate by caller ID",
            _series(tables["by_caller_id"].rows[:25], lambda m: m.contact_rate),
            pct,
        ),
        bar_chart(
            "Right-party contacts: robot vs human",
            _series(tables["robot_vs_human"].rows, lambda m: m.right_party),
            count,
        ),
        bar_chart(
            "Agent utilization (top 25 by calls)",
            [
                (g.agent, g.metrics.utilization)
                for g in sorted(tables["agents"].rows, key=lambda g: -g.metrics.attempts)[:25]
            ],
            pct,
        ),
    ]
    return '<div class="charts">' + "".join(charts) + "</div>"


NOTES = (
    "Contact: a live answer (not a machine). Right-party contact: a contact handled by the robot "
    "or an agent, not abandoned, whose outcome is not wrong_party, third_party, no_input or "
    "hung_up (an attempt's detail.right_party overrides). Promise: outcome promise_to_pay, amount "
    "from detail.ptp_amount_minor. Abandon rate: abandoned over contacts. Utilization: agent talk "
    "time over the span from the agent's first call start to last call end of each day."
)


def render_html(
    *,
    campaign: str,
    period: str,
    tz: str,
    generated: str,
    tables: Sequence[Table],
    total: Metrics,
    agent_days: Group | None,
) -> str:
    """The whole report page."""
    by_name = {t.name: t for t in tables}
    toc = " · ".join(f'<a href="#{t.name}">{escape(t.title)}</a>' for t in tables)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>Cycle report — {escape(campaign)} — {escape(period)}</title>"
        f"<style>{CSS}</style></head><body>"
        f"<h1>Cycle report: {escape(campaign)}</h1>"
        f'<div class="sub">{escape(period)} ({escape(tz)}) · generated {escape(generated)}</div>'
        f"{_kpis(total, agent_days)}"
        f"<h2>Charts</h2>{_charts(by_name)}"
        f"<p>{toc}</p>"
        + "".join(_table_html(t) for t in tables)
        + f'<p class="note">{escape(NOTES)}</p></body></html>\n'
    )
