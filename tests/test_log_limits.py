"""Repeated warnings are rate-limited with a count: an outage or a spent caller-ID pool cannot
flood the log, and nothing is hidden without saying how much."""

from __future__ import annotations

import io
import json
import logging
import re

from dialer_core.log_limits import RepeatLimitFilter
from dialer_core.logs import JsonFormatter, PhoneMaskFilter

T0 = 1_796_000_000.0
NOT_LOGGED = re.compile(r"\[(\d+) more like this not logged\]")


def handler() -> tuple[logging.Handler, io.StringIO]:
    out = io.StringIO()
    h = logging.StreamHandler(out)
    h.setFormatter(JsonFormatter())
    h.addFilter(RepeatLimitFilter())
    h.addFilter(PhoneMaskFilter())
    return h, out


def record(at: float, msg: str, *args, level=logging.WARNING, line=10, name="runner"):  # noqa: ANN001, ANN201
    rec = logging.LogRecord(name, level, "runner.py", line, msg, args, None)
    rec.created = at
    return rec


def shown(out: io.StringIO) -> list[str]:
    return [json.loads(line)["msg"] for line in out.getvalue().splitlines()]


def test_8769_identical_caller_id_warnings_in_25_minutes_become_a_few_lines_with_counts():
    h, out = handler()
    total = 8769
    for i in range(total):
        h.handle(record(T0 + i * 1500 / total, "no caller ID for case %s: %s", f"C{i}", "spent"))
    h.handle(record(T0 + 1800, "no caller ID for case %s: %s", "last", "spent"))
    lines = shown(out)
    assert len(lines) <= 5 * 27
    counted = sum(int(m.group(1)) for line in lines if (m := NOT_LOGGED.search(line)))
    assert len(lines) + counted == total + 1  # every warning is either shown or counted


def test_a_database_outage_flood_is_capped_per_call_site_per_minute():
    h, out = handler()
    for i in range(37 * 38):  # ~38 lines/s for 37 s, from two call sites
        at = T0 + i / 38
        if i % 2:
            h.handle(record(at, "launch round failed, retrying: %s", "refused", line=20))
        else:
            h.handle(record(at, "database unavailable, keeping call %s", i, level=40, line=30))
    lines = shown(out)
    assert len(lines) == 2 * 5  # one window: five of each
    # Quieter messages and other call sites are untouched.
    h.handle(record(T0 + 10, "originate call=%s to=%s", "x", "+8613800138000", level=20))
    h.handle(record(T0 + 10, "a different warning", line=99))
    assert len(shown(out)) == 12


def test_the_count_rides_on_the_next_line_and_numbers_stay_masked():
    h, out = handler()
    for i in range(12):
        h.handle(record(T0 + i, "no agent for %s", "+8613800138000"))
    h.handle(record(T0 + 61, "no agent for %s", "+8613800138000"))
    lines = shown(out)
    assert len(lines) == 6
    assert lines[-1] == "no agent for +*********8000 [7 more like this not logged]"
    assert all("13800138000" not in line for line in lines)
