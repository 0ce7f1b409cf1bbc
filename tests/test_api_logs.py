"""JSON log lines: one object per line, the call id, and no full phone number anywhere."""

from __future__ import annotations

import io
import json
import logging

from dialer_core.logs import JsonFormatter, PhoneMaskFilter, current_call_id, mask_phones

CALL = "0f8e2c4a-1b2c-4d5e-8f90-123456789abc"


def capture() -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PhoneMaskFilter())
    log = logging.getLogger(f"pacedial.test.{id(out)}")
    log.handlers, log.propagate = [handler], False
    log.setLevel(logging.DEBUG)
    return log, out


def lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_each_record_is_one_json_object_with_the_call_id():
    log, out = capture()
    log.info("originate call=%s case=%s to=%s", CALL, "C-1", "+8613800138000")
    log.warning("busy", extra={"call_id": "abc"})
    token = current_call_id.set("ctx-call")
    try:
        log.error("no agent")
    finally:
        current_call_id.reset(token)
    log.info("plain")
    first, second, third, fourth = lines(out)
    assert set(first) == {"ts", "level", "logger", "msg", "call_id"}
    assert first["call_id"] == CALL and first["level"] == "INFO"
    assert first["msg"] == f"originate call={CALL} case=C-1 to=+*********8000"
    assert (second["call_id"], third["call_id"]) == ("abc", "ctx-call")
    assert "call_id" not in fourth and fourth["ts"].endswith("+00:00")


def test_phone_numbers_are_masked_everywhere_but_ids_and_times_survive():
    assert mask_phones("call 13800138000 or +8613800138000.") == (
        "call *******8000 or +*********8000."
    )
    assert mask_phones(f"call={CALL} at 12:30:05 amount 123456") == (
        f"call={CALL} at 12:30:05 amount 123456"
    )
    log, out = capture()
    try:
        raise ValueError("bad number +14155550123")
    except ValueError:
        log.exception("failed for %s", "+14155550123")
    [rec] = lines(out)
    text = json.dumps(rec)
    assert "4155550123" not in text and "0123" in rec["msg"] and "+*******0123" in rec["exc"]
