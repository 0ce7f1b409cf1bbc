"""Repeated warnings, rate-limited with a count, so an outage does not drown the log.

A database outage makes every call's result write fail (dozens of identical lines a second);
a campaign whose caller IDs are spent says "no caller ID" for every contact it leases
(thousands of lines an hour). :class:`RepeatLimitFilter` lets the first ``burst`` records of
each call site (logger, source line, message template) through per ``window`` seconds, drops
the rest, and adds to the next record it lets through how many it dropped::

    database unavailable, keeping result of call 5d2e…: refused [312 more like this not logged]

Only WARNING and above are limited; the time is each record's own timestamp (``created``), so
the filter reads no clock. A count is reported with the next record of its call site.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

WINDOW = 60.0
BURST = 5
MAX_SITES = 1000


@dataclass
class _Site:
    window_start: float
    passed: int = 0
    dropped: int = 0  # dropped since the last record let through


class RepeatLimitFilter(logging.Filter):
    """Passes at most ``burst`` WARNING+ records per call site per ``window`` seconds."""

    def __init__(self, window: float = WINDOW, burst: int = BURST) -> None:
        super().__init__()
        self.window, self.burst = window, burst
        self._sites: OrderedDict[tuple[str, int, str], _Site] = OrderedDict()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.lineno, str(record.msg))
        now = record.created
        with self._lock:
            site = self._sites.get(key)
            if site is None:
                site = self._sites[key] = _Site(now)
                if len(self._sites) > MAX_SITES:
                    self._sites.popitem(last=False)
            else:
                self._sites.move_to_end(key)
            if now - site.window_start >= self.window:
                site.window_start, site.passed = now, 0
            if site.passed >= self.burst:
                site.dropped += 1
                return False
            site.passed += 1
            dropped, site.dropped = site.dropped, 0
        if dropped:
            note = f" [{dropped} more like this not logged]"
            record.msg = f"{record.msg}{note}"
        return True
