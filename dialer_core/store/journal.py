"""A durable local journal of call results the database could not take.

While PostgreSQL is unreachable the runner keeps finished calls' results in memory and retries;
if the process dies then (a crash, a SIGKILL, a power cut), those results — promises to pay
among them — would be lost and the attempts later closed as ``lost``. So each held result is
also appended to a file here, as one JSON line, flushed and ``fsync``-ed before the runner
moves on. At start the runner replays the file (writing every result it holds, before it
recovers the attempts its previous run left open), and once nothing is held any more the file
is deleted.

One file per runner identity, ``<dir>/<runner id>.jsonl``; ``dir`` is ``$PACEDIAL_JOURNAL_DIR``,
else ``$XDG_STATE_HOME/pacedial/journal``, else ``~/.local/state/pacedial/journal``. A line torn
by a crash in the middle of its own append is skipped with a warning (that result had not been
acknowledged yet). Results replay through ``finish_attempt``, which writes an attempt once: an
attempt another process has already closed meanwhile is left as it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path

from dialer_core.store.attempts import AttemptResult

log = logging.getLogger(__name__)
_DATES = {"ended_at", "next_attempt_at"}
_FIELDS = {f.name for f in fields(AttemptResult)}


def journal_dir() -> Path:
    """Where journals live (see the module docstring)."""
    explicit = os.environ.get("PACEDIAL_JOURNAL_DIR")
    if explicit:
        return Path(explicit)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "pacedial" / "journal"


def encode_result(result: AttemptResult) -> str:
    """One JSON line for ``result`` (datetimes as ISO 8601 with their offset)."""
    doc = asdict(result)
    for key in _DATES:
        value = doc[key]
        doc[key] = value.isoformat() if isinstance(value, datetime) else None
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def decode_result(line: str) -> AttemptResult:
    """The result a line of :func:`encode_result` holds; ValueError when it is not one."""
    doc = json.loads(line)
    if not isinstance(doc, dict) or set(doc) - _FIELDS or "call_id" not in doc:
        raise ValueError("not a journalled attempt result")
    for key in _DATES & set(doc):
        doc[key] = datetime.fromisoformat(doc[key]) if doc[key] else None
    return AttemptResult(**doc)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class ResultJournal:
    """The append-only file of one runner's held results."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ids: set[str] = set()  # call ids already in the file

    @classmethod
    def for_runner(cls, runner_id: str, directory: Path | None = None) -> ResultJournal:
        """The journal of runner ``runner_id`` (its name made file-safe, plus a short hash)."""
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", runner_id)[:80]
        tag = hashlib.sha256(runner_id.encode()).hexdigest()[:8]
        return cls((directory or journal_dir()) / f"{safe}-{tag}.jsonl")

    def append(self, result: AttemptResult) -> None:
        """Add ``result`` durably (written and fsync-ed) unless the file already holds it."""
        if result.call_id in self._ids:
            return
        try:
            created = not self.path.exists()
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (encode_result(result) + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _fsync_dir(self.path.parent)
        except OSError as exc:  # the result stays held in memory; say the disk failed too
            log.error("journal %s: cannot keep call %s: %s", self.path, result.call_id, exc)
            return
        self._ids.add(result.call_id)

    def load(self) -> list[AttemptResult]:
        """Every result in the file, once each, in the order they were held."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        out: dict[str, AttemptResult] = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                result = decode_result(line)
            except (ValueError, TypeError) as exc:
                log.warning("journal %s: line %d skipped (%s)", self.path, number, exc)
                continue
            out.setdefault(result.call_id, result)
        self._ids = set(out)
        if out:
            log.warning("journal %s: replaying %d held call result(s)", self.path, len(out))
        else:
            self._delete()
        return list(out.values())

    def clear(self) -> None:
        """Nothing is held any more: delete the file (cheap when there is none)."""
        if self._ids:
            self._delete()

    def _delete(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        _fsync_dir(self.path.parent)
        self._ids.clear()
