"""``pacedial demo`` followed by ``pacedial audit``: the demo's campaign audits clean (exit 0)."""

from __future__ import annotations

import asyncio
import io
import re

from dialer_core.face.audit_cli import main as audit_main
from dialer_core.face.demo import run_demo
from dialer_core.store.database import ENV_DSN


async def test_the_demo_campaign_passes_its_own_audit(db, db_dsn, monkeypatch):
    monkeypatch.setenv(ENV_DSN, db_dsn)
    out = io.StringIO()
    code = await run_demo(
        duration=10.0,
        agents=6,
        cases=80,
        seed=7,
        # 10 simulated seconds per real second: the 2-second rule is 200 ms of real time, which
        # a loaded test machine still meets (the demo's default is 20).
        time_scale=10.0,
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
