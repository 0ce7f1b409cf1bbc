"""Abandonment ledger: live answers and abandons over rolling windows (1 h, 24 h, 30 d ...).

Pure and clock-free: every method takes ``now``. State is a list of per-minute buckets that the
runner can persist (``to_rows``) and restore after a restart (``from_rows``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

BUCKET_SECONDS = 60


@dataclass(frozen=True)
class LedgerRow:
    """One minute of history: ``bucket_start`` is epoch seconds, a multiple of 60."""

    bucket_start: int
    answers: int
    abandons: int


@dataclass(frozen=True)
class WindowTotals:
    window_seconds: int
    answers: int
    abandons: int

    @property
    def rate(self) -> float:
        return self.abandons / self.answers if self.answers else 0.0


class AbandonmentLedger:
    """Counts live answers and abandons per minute and sums them over each rolling window."""

    def __init__(self, windows_seconds: tuple[int, ...] = (3600, 86400, 2592000)) -> None:
        if not windows_seconds or min(windows_seconds) < BUCKET_SECONDS:
            raise ValueError(f"ledger windows must be >= {BUCKET_SECONDS} s: {windows_seconds}")
        self.windows = tuple(sorted(windows_seconds))
        self._buckets: deque[list[int]] = deque()  # [bucket_start, answers, abandons]
        # per window: index offset of its oldest bucket in _buckets and running sums
        self._first = [0] * len(self.windows)
        self._answers = [0] * len(self.windows)
        self._abandons = [0] * len(self.windows)
        self._dropped = 0  # buckets popped off the left (older than the longest window)
        self.first_event_at: float | None = None
        self.version = 0  # bumps on every record (lets callers cache derived figures)

    def _bucket(self, at: float) -> list[int]:
        start = int(at // BUCKET_SECONDS) * BUCKET_SECONDS
        if self._buckets and self._buckets[-1][0] >= start:
            return self._buckets[-1]  # late events land in the newest bucket (never rewrite)
        bucket = [start, 0, 0]
        self._buckets.append(bucket)
        return bucket

    def record(self, at: float, answers: int = 0, abandons: int = 0) -> None:
        """Add ``answers`` live answers and ``abandons`` abandons that happened at ``at``."""
        if answers < 0 or abandons < 0:
            raise ValueError("ledger counts must be >= 0")
        if self.first_event_at is None:
            self.first_event_at = at
        self.version += 1
        bucket = self._bucket(at)
        bucket[1] += answers
        bucket[2] += abandons
        for i in range(len(self.windows)):
            self._answers[i] += answers
            self._abandons[i] += abandons

    def _advance(self, now: float) -> None:
        for i, window in enumerate(self.windows):
            cutoff = now - window
            idx = self._first[i] - self._dropped
            while idx < len(self._buckets) and self._buckets[idx][0] + BUCKET_SECONDS <= cutoff:
                self._answers[i] -= self._buckets[idx][1]
                self._abandons[i] -= self._buckets[idx][2]
                idx += 1
            self._first[i] = idx + self._dropped
        oldest = min(self._first) - self._dropped
        for _ in range(oldest):
            self._buckets.popleft()
        self._dropped += oldest

    def totals(self, now: float) -> tuple[WindowTotals, ...]:
        """Answers and abandons in each window ending at ``now`` (whole-minute granularity)."""
        self._advance(now)
        return tuple(
            WindowTotals(w, self._answers[i], self._abandons[i]) for i, w in enumerate(self.windows)
        )

    def sums(self, now: float) -> list[tuple[int, int, int]]:
        """``totals`` as plain ``(window_seconds, answers, abandons)`` tuples (cheaper)."""
        self._advance(now)
        return list(zip(self.windows, self._answers, self._abandons, strict=True))

    def to_rows(self) -> list[LedgerRow]:
        """Plain rows to persist (one per non-empty minute still inside the longest window)."""
        return [LedgerRow(b[0], b[1], b[2]) for b in self._buckets if b[1] or b[2]]

    @classmethod
    def from_rows(
        cls, rows: list[LedgerRow] | list[tuple[int, int, int]], windows_seconds: tuple[int, ...]
    ) -> AbandonmentLedger:
        """Rebuild a ledger from persisted rows (any order; duplicates of a minute are summed)."""
        ledger = cls(windows_seconds)
        plain = sorted(
            tuple(r) if isinstance(r, tuple) else (r.bucket_start, r.answers, r.abandons)
            for r in rows
        )
        for start, answers, abandons in plain:
            ledger.record(float(start), answers, abandons)
        return ledger
