"""``pacedial demo`` followed by ``pacedial audit``: the demo's campaign audits clean (exit 0).

The demo runs in virtual time on the test's pool (the one its ``open_database`` would open
holds no virtual clock still while PostgreSQL works); the audit is the real command.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re

from virtual_time import in_virtual_time

from dialer_core.face import demo
from dialer_core.face.audit_cli import main as audit_main
from dialer_core.store.database import ENV_DSN


@in_virtual_time
async def test_the_demo_campaign_passes_its_own_audit(db, db_dsn, monkeypatch):
    monkeypatch.setenv(ENV_DSN, db_dsn)
    monkeypatch.setattr(demo, "open_database", lambda: contextlib.nullcontext(db))
    out = io.StringIO()
    code = await demo.run_demo(
        duration=10.0,
        agents=6,
        cases=80,
        seed=7,
        time_scale=20.0,  # the demo's default: 200 simulated seconds
        stop=asyncio.Event(),
        port=0,
        out=out,
    )
    assert code == 0
    name = re.search(r"campaign (demo-\S+),", out.getvalue()).group(1)
    report = io.StringIO()
    status = await asyncio.to_thread(audit_main, ["--database", db_dsn, "--campaign", name], report)
    text = report.getvalue().strip()
    assert status == 0, text
    attempts = int(re.search(r"(\d+) attempts, 0 violations$", text).group(1))
    assert attempts > 5
