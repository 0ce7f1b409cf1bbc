"""What a preset refuses at load: a live campaign the law does not allow.

Each preset's ``[lawful]`` table states its floors (a campaign cannot override them):
``min_ring_timeout`` (us/uk: 15 s), ``max_agent_wait`` (2 s: a later connect is an abandoned
call), ``caller_id`` ("e164": every presented number valid E.164, at least one),
``recording_retention_days`` (cn: recorded, kept >= 730 days), ``amd_machine_message``
(us/uk: with AMD on, a MACHINE verdict plays a message, ``[amd] action = "message"``, or goes
to an agent, ``"human"``: a person taken for a machine is an abandoned call, which must hear
the caller's name and number; ``"hangup"`` would give them silence) and ``live_modes_refused``
(``fixed_ratio`` / ``vicidial``: baselines with no abandonment brake, for ``simulate`` only).
A test lab may set ``[compliance] lab_override = true``: each refusal is then logged as a
warning instead; it is never on by default.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import phonenumbers

from dialer_core.config_errors import ConfigError, parse_duration

log = logging.getLogger(__name__)

LAWFUL_KEYS = {
    "min_ring_timeout",
    "max_agent_wait",
    "caller_id",
    "recording_retention_days",
    "amd_machine_message",
    "live_modes_refused",
}


def is_e164(number: Any) -> bool:
    if not isinstance(number, str) or not number.startswith("+"):
        return False
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    formatted = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.is_valid_number(parsed) and formatted == number


def _table(doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = doc.get(name, {})
    return value if isinstance(value, Mapping) else {}


def refusals(
    doc: Mapping[str, Any], floors: Mapping[str, Any], source: str
) -> list[tuple[str, str, Any]]:
    """Each (key, what the preset expects, what the campaign has) the campaign breaks."""
    out: list[tuple[str, str, Any]] = []
    dialing, queue = _table(doc, "dialing"), _table(doc, "queue")
    mode = _table(doc, "pacing").get("mode", "predictive")
    if "min_ring_timeout" in floors:
        low = parse_duration(floors["min_ring_timeout"], "preset", "lawful.min_ring_timeout")
        got = parse_duration(dialing.get("ring_timeout", 30), source, "dialing.ring_timeout")
        if got < low:
            out.append(("dialing.ring_timeout", f"at least {low:g}s (the preset's floor)", got))
    if "max_agent_wait" in floors and mode != "robot":
        high = parse_duration(floors["max_agent_wait"], "preset", "lawful.max_agent_wait")
        got = parse_duration(queue.get("agent_wait", 2), source, "queue.agent_wait")
        if got > high:
            out.append(
                ("queue.agent_wait", f"at most {high:g}s (a later connect is abandoned)", got)
            )
    if floors.get("caller_id") == "e164":
        single = dialing.get("caller_id", "")
        pool = _table(doc, "callerid").get("numbers", [])
        numbers = [e.get("number") for e in pool if isinstance(e, Mapping)]
        if single and not is_e164(single):
            out.append(("dialing.caller_id", "a valid E.164 number like +442071234567", single))
        bad = [n for n in numbers if not is_e164(n)]
        if bad:
            out.append(("callerid.numbers", "valid E.164 numbers only", bad[0]))
        if not single and not numbers:
            out.append(("dialing.caller_id", "a caller ID (or a [callerid] pool)", ""))
    if "recording_retention_days" in floors:
        need = int(floors["recording_retention_days"])
        rec = _table(doc, "recording")
        if rec.get("enabled") is not True:
            out.append(
                (
                    "recording.enabled",
                    "true (collection calls are recorded)",
                    rec.get("enabled", False),
                )
            )
        keep = rec.get("retention_days")
        if keep is not None and (not isinstance(keep, int) or keep < need):
            out.append(("recording.retention_days", f"at least {need} days (or unset: kept)", keep))
    amd = _table(doc, "amd")
    if floors.get("amd_machine_message") is True and amd.get("enabled") is True:
        action = amd.get("action", "hangup")
        if action == "hangup":
            out.append(
                (
                    "amd.action",
                    '"message" or "human" (a person taken for a machine is an abandoned '
                    "call and must get a message)",
                    action,
                )
            )
    if mode in floors.get("live_modes_refused", ()):
        out.append(
            ("pacing.mode", "a mode with an abandonment brake (this one: simulate only)", mode)
        )
    return out


def enforce(doc: Mapping[str, Any], floors: Mapping[str, Any], source: str, override: bool) -> None:
    """Raise ConfigError on the first refusal (file, key, expectation), unless ``override``
    (``[compliance] lab_override = true``): then log every one as a warning."""
    found = refusals(doc, floors, source)
    if not found:
        return
    if not override:
        key, expected, got = found[0]
        raise ConfigError(source, key, f"{expected} under this compliance preset", got)
    for key, expected, got in found:
        log.warning(
            "%s: %s: LAB OVERRIDE of the preset: expected %s, got %r", source, key, expected, got
        )
