"""The cycle report's tables: which columns each breakdown has, in what order its rows come.

Pure formatting of the groups PostgreSQL computed; the same table feeds the CSV file and the
HTML page, so both always agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dialer_core.store.reports import Group, Metrics

Cell = str | int | float


@dataclass(frozen=True)
class Column:
    name: str  # CSV header
    title: str  # HTML header
    value: Callable[[Group], Cell]
    kind: str = "int"  # int, rate, money, seconds, float, text


def _m(f: Callable[[Metrics], Cell]) -> Callable[[Group], Cell]:
    return lambda g: f(g.metrics)


KEY = Column("key", "", lambda g: g.key, "text")
OUTCOME_COLUMNS = (
    Column("attempts", "Attempts", _m(lambda m: m.attempts)),
    Column("contacts", "Contacts", _m(lambda m: m.contacts)),
    Column("contact_rate", "Contact rate", _m(lambda m: m.contact_rate), "rate"),
    Column("right_party", "Right party", _m(lambda m: m.right_party)),
    Column("right_party_rate", "RPC rate", _m(lambda m: m.right_party_rate), "rate"),
    Column("promises", "Promises", _m(lambda m: m.promises)),
    Column("promised_minor", "Promised amount", _m(lambda m: m.promised_minor), "money"),
    Column("promise_rate", "PTP / RPC", _m(lambda m: m.promise_rate), "rate"),
    Column("abandoned", "Abandoned", _m(lambda m: m.abandoned)),
    Column("abandon_rate", "Abandon rate", _m(lambda m: m.abandon_rate), "rate"),
    Column("robot", "Robot", _m(lambda m: m.robot)),
    Column("human", "Human", _m(lambda m: m.human)),
    Column("talk_seconds", "Talk (s)", _m(lambda m: round(m.talk_seconds, 1)), "seconds"),
    Column(
        "human_talk_seconds",
        "Agent talk (s)",
        _m(lambda m: round(m.human_talk_seconds, 1)),
        "seconds",
    ),
)
AGENT_COLUMNS = (
    Column("calls", "Calls", _m(lambda m: m.attempts)),
    Column("right_party", "Right party", _m(lambda m: m.right_party)),
    Column("promises", "Promises", _m(lambda m: m.promises)),
    Column("promised_minor", "Promised amount", _m(lambda m: m.promised_minor), "money"),
    Column("talk_seconds", "Talk (s)", _m(lambda m: round(m.human_talk_seconds, 1)), "seconds"),
    Column("span_seconds", "Span (s)", _m(lambda m: round(m.span_seconds, 1)), "seconds"),
    Column("utilization", "Utilization", _m(lambda m: m.utilization), "rate"),
)


@dataclass(frozen=True)
class Table:
    """One breakdown: a file name, a heading, its columns and its rows."""

    name: str  # CSV file stem
    title: str
    columns: tuple[Column, ...]
    rows: tuple[Group, ...]

    def header(self) -> list[str]:
        return [c.name for c in self.columns]

    def records(self) -> list[list[Cell]]:
        """Rows as plain values (rates as fractions, money in minor units)."""
        return [[_plain(c, g) for c in self.columns] for g in self.rows]


def _plain(column: Column, group: Group) -> Cell:
    value = column.value(group)
    return round(value, 6) if column.kind == "rate" else value


def _by_attempts(groups: Sequence[Group]) -> tuple[Group, ...]:
    return tuple(sorted(groups, key=lambda g: (-g.metrics.attempts, g.key)))


def _numeric(groups: Sequence[Group]) -> tuple[Group, ...]:
    return tuple(sorted(groups, key=lambda g: int(g.key)))


def _text(groups: Sequence[Group]) -> tuple[Group, ...]:
    return tuple(sorted(groups, key=lambda g: g.key))


_HANDLERS = {"robot": 0, "human": 1, "none": 2}

# (dimension, file stem, title, key header, row order)
BREAKDOWNS: tuple[
    tuple[str, str, str, str, Callable[[Sequence[Group]], tuple[Group, ...]]], ...
] = (
    ("total", "totals", "Totals", "period", _text),
    ("region", "by_region", "By region (province)", "region", _by_attempts),
    ("dpd_bucket", "by_dpd_bucket", "By days-past-due bucket", "dpd_bucket", _text),
    ("caller_id", "by_caller_id", "By caller ID", "caller_id", _by_attempts),
    ("hour", "by_hour", "By hour of day", "hour", _numeric),
    ("attempt_no", "by_attempt_no", "By attempt number", "attempt_no", _numeric),
    ("day", "by_day", "By day", "day", _text),
    (
        "handled_by",
        "robot_vs_human",
        "Robot vs human",
        "handled_by",
        lambda gs: tuple(sorted(gs, key=lambda g: _HANDLERS.get(g.key, 9))),
    ),
)


def build_tables(groups: Sequence[Group]) -> tuple[Table, ...]:
    """Every table of the report, from the groups of one cycle query."""
    by_dim: dict[str, list[Group]] = {}
    for g in groups:
        by_dim.setdefault(g.dimension, []).append(g)
    tables = [
        Table(
            stem,
            title,
            (Column(header, header, KEY.value, "text"), *OUTCOME_COLUMNS),
            order(by_dim.get(dim, [])),
        )
        for dim, stem, title, header, order in BREAKDOWNS
    ]
    agents = tuple(sorted(by_dim.get("agent", []), key=lambda g: g.agent))
    tables.append(
        Table(
            "agents",
            "Agent utilization (whole period)",
            (
                Column("agent", "Agent", lambda g: g.agent, "text"),
                Column("days", "Days", lambda g: g.days),
                *AGENT_COLUMNS,
                Column(
                    "calls_per_day",
                    "Calls / day",
                    lambda g: round(g.metrics.attempts / g.days, 2) if g.days else 0.0,
                    "float",
                ),
            ),
            agents,
        )
    )
    agent_days = tuple(sorted(by_dim.get("agent_day", []), key=lambda g: (g.day, g.agent)))
    tables.append(
        Table(
            "agent_days",
            "Efficiency per agent-day",
            (
                Column("agent", "Agent", lambda g: g.agent, "text"),
                Column("day", "Day", lambda g: g.day.isoformat() if g.day else "", "text"),
                *AGENT_COLUMNS,
            ),
            agent_days,
        )
    )
    return tuple(tables)
