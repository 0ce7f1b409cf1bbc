"""Structured JSON logs: one object per line, with the call id, and phone numbers masked.

``setup_json_logging()`` installs a handler on the root logger whose formatter writes
``{"ts", "level", "logger", "msg", "call_id"?, "exc"?}`` per record and whose filter masks
anything that looks like a phone number (an optional ``+`` and 7 to 15 digits) down to its last
four digits, in the message, its arguments and any exception text.

The call id comes from ``extra={"call_id": ...}``, from :data:`current_call_id` (a context
variable a handler may set for everything it logs), or from a ``call=<uuid>`` / ``call <uuid>``
mention in the message (how the campaign runner already writes its lines).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import TextIO

from dialer_core.log_limits import RepeatLimitFilter

current_call_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "pacedial_call_id", default=None
)

# Not inside a word or a UUID (UUID groups are hex with dashes around them).
_PHONE = re.compile(r"(?<![\w\-.])\+?\d{7,15}(?![\w\-])")
_CALL_ID = re.compile(
    r"\bcall[= ]([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b", re.I
)


def mask_phones(text: str) -> str:
    """``text`` with every phone-number-looking run of digits reduced to its last 4 digits."""

    def _mask(m: re.Match[str]) -> str:
        digits = m.group(0).lstrip("+")
        return ("+" if m.group(0).startswith("+") else "") + "*" * (len(digits) - 4) + digits[-4:]

    return _PHONE.sub(_mask, text)


class PhoneMaskFilter(logging.Filter):
    """Masks phone numbers in a record's message (arguments merged in first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: keep the raw text, masked
            message = f"{record.msg} {record.args}"
        record.msg = mask_phones(message)
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC ISO 8601), level, logger, msg, call_id, exc."""

    def format(self, record: logging.LogRecord) -> str:
        message = mask_phones(record.getMessage())
        doc: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": message,
        }
        call_id = getattr(record, "call_id", None) or current_call_id.get()
        if not call_id:
            found = _CALL_ID.search(message)
            call_id = found.group(1) if found else None
        if call_id:
            doc["call_id"] = str(call_id)
        if record.exc_info:
            doc["exc"] = mask_phones(self.formatException(record.exc_info))
        return json.dumps(doc, ensure_ascii=False)


def setup_json_logging(level: int = logging.INFO, stream: TextIO | None = None) -> logging.Handler:
    """Send every log record to ``stream`` (stderr) as masked JSON lines; returns the handler.

    Repeated warnings are rate-limited with a count (dialer_core.log_limits).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RepeatLimitFilter())  # before masking: it keys on the message template
    handler.addFilter(PhoneMaskFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
