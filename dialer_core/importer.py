"""Import a cases CSV of any size: stream, skip unchanged rows, validate off the loop, COPY.

The pipeline behind ``pacedial import`` and the API upload. Reading a chunk runs in a worker
thread and validating it in a worker thread (small files) or worker processes, one per CPU but one
(large files: parsing phone numbers is CPU-bound pure Python), so the event loop keeps serving
calls and HTTP; chunks are written ``WRITERS`` at a time on as many connections (ids claimed in
file order first, phones added in file order: ``_Turns``) while the next ones are validated.
Memory is a few chunks whatever the file's size; every bad row is reported through ``on_error`` as
it is found and the first ``keep_errors`` are kept.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

import asyncpg

from dialer_core.cases_csv import (
    CHUNK_ROWS,
    CaseCsvReader,
    CsvLayout,
    RawRecord,
    duplicate_error,
    validate_records,
)
from dialer_core.config_errors import RowError
from dialer_core.store.case_import import (
    NOTHING,
    CaseWriter,
    IdClaims,
    ImportSummary,
    StagedCase,
    imported_from_files,
    record_import,
    stage,
    unchanged_ids,
)

KEEP_ERRORS = 1000
# The cyclic garbage collector, tuned for a process that holds a few chunks of rows at a time:
# nothing loaded before is ever collected again (phonenumbers' data would otherwise be walked
# by every full collection) and young collections run every 50,000 allocations, not 700.
GC_THRESHOLDS = (50_000, 50, 100)
PARALLEL_FROM_BYTES = 4 << 20  # from ~50,000 rows, validation runs in worker processes
MAX_WORKERS = 8
WRITERS = 2  # chunks written at once, each on its own connection (PostgreSQL uses a CPU each)
DEADLOCK_RETRIES = 3


@dataclass(frozen=True)
class ImportProgress:
    """How far an import is: bytes of the file read, rows settled, the counts so far."""

    bytes_done: int
    bytes_total: int | None
    rows_done: int
    summary: ImportSummary


@dataclass(frozen=True)
class ImportResult:
    encoding: str
    summary: ImportSummary
    errors: tuple[RowError, ...]  # the first KEEP_ERRORS; summary.rejected counts them all
    committed: bool  # False: --strict and a row was rejected, so nothing was kept


@dataclass
class _Chunk:
    rows: list[StagedCase] = field(default_factory=list)
    skipped: list[RawRecord] = field(default_factory=list)  # unchanged since the last import
    errors: list[RowError] = field(default_factory=list)


async def import_case_file(
    pool: asyncpg.Pool,
    campaign_id: int,
    stream: BinaryIO,
    *,
    source: str,
    default_country: str = "CN",
    encoding: str = "auto",
    strict: bool = False,
    bytes_total: int | None = None,
    on_progress: Callable[[ImportProgress], None] | None = None,
    on_error: Callable[[RowError], None] | None = None,
    keep_errors: int = KEEP_ERRORS,
    chunk_rows: int = CHUNK_ROWS,
) -> ImportResult:
    """Import ``stream`` into a campaign; ``strict`` keeps nothing if any row is rejected.

    Raises CsvFileError (no header, missing columns) or LookupError (unknown encoding) before
    anything is written."""
    reader = await asyncio.to_thread(
        CaseCsvReader,
        stream,
        default_country=default_country,
        encoding=encoding,
        chunk_rows=chunk_rows,
    )
    chunks = reader.chunks()
    kept: list[RowError] = []

    def report(errors: list[RowError]) -> None:
        for err in errors:
            if len(kept) < keep_errors:
                kept.append(err)
            if on_error is not None:
                on_error(err)

    validator, workers = _validator(bytes_total)
    check_lock = asyncio.Lock()  # one query at a time on the connection that checks digests
    depth = workers + 1  # chunks read and validated ahead of the one being written
    # --strict: one transaction, so one connection; else chunks are written WRITERS at once.
    width = 1 if strict else WRITERS

    async def prepare(raw: tuple[list[RawRecord], list[RowError]]) -> _Chunk:
        return await _prepare(
            check_conn if probe else None,
            check_lock,
            validator,
            campaign_id,
            reader.layout,
            default_country,
            *raw,
        )

    async with contextlib.AsyncExitStack() as stack:
        check_conn = await stack.enter_async_context(pool.acquire())
        # A campaign no file was ever imported into has no unchanged rows: no probe per row.
        probe = await imported_from_files(check_conn, campaign_id)
        claims = await stack.enter_async_context(IdClaims(check_conn))
        writers = []
        for _ in range(width):
            conn = await stack.enter_async_context(pool.acquire())
            writers.append(await stack.enter_async_context(CaseWriter(conn, campaign_id)))
        turns = _Turns(check_conn.get_server_pid()) if width > 1 else None
        outer = writers[0].conn.transaction()
        if strict:
            await outer.start()
        total, rows_done = NOTHING, 0
        ahead: collections.deque[asyncio.Task[_Chunk]] = collections.deque()
        writing: collections.deque[asyncio.Task[tuple[ImportSummary, list[RowError], int]]]
        writing = collections.deque()
        exhausted, number = False, 0

        async def settle_oldest() -> None:
            nonlocal total, rows_done
            done, errors, settled = await writing.popleft()
            total, rows_done = total + done, rows_done + settled
            report(errors)
            if on_progress is not None:
                on_progress(ImportProgress(reader.bytes_read, bytes_total, rows_done, total))

        try:
            while True:
                while len(ahead) < depth and not exhausted:
                    raw = await asyncio.to_thread(next, chunks, None)
                    if raw is None:
                        exhausted = True
                    else:
                        ahead.append(asyncio.create_task(prepare(raw)))
                if not ahead:
                    break
                batch = await _claim(claims, check_lock, reader.layout, await ahead.popleft())
                if len(writing) == width:
                    await settle_oldest()
                writer = writers[number % width]
                writing.append(asyncio.create_task(_write(writer, batch, turns, number)))
                number += 1
            while writing:
                await settle_oldest()
            committed = not (strict and total.rejected)
            if strict:
                await (outer.commit() if committed else outer.rollback())
        except BaseException:
            for task in (*ahead, *writing):  # let their queries end before the connections go back
                task.cancel()
            for task in (*ahead, *writing):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if strict:
                await outer.rollback()
            raise
        finally:
            if validator is not None:  # without waiting: never block the event loop
                validator.shutdown(wait=False, cancel_futures=True)
        await record_import(
            writers[0].conn,
            campaign_id,
            source,
            total,
            kept,
            encoding=reader.encoding,
            strict=strict,
            committed=committed,
        )
    return ImportResult(reader.encoding, total, tuple(kept), committed)


def _validator(bytes_total: int | None) -> tuple[ProcessPoolExecutor | None, int]:
    """Worker processes for a large file (phone parsing is CPU-bound pure Python) and how
    many; a small file is validated in one thread of this process (None, 1)."""
    # One CPU stays with this process and PostgreSQL, which write while the workers validate;
    # each worker holds its own copy of phonenumbers' data (~100 MB), so no more than that.
    workers = min((os.cpu_count() or 1) - 1, MAX_WORKERS)
    if bytes_total is None or bytes_total < PARALLEL_FROM_BYTES or workers < 1:
        return None, 1
    spawn = multiprocessing.get_context("spawn")  # never fork a process running asyncio
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=spawn, initializer=bulk_gc)
    return pool, workers


def bulk_gc() -> None:
    """Tune this process's garbage collector for bulk work (``GC_THRESHOLDS``): for the
    validation workers and the ``pacedial import`` command, never for a long-lived server."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def _prepare(
    conn: asyncpg.Connection | None,
    lock: asyncio.Lock,
    validator: Executor | None,
    campaign_id: int,
    layout: CsvLayout,
    default_country: str,
    records: list[RawRecord],
    bad_lines: list[RowError],
) -> _Chunk:
    """Skip the rows imported before from the same text (``conn`` None: there are none);
    validate the rest off the loop."""
    keyed = [(r, r.external_id(layout)) for r in records]
    ids = [eid for _, eid in keyed if eid]
    digests = [r.digest for r, eid in keyed if eid]
    same = set()
    if ids and conn is not None:
        async with lock:
            same = await unchanged_ids(conn, campaign_id, ids, digests)
    chunk = _Chunk(errors=list(bad_lines))
    fresh = []
    for rec, eid in keyed:
        (chunk.skipped if eid in same else fresh).append(rec)
    if validator is None:
        valid, invalid = await asyncio.to_thread(validate_staged, layout, fresh, default_country)
    else:
        plain = [tuple(rec) for rec in fresh]  # plain tuples pickle ~10x faster
        valid, invalid = await asyncio.get_running_loop().run_in_executor(
            validator, validate_staged, layout, plain, default_country
        )
    chunk.rows, chunk.errors = valid, chunk.errors + invalid
    return chunk


def validate_staged(
    layout: CsvLayout, records: Sequence[tuple[int, tuple[str, ...], int]], default_country: str
) -> tuple[list[StagedCase], list[RowError]]:
    """``validate_records``, each valid row as the writer stages it (runs in a worker)."""
    valid, invalid = validate_records(layout, records, default_country)
    return [stage(row, digest) for row, digest in valid], invalid


@dataclass
class _Batch:
    """A chunk after its ids were claimed: the rows to write and what is already settled."""

    rows: list[StagedCase]
    skipped: int  # unchanged since the last import
    errors: list[RowError]  # sorted by line
    settled: int  # lines of the chunk: rows, skipped and rejected


async def _claim(claims: IdClaims, lock: asyncio.Lock, layout: CsvLayout, chunk: _Chunk) -> _Batch:
    """Settle duplicate ids (first line wins, also across chunks: chunks claim in file order)."""
    candidates = sorted(
        [(staged[0], staged[1], staged) for staged in chunk.rows]
        + [(rec.line, rec.external_id(layout), None) for rec in chunk.skipped]
    )
    errors = list(chunk.errors)
    first_here: dict[str, int] = {}
    unique = []
    for line, eid, payload in candidates:
        first = first_here.setdefault(eid, line)
        if first != line:
            errors.append(duplicate_error(layout, line, eid, first))
        else:
            unique.append((line, eid, payload))
    async with lock:
        earlier = await claims.claim([eid for _, eid, _ in unique], [ln for ln, _, _ in unique])
    rows, skipped = [], 0
    for line, eid, payload in unique:
        if eid in earlier:
            errors.append(duplicate_error(layout, line, eid, earlier[eid]))
        elif payload is None:
            skipped += 1
        else:
            rows.append(payload)
    errors.sort(key=lambda e: e.line)
    settled = len(chunk.rows) + len(chunk.skipped) + len({e.line for e in chunk.errors})
    return _Batch(rows, skipped, errors, settled)


class _Turns:
    """Advisory locks that make chunks add their phones in file order when several are
    written at once: chunk n holds (import, n) for its whole transaction and waits for
    (import, n - 1) before adding phones. The key of the import is a backend's process id, so
    imports running at once never share keys; waits are PostgreSQL's, so a deadlock (a chunk
    updating a case that an earlier chunk's debtor merge must update too) is detected."""

    def __init__(self, import_key: int) -> None:
        self.key = import_key
        self.started: dict[int, asyncio.Event] = {}

    def turn(self, number: int) -> tuple[int, int]:
        return (self.key, number % (1 << 31))

    def event(self, number: int) -> asyncio.Event:
        return self.started.setdefault(number, asyncio.Event())


async def _write(
    writer: CaseWriter, batch: _Batch, turns: _Turns | None, number: int
) -> tuple[ImportSummary, list[RowError], int]:
    """Write one claimed chunk in its own transaction (a savepoint under --strict); a chunk
    chosen as a deadlock's victim is written again."""
    after = None
    for attempt in range(DEADLOCK_RETRIES + 1):
        try:
            async with writer.conn.transaction():
                if turns is not None:
                    try:
                        await writer.take_turn(turns.turn(number))
                    finally:
                        turns.event(number).set()
                    if number > 0:
                        # the chunk before holds its lock from its first statement on
                        await turns.event(number - 1).wait()
                        after = turns.turn(number - 1)
                written = await writer.write(batch.rows, after=after)
            break
        except asyncpg.DeadlockDetectedError:
            if attempt == DEADLOCK_RETRIES:
                raise
    if turns is not None:
        turns.started.pop(number - 1, None)
    summary = written + ImportSummary(0, 0, batch.skipped, len(batch.errors))
    return summary, batch.errors, batch.settled
