"""Names people give things (campaigns): what a name may contain, so it can be addressed.

A name goes into URLs (``/api/campaigns/{name}``), file names of reports and log lines, so it
may not contain ``/`` or ``\\``, control characters (NUL included), or start or end with
white space, and it is at most :data:`MAX_NAME_LENGTH` characters. Any other character,
Chinese included, is fine.
"""

from __future__ import annotations

import unicodedata

MAX_NAME_LENGTH = 64
NAME_RULE = (
    f"1 to {MAX_NAME_LENGTH} characters, without '/', '\\\\' or control characters, "
    "not '.' or '..', no leading or trailing spaces"
)


def name_problem(value: str) -> str:
    """Why ``value`` is not a usable name, or "" when it is."""
    if not value:
        return "is empty"
    if len(value) > MAX_NAME_LENGTH:
        return f"is {len(value)} characters long (at most {MAX_NAME_LENGTH})"
    if value != value.strip():
        return "starts or ends with white space"
    if value in (".", ".."):
        return f"is {value!r}"
    for ch in value:
        if ch in "/\\":
            return f"contains {ch!r}"
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            return f"contains the control character U+{ord(ch):04X}"
    return ""
