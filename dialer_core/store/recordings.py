"""Recording files: fill in duration, size and checksum once written; purge past retention."""

from __future__ import annotations

import hashlib
import wave
from datetime import datetime
from pathlib import Path

import asyncpg


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


async def finalize_recordings(conn: asyncpg.Connection, directory: Path, campaign_id: int) -> int:
    """Check the recordings of this campaign's finished calls; returns how many were filled.

    The file lives where the PBX wrote it (``directory`` is that folder as this host sees it).
    A missing file is marked checked with no size, so an operator can find it.
    """
    rows = await conn.fetch(
        """SELECT r.call_id, r.path FROM recordings r JOIN attempts a USING (call_id)
           WHERE r.checked_at IS NULL AND a.state = 'done' AND a.campaign_id = $1""",
        campaign_id,
    )
    for row in rows:
        path = directory / Path(row["path"]).name
        if path.is_file():
            duration, size, sha = inspect_file(path)
        else:
            duration, size, sha = None, None, None
        await conn.execute(
            """UPDATE recordings SET duration_s = $2, size_bytes = $3, sha256 = $4,
                      checked_at = now() WHERE call_id = $1""",
            row["call_id"],
            duration,
            size,
            sha,
        )
    return len(rows)


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
        (directory / Path(row["path"]).name).unlink(missing_ok=True)
        await conn.execute(
            "UPDATE recordings SET purged_at = now() WHERE call_id = $1", row["call_id"]
        )
    return len(rows)
