"""A durable local journal of call results the database could not take.

While PostgreSQL is unreachable the runner keeps finished calls' results in memory and retries;
if the process dies then (a crash, a SIGKILL, a power cut), those results — promises to pay
among them — would be lost and the attempts later closed as ``lost``. So each held result is
also appended to a file, as one JSON line, written and ``fsync``-ed before the runner moves on.
Once nothing is held any more the file is deleted.

Files live in ``<dir>/<campaign>/``, one per runner process (``<runner id>.jsonl``), where
``dir`` is ``$PACEDIAL_JOURNAL_DIR``, else ``$XDG_STATE_HOME/pacedial/journal``, else
``~/.local/state/pacedial/journal``. A live runner holds an exclusive ``flock`` on its file for
as long as the file exists; the kernel releases it when the process dies, however it dies. A
runner of the campaign starting on this host *adopts* every file it can lock (its owner is
gone): it copies the results into its own journal, deletes the orphan, and writes them before
it recovers the attempts the dead runner left open. Runners of one campaign sharing a host
never take each other's files.

A line torn by a crash in the middle of its own append is skipped with a warning (that result
had not been acknowledged yet). Results are written through ``finish_attempt``, which closes an
attempt once: one another process closed meanwhile (another host's recovery) is left as is.
"""

from __future__ import annotations

import contextlib
import fcntl
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


def _file_safe(name: str) -> str:
    """``name`` usable as one path component, distinct names staying distinct."""
    tag = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', name)[:80]}-{tag}"


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


def decode_lines(text: str, where: str) -> list[AttemptResult]:
    """Every result in a journal's text, once per call, in order; torn lines skipped."""
    out: dict[str, AttemptResult] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            result = decode_result(line)
        except (ValueError, TypeError) as exc:
            log.warning("journal %s: line %d skipped (%s)", where, number, exc)
            continue
        out.setdefault(result.call_id, result)
    return list(out.values())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _lock(fd: int) -> bool:
    """Take the exclusive lock of an open file; False when a live process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read_all(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")


class ResultJournal:
    """One runner's journal of held results, in its campaign's journal folder."""

    def __init__(self, directory: Path, owner: str) -> None:
        self.directory = directory
        self.path = directory / f"{_file_safe(owner)}.jsonl"
        self._fd: int | None = None  # our file, open and locked, while it exists
        self._ids: set[str] = set()  # call ids already in it

    @classmethod
    def for_campaign(cls, campaign: str, owner: str, base: Path | None = None) -> ResultJournal:
        """The journal of runner ``owner`` of ``campaign`` (under :func:`journal_dir`)."""
        return cls((base or journal_dir()) / _file_safe(campaign), owner)

    def append(self, result: AttemptResult) -> None:
        """Add ``result`` durably (written and fsync-ed) unless the file already holds it."""
        if result.call_id in self._ids:
            return
        try:
            fd = self._own_file()
            os.write(fd, (encode_result(result) + "\n").encode())
            os.fsync(fd)
        except OSError as exc:  # the result stays held in memory; say the disk failed too
            log.error("journal %s: cannot keep call %s: %s", self.path, result.call_id, exc)
            return
        self._ids.add(result.call_id)

    def adopt(self) -> list[AttemptResult]:
        """Results held by runners of this campaign here whose process is gone.

        They are copied into this runner's own journal first, then the orphan files deleted.
        """
        if not self.directory.is_dir():
            return []
        adopted: list[tuple[Path, int]] = []
        found: dict[str, AttemptResult] = {}
        try:
            for path in sorted(self.directory.iterdir()):
                if path == self.path or not (path.suffix == ".jsonl" or path.name[0] == "."):
                    continue
                try:
                    fd = os.open(path, os.O_RDONLY)
                except FileNotFoundError:
                    continue
                if not _lock(fd) or os.fstat(fd).st_nlink == 0:
                    os.close(fd)  # a live runner's file, or one its owner just deleted
                    continue
                adopted.append((path, fd))
                for result in decode_lines(_read_all(fd), str(path)):
                    found.setdefault(result.call_id, result)
            for result in found.values():
                self.append(result)
            if found and not self._ids >= set(found):
                return list(found.values())  # could not copy them: keep the orphans too
            for path, _fd in adopted:
                path.unlink(missing_ok=True)
            _fsync_dir(self.directory)
        finally:
            for _path, fd in adopted:
                os.close(fd)
        if found:
            log.warning("journal %s: %d held call result(s) adopted", self.path, len(found))
        return list(found.values())

    def clear(self) -> None:
        """Nothing is held any more: delete the file (nothing to do when there is none)."""
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        _fsync_dir(self.directory)
        os.close(self._fd)
        self._fd = None
        self._ids.clear()

    def _own_file(self) -> int:
        """Our file, created locked: made under a hidden name, locked, then renamed, so that
        no other runner ever sees it unlocked."""
        if self._fd is not None:
            return self._fd
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        hidden = self.directory / f".{self.path.name}.new"
        for attempt in range(3):
            fd = os.open(hidden, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.rename(hidden, self.path)
            except FileNotFoundError:  # an adopting runner took the empty hidden file: again
                os.close(fd)
                if attempt == 2:
                    raise
                continue
            except OSError:
                os.close(fd)
                raise
            break
        _fsync_dir(self.directory)
        self._fd = fd
        return fd
