"""Recording routes: list the files of the configured directory, stream one (pii scope).

Names are resolved inside the directory; anything that would leave it (``..``, absolute
paths, symlinks pointing out) is refused with 400 before the file system is touched further.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from aiohttp import web

from dialer_core.api.context import ctx_of
from dialer_core.api.errors import ApiError, query_int
from dialer_core.api.table import PII, READ, Param, Route

TAG = "recordings"
AUDIO = {".wav", ".mp3", ".ogg", ".gsm", ".ulaw", ".alaw", ".sln", ".flac", ".opus"}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def _root(request: web.Request) -> Path:
    root = ctx_of(request).recordings_dir
    if root is None:
        raise ApiError(404, "recordings_disabled", "no recordings directory is configured")
    return root.resolve()


def safe_path(root: Path, name: str) -> Path:
    """``root/name`` if it stays inside ``root``; raises ApiError 400 otherwise."""
    pure = PurePosixPath(name)
    if not name or pure.is_absolute() or ".." in pure.parts or "\\" in name or "\x00" in name:
        raise ApiError(
            400, "bad_path", f"recording name {name!r} must be a path inside the directory"
        )
    path = (root / pure).resolve()
    if not path.is_relative_to(root):
        raise ApiError(400, "bad_path", f"recording name {name!r} leaves the directory")
    return path


def _walk(root: Path, limit: int):  # noqa: ANN202
    stack = [root]
    while stack:
        for entry in os.scandir(stack.pop()):
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False) and Path(entry.name).suffix.lower() in AUDIO:
                yield entry
                limit -= 1
                if limit <= 0:
                    return


async def list_recordings(request: web.Request) -> web.Response:
    root = _root(request)
    call_id = request.query.get("call_id", "").lower()
    limit = query_int(request, "limit", 200, 1, 5000)
    out = []
    if root.is_dir():
        for entry in _walk(root, 100_000):
            found = _UUID.search(entry.name)
            cid = found.group(0).lower() if found else None
            if call_id and cid != call_id:
                continue
            st = entry.stat(follow_symlinks=False)
            out.append(
                {
                    "path": Path(entry.path).relative_to(root).as_posix(),
                    "call_id": cid,
                    "bytes": st.st_size,
                    "modified": datetime.fromtimestamp(st.st_mtime, UTC).isoformat(),
                }
            )
            if len(out) >= limit:
                break
    out.sort(key=lambda r: r["modified"], reverse=True)
    return web.json_response({"recordings": out})


async def download_recording(request: web.Request) -> web.StreamResponse:
    root = _root(request)
    path = safe_path(root, request.match_info["path"])
    if not path.is_file() or path.suffix.lower() not in AUDIO:
        raise ApiError(404, "recording_not_found", f"no recording {request.match_info['path']!r}")
    return web.FileResponse(
        path, headers={"Content-Disposition": f'attachment; filename="{path.name}"'}
    )


def routes() -> list[Route]:
    return [
        Route(
            "GET",
            "/api/recordings",
            list_recordings,
            READ,
            "Recording files (call id from the file name)",
            TAG,
            query=(Param("call_id"), Param("limit", "integer")),
        ),
        Route(
            "GET",
            "/api/recordings/{path:.+}",
            download_recording,
            PII,
            "Download one recording (needs the pii scope)",
            TAG,
            produces="application/octet-stream",
        ),
    ]
