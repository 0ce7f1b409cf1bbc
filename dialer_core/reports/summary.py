"""The end-of-run summary as a plain-text table for the terminal."""

from __future__ import annotations

from dialer_core.store.summary import RunSummary


def format_summary(summary: RunSummary, *, agents: int, agent_utilization: float | None) -> str:
    """A plain-text table for the terminal."""
    lines = ["", "disposition          calls", "-------------------- -----"]
    lines += [f"{name:<20} {n:>5}" for name, n in summary.by_disposition]
    lines += [
        "-------------------- -----",
        f"{'attempts':<20} {summary.attempts:>5}",
        f"{'answered':<20} {summary.answered:>5}",
        f"{'connected to agent':<20} {summary.connected:>5}",
        f"{'abandoned':<20} {summary.abandoned:>5}   ({summary.abandon_rate:.1%} of live answers)",
        f"{'still open':<20} {summary.open_attempts:>5}",
    ]
    for handler, n in summary.by_handler:
        lines.append(f"{'handled by ' + handler:<20} {n:>5}")
    if summary.promises:
        lines.append(
            f"{'promises to pay':<20} {summary.promises:>5}   "
            f"(¥{summary.promised_minor / 100:,.2f} promised)"
        )
    if agent_utilization is not None:
        lines.append(
            f"{'agent utilization':<20} {agent_utilization:>5.0%}   "
            f"(talking / logged-in time, {agents} agents)"
        )
    return "\n".join(lines)
