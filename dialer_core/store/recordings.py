"""Recording files: fill in duration, size and checksum once written; purge past retention."""

from __future__ import annotations

import hashlib
import wave
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

import asyncpg

MISSING_AFTER = timedelta(minutes=10)  # after the call's end, a recording not found is missing


def inspect_file(path: Path) -> tuple[float | None, int, str]:
    """(duration in seconds if a readable WAV, size in bytes, sha256 hex) of a recording."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    try:
        with wave.open(str(path), "rb") as w:
            duration = w.getnframes() / float(w.getframerate())
    except (wave.Error, EOFError):
        duration = None
    return duration, path.stat().st_size, digest.hexdigest()


def local_path(directory: Path, pbx_path: str) -> Path:
    """Where this host reads a recording the PBX wrote at ``pbx_path`` (a name in its monitor
    directory on Asterisk, an absolute path in its recordings_dir on FreeSWITCH): ``directory``
    is the PBX's recordings folder as this host sees it (a mount), so the file name decides."""
    return directory / PurePosixPath(pbx_path).name


async def finalize_recordings(
    conn: asyncpg.Connection,
    directory: Path,
    campaign_id: int,
    now: datetime | None = None,
) -> int:
    """Check the recordings of this campaign's finished calls; returns how many were filled.

    The file lives where the PBX wrote it (``directory`` is that folder as this host sees it).
    A file not there yet is looked for again at the next check (the PBX closes it at the
    hang-up, a mount may lag); only ``MISSING_AFTER`` past the call's end is it marked checked
    with no size, so an operator can find it. ``now``: the clock (default: the database's).
    """
    rows = await conn.fetch(
        """SELECT r.call_id, r.path,
                  a.ended_at < coalesce($2::timestamptz, now()) - $3::interval AS overdue
           FROM recordings r JOIN attempts a USING (call_id)
           WHERE r.checked_at IS NULL AND a.state = 'done' AND a.campaign_id = $1""",
        campaign_id,
        now,
        MISSING_AFTER,
    )
    filled = 0
    for row in rows:
        path = local_path(directory, row["path"])
        if path.is_file():
            duration, size, sha = inspect_file(path)
        elif row["overdue"] is False:
            continue  # not yet: the PBX may still be closing it
        else:
            duration, size, sha = None, None, None
        filled += 1
        await conn.execute(
            """UPDATE recordings SET duration_s = $2, size_bytes = $3, sha256 = $4,
                      checked_at = now() WHERE call_id = $1""",
            row["call_id"],
            duration,
            size,
            sha,
        )
    return filled


async def purge_recordings(
    conn: asyncpg.Connection, directory: Path, campaign_id: int, older_than: datetime
) -> int:
    """Delete this campaign's recording files started before ``older_than``; keep the rows."""
    rows = await conn.fetch(
        """SELECT r.call_id, r.path FROM recordings r JOIN attempts a USING (call_id)
           WHERE r.purged_at IS NULL AND r.started_at < $2 AND a.campaign_id = $1""",
        campaign_id,
        older_than,
    )
    for row in rows:
        local_path(directory, row["path"]).unlink(missing_ok=True)
        await conn.execute(
            "UPDATE recordings SET purged_at = now() WHERE call_id = $1", row["call_id"]
        )
    return len(rows)
