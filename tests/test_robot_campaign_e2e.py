"""A mixed campaign over real sockets, per PBX driver: low DPD to the robot, the rest to humans."""

from __future__ import annotations

import hashlib

import pytest
from e2e_rig import PBX_KINDS, attempts_of, campaign_doc, rig_for
from virtual_time import in_virtual_time

from dialer_core.campaign.config import parse_campaign

ROBOT_OUTCOMES = {
    "promise_to_pay",
    "refused",
    "wrong_party",
    "third_party",
    "no_input",
    "hung_up",
    "transferred",
    "done",
}


def mixed_doc(name: str) -> dict:
    doc = campaign_doc(name, lines_per_agent=2.0)
    doc["routing"] = {
        "default": {"action": "queue", "queue": "collectors"},
        "rules": [
            {"name": "early stage robot", "dpd_max": 60, "action": "robot", "script": "reminder_zh"}
        ],
    }
    doc["amd"] = {"enabled": True, "action": "hangup"}
    doc["recording"] = {"enabled": True}
    return doc


@pytest.fixture(params=PBX_KINDS)
def pbx(request) -> str:
    """The PBX a test runs against: each test runs once per driver."""
    return request.param


@in_virtual_time
async def test_mixed_campaign_routes_by_dpd_and_records_robot_outcomes(
    db, pbx, tmp_path, monkeypatch, sounds_dir
):
    """Routing by DPD, robot outcomes, AMD and recordings through the PBX-neutral session calls.

    Asterisk runs MixMonitor and AMD() over FastAGI; FreeSWITCH runs record_session and mod_amd
    over an outbound socket. The FreeSWITCH-only checks of the former
    test_campaign_e2e_freeswitch.py (AMD statuses, machines present, the PBX's own list of
    recordings, agent connects and states) hold for both and are kept for both.
    """
    monkeypatch.setenv("PACEDIAL_SOUNDS", str(sounds_dir))
    monkeypatch.setenv("PACEDIAL_RECORDINGS", str(tmp_path / "rec"))
    rig = rig_for(pbx, db, agents=3, time_scale=20, seed=4, recordings_dir=str(tmp_path / "rec"))
    async with rig:
        cid, _ = await rig.seed_cases("mixed", 200)
        campaign = parse_campaign(mixed_doc("mixed"), "mixed.toml")
        runner = await rig.run_for(campaign, 8.0)
        rows = await attempts_of(db, cid)
        async with db.acquire() as conn:
            dpd = dict(await conn.fetch("SELECT id, days_past_due FROM cases"))
            amd = await conn.fetch("SELECT * FROM amd_decisions")
            recordings = await conn.fetch(
                "SELECT call_id::text, path, duration_s, sha256, size_bytes FROM recordings"
            )
        recorded = rig.recordings
    answered = [r for r in rows if r["answered_at"] is not None]
    assert answered
    robot = [r for r in answered if r["detail"].get("handled_by") == "robot"]
    human = [r for r in answered if r["detail"].get("handled_by") == "human"]
    assert robot and human
    assert all(dpd[r["case_id"]] <= 60 for r in robot)
    assert all(dpd[r["case_id"]] > 60 for r in human)
    assert {r["disposition"] for r in robot} <= ROBOT_OUTCOMES
    for r in robot:
        assert r["detail"]["robot_outcome"] and r["detail"]["script"] == "reminder_zh"
        if r["disposition"] == "promise_to_pay":
            assert r["detail"]["ptp_date"] and r["detail"]["ptp_amount_minor"] > 0
    # Every answered call passed AMD and was recorded under its call id.
    assert {str(a["call_id"]) for a in amd} == {r["cid"] for r in answered}
    assert {a["status"] for a in amd} <= {"HUMAN", "MACHINE", "NOTSURE", "HANGUP"}
    assert {rec["call_id"] for rec in recordings} == {r["cid"] for r in answered}
    # The PBX started exactly the recordings the database lists, each once.
    assert sorted(recorded) == sorted(rec["path"] for rec in recordings)
    # Asterisk: MixMonitor's relative name (its monitor directory); FreeSWITCH: the absolute
    # path in its recordings_dir (a relative name would land in its sounds).
    folder = f"{tmp_path / 'rec'}/" if pbx == "freeswitch" else ""
    for rec in recordings:  # the simulated PBX wrote a real file; its facts were filled in
        assert rec["path"] == f"{folder}{rec['call_id']}.wav"
        data = (tmp_path / "rec" / f"{rec['call_id']}.wav").read_bytes()
        assert rec["sha256"] == hashlib.sha256(data).hexdigest()
        assert rec["size_bytes"] == len(data) and rec["duration_s"] == 1.0
    machines = {str(a["call_id"]) for a in amd if a["status"] == "MACHINE"}
    assert machines, "the callee mix has answering machines"
    assert all(r["disposition"] == "machine" for r in answered if r["cid"] in machines)
    assert runner.stats.connected >= 1
    assert {status.value for status, _ in runner.book.agents.values()} <= {
        "idle",
        "talking",
        "wrapup",
        "paused",
        "logged_out",
    }
