"""Case allocation and follow-up (分案): pure rules here.

SQL in dialer_core.store.allocation (assignment) and dialer_core.store.followup (follow-up).
"""
