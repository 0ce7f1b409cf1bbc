"""Presets refuse unlawful live campaigns at load, naming the file and the key; a lab override
logs them instead."""

from __future__ import annotations

import logging

import pytest

from dialer_core.campaign.config import parse_campaign
from dialer_core.config_errors import ConfigError, InputError


def doc(preset: str, **tables) -> dict:
    base = {
        "campaign": {"name": "c"},
        "pacing": {"mode": "progressive"},
        "dialing": {"caller_id": "+442071234567", "ring_timeout": 20},
        "queue": {"agent_wait": 2},
        "compliance": {"preset": preset},
        "recording": {"enabled": True},
    }
    for name, table in tables.items():
        base[name] = {**base.get(name, {}), **table}
    return base


@pytest.mark.parametrize(
    ("preset", "tables", "key"),
    [
        ("uk", {"dialing": {"ring_timeout": 10}}, "dialing.ring_timeout"),
        ("us", {"dialing": {"ring_timeout": "14s"}}, "dialing.ring_timeout"),
        ("uk", {"queue": {"agent_wait": 3}}, "queue.agent_wait"),
        ("cn", {"queue": {"agent_wait": 10}}, "queue.agent_wait"),
        ("uk", {"dialing": {"caller_id": ""}}, "dialing.caller_id"),
        ("us", {"dialing": {"caller_id": "02071234567"}}, "dialing.caller_id"),
        ("cn", {"callerid": {"numbers": [{"number": "+86123"}]}}, "callerid.numbers"),
        ("cn", {"recording": {"enabled": False}}, "recording.enabled"),
        ("cn", {"recording": {"retention_days": 365}}, "recording.retention_days"),
        ("uk", {"pacing": {"mode": "fixed_ratio"}}, "pacing.mode"),
        ("cn", {"pacing": {"mode": "vicidial"}}, "pacing.mode"),
        ("uk", {"amd": {"enabled": True}}, "amd.action"),  # hangup: silence for a person
        ("us", {"amd": {"enabled": True, "action": "hangup"}}, "amd.action"),
    ],
)
def test_each_unlawful_setting_is_refused_naming_file_and_key(preset, tables, key):
    with pytest.raises(ConfigError) as err:
        parse_campaign(doc(preset, **tables), "lab.toml")
    assert str(err.value).startswith(f"lab.toml: {key}: expected ")
    assert "preset" in str(err.value)


def test_lawful_campaigns_load_under_every_preset():
    for preset in ("cn", "us", "uk"):
        assert parse_campaign(doc(preset), "ok.toml").compliance.preset == preset
    kept = doc("cn", recording={"retention_days": 730})
    assert parse_campaign(kept, "ok.toml")
    # AMD under us/uk: a MACHINE verdict leaves a message, or goes to an agent; cn: no rule.
    message = {"enabled": True, "action": "message", "message_prompt": "callback"}
    for preset, amd in (("uk", message), ("us", {"enabled": True, "action": "human"})):
        assert parse_campaign(doc(preset, amd=amd), "ok.toml").compliance.preset == preset
    assert parse_campaign(doc("cn", amd={"enabled": True}), "ok.toml")
    # No preset: no floors (the operator chose no law).
    bare = doc("", dialing={"ring_timeout": 10, "caller_id": ""})
    del bare["compliance"]
    assert parse_campaign(bare, "ok.toml").ring_timeout == 10


def test_the_floors_cannot_be_lowered_by_the_campaign():
    d = doc("uk")
    d["compliance"]["lawful"] = {"min_ring_timeout": "5s"}
    with pytest.raises(InputError, match="compliance.lawful"):
        parse_campaign(d, "lab.toml")


def test_lab_override_is_off_by_default_and_logs_every_refusal(caplog):
    unlawful = doc("uk", dialing={"ring_timeout": 10}, pacing={"mode": "fixed_ratio"})
    unlawful["compliance"]["lab_override"] = True
    with caplog.at_level(logging.WARNING, logger="dialer_core.compliance.lawful"):
        camp = parse_campaign(unlawful, "lab.toml")
    assert camp.ring_timeout == 10
    logged = [r.getMessage() for r in caplog.records]
    assert any("dialing.ring_timeout" in m and "LAB OVERRIDE" in m for m in logged)
    assert any("pacing.mode" in m and "lab.toml" in m for m in logged)
