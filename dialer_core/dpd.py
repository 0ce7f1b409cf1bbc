"""Days-past-due buckets (M0..M7), shared by routing, allocation and reports."""

from __future__ import annotations

DPD_BUCKETS = ("M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7")


def dpd_bucket(days_past_due: int) -> str:
    """M0 for not yet overdue (≤ 0 days), M1 for 1-30, M2 for 31-60 … M7 for 181 and more."""
    if days_past_due <= 0:
        return "M0"
    return f"M{min((days_past_due - 1) // 30 + 1, 7)}"
