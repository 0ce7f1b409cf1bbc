"""Recordings where the PBX writes them, on both simulated PBXs: the path is the PBX's
(MixMonitor's name in Asterisk's monitor directory; an absolute path in FreeSWITCH's
recordings_dir, never a relative name that FreeSWITCH would put under its sounds), the size,
duration and checksum are read from the PBX's folder as this host sees it, a file not there
yet is not reported missing before ``MISSING_AFTER``, and the retention purge deletes the
PBX's files.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from e2e_rig import PBX_KINDS, attempts_of, rig_for
from virtual_time import in_virtual_time

from dialer_core.store.recordings import (
    MISSING_AFTER,
    finalize_recordings,
    local_path,
    purge_recordings,
)


@pytest.mark.parametrize("pbx", PBX_KINDS)
@in_virtual_time
async def test_recordings_are_read_and_purged_where_the_pbx_writes_them(
    db, pbx, tmp_path, monkeypatch
):
    folder = tmp_path / "pbx-recordings"  # the PBX's folder, mounted here at the same path
    monkeypatch.setenv("PACEDIAL_RECORDINGS", str(folder))
    async with rig_for(pbx, db, agents=3, time_scale=40, seed=2, recordings_dir=str(folder)) as rig:
        cid, campaign = await rig.seed_cases(f"rec-{pbx}", 60)
        await rig.run_for(campaign, 4.0)
        started = rig.recordings
    async with db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT r.*, r.call_id::text AS cid, a.ended_at FROM recordings r "
            "JOIN attempts a USING (call_id) WHERE a.campaign_id = $1",
            cid,
        )
    assert rows and sorted(r["path"] for r in rows) == sorted(started)
    for r in rows:
        expected = f"{folder}/{r['cid']}.wav" if pbx == "freeswitch" else f"{r['cid']}.wav"
        assert r["path"] == expected
        data = local_path(folder, r["path"]).read_bytes()  # the file the PBX wrote
        assert r["checked_at"] is not None and r["size_bytes"] == len(data)
        assert r["sha256"] == hashlib.sha256(data).hexdigest() and r["duration_s"] == 1.0

    # A file the PBX has not closed yet (or a lagging mount) is looked for again, and only
    # reported missing once MISSING_AFTER has passed since the call ended.
    late = rows[0]
    hidden = local_path(folder, late["path"]).rename(tmp_path / "closing.wav")
    async with db.acquire() as conn:
        await conn.execute(
            "UPDATE recordings SET checked_at = NULL, size_bytes = NULL, sha256 = NULL "
            "WHERE call_id = $1",
            late["call_id"],
        )
        soon = late["ended_at"] + timedelta(minutes=1)
        assert await finalize_recordings(conn, folder, cid, soon) == 0
        hidden.rename(local_path(folder, late["path"]))
        assert await finalize_recordings(conn, folder, cid, soon) == 1
        filled = await conn.fetchrow("SELECT * FROM recordings WHERE call_id = $1", late["call_id"])
        assert filled["size_bytes"] == late["size_bytes"]
        await conn.execute(
            "UPDATE recordings SET checked_at = NULL WHERE call_id = $1", late["call_id"]
        )
        local_path(folder, late["path"]).rename(tmp_path / "lost.wav")
        overdue = late["ended_at"] + MISSING_AFTER + timedelta(seconds=1)
        assert await finalize_recordings(conn, folder, cid, overdue) == 1
        missing = await conn.fetchrow(
            "SELECT * FROM recordings WHERE call_id = $1", late["call_id"]
        )
        assert missing["checked_at"] is not None and missing["size_bytes"] is None
        # Retention: the PBX's files go, the rows stay (marked purged).
        purged = await purge_recordings(conn, folder, cid, late["ended_at"] + timedelta(days=1))
        left = await conn.fetchval(
            "SELECT count(*) FROM recordings r JOIN attempts a USING (call_id) "
            "WHERE a.campaign_id = $1 AND r.purged_at IS NULL",
            cid,
        )
    assert purged == len(rows) and left == 0
    assert not any(local_path(folder, r["path"]).exists() for r in rows)
    assert await attempts_of(db, cid)
