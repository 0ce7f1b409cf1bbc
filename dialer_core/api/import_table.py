"""The case uploads of one API server by id, for ``GET /api/imports/{id}``."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the importer (and the geocoder's tables) load with the first upload
    from dialer_core.importer import ImportProgress

KEEP_FINISHED = 50  # finished imports kept for GET /api/imports/{id}


class ImportTable:
    """Imports of this server by id: running ones and the last KEEP_FINISHED finished."""

    def __init__(self) -> None:
        self.entries: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def start(self, campaign: str, source: str, size: int) -> str:
        import_id = uuid.uuid4().hex[:16]
        self.entries[import_id] = {
            "import": import_id,
            "campaign": campaign,
            "source": source,
            "state": "running",
            "bytes_total": size,
            "bytes_done": 0,
            "rows_done": 0,
            **dict.fromkeys(("imported", "updated", "unchanged", "rejected"), 0),
        }
        return import_id

    def progress(self, import_id: str, p: ImportProgress) -> None:
        self.entries[import_id].update(
            bytes_done=p.bytes_done,
            rows_done=p.rows_done,
            imported=p.summary.imported,
            updated=p.summary.updated,
            unchanged=p.summary.unchanged,
            rejected=p.summary.rejected,
        )

    def finish(self, import_id: str, body: dict[str, Any]) -> None:
        self.entries[import_id].update(body)
        finished = [k for k, v in self.entries.items() if v["state"] != "running"]
        for old in finished[:-KEEP_FINISHED]:
            del self.entries[old]
