"""``pacedial import``: a cases CSV into a campaign, with a progress bar and a summary line.

Each rejected row is printed on stderr as it is found (``file: line N, column C: reason``); on a
terminal a progress bar (tqdm) follows the bytes read. The exit status is 0 when every row was
taken, 3 (EXIT_ROWS_REJECTED) when some were rejected; ``--strict`` then keeps none.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from dialer_core.config_errors import InputError, RowError
from dialer_core.importer import PARALLEL_FROM_BYTES, ImportProgress, bulk_gc, import_case_file
from dialer_core.operator_errors import EXIT_ROWS_REJECTED, file_missing
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.database import open_database


async def run_import(
    csv_path: str,
    campaign: str,
    *,
    country: str = "CN",
    encoding: str = "auto",
    strict: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Import one file; returns the exit status."""
    path = Path(csv_path)
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise file_missing(str(path), exc, "the CSV file") from exc
    with stream:
        size = os.fstat(stream.fileno()).st_size
        if size >= PARALLEL_FROM_BYTES:
            bulk_gc()  # `pacedial import` of a large file: this process does nothing else
        bar = tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            desc=path.name,
            file=err,
            disable=not err.isatty(),
            leave=False,
        )

        def progress(p: ImportProgress) -> None:
            bar.update(p.bytes_done - bar.n)
            bar.set_postfix_str(f"{p.rows_done:,} rows, {p.summary.rejected:,} rejected")

        def rejected(e: RowError) -> None:
            bar.write(f"{path}: {e}", file=err)

        async with open_database() as pool:
            async with pool.acquire() as conn:
                campaign_id = await ensure_campaign(conn, campaign)
            try:
                result = await import_case_file(
                    pool,
                    campaign_id,
                    stream,
                    source=str(path),
                    default_country=country,
                    encoding=encoding,
                    strict=strict,
                    bytes_total=size,
                    on_progress=progress,
                    on_error=rejected,
                )
            except LookupError as exc:  # an unknown --encoding
                raise InputError(f"--encoding: unknown encoding {encoding!r} ({exc})") from exc
            finally:
                bar.close()
    summary = result.summary
    if not result.committed:
        print(f"{path} ({result.encoding}): nothing imported (--strict), {summary}", file=out)
        print(
            f"{path}: {summary.rejected} row(s) rejected (listed above); fix them and import "
            "the file again",
            file=err,
        )
        return EXIT_ROWS_REJECTED
    print(f"{path} ({result.encoding}): {summary}", file=out)
    if not summary.rejected:
        return 0
    print(
        f"{path}: {summary.rejected} row(s) rejected (listed above), the other rows are "
        "imported; fix those rows and import the file again",
        file=err,
    )
    return EXIT_ROWS_REJECTED
