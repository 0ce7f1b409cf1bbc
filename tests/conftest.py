"""Shared fixtures: one embedded PostgreSQL for the session, a fresh database per test."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import asyncpg
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from db_stock import DatabaseStock  # noqa: E402

from dialer_core.store.database import create_pool  # noqa: E402
from dialer_core.store.embedded import EmbeddedPostgres  # noqa: E402
from dialer_core.store.migrate import migrate  # noqa: E402

TEMPLATE = "pacedial_template"
MEMORY = Path("/dev/shm")  # a tmpfs on Linux: the cluster's files never touch the disk
CLONE = {"strategy": "WAL_LOG"}  # CREATE DATABASE's strategy for the per-test copies
# Runners journal held results to disk (dialer_core/store/journal.py): one place per test run.
os.environ.setdefault("PACEDIAL_JOURNAL_DIR", tempfile.mkdtemp(prefix="pacedial-journal-"))


@pytest.fixture(scope="session")
def pg_server():
    """The embedded server (or $PACEDIAL_TEST_DATABASE_URL's server) with a migrated template."""
    external = os.environ.get("PACEDIAL_TEST_DATABASE_URL")
    if external:
        yield external.rsplit("/", 1)[0]
        return
    memory = scratch_dir()
    root = Path(tempfile.mkdtemp(prefix="pacedial-test-", dir=memory))
    root.chmod(0o755)
    # A throwaway cluster: no fsync (every test's CREATE DATABASE and commits would wait on
    # the disk), in memory where the machine has a tmpfs (creating and dropping a database
    # per test costs ~20 ms there against ~0.4 s on a busy disk); what the tests check never
    # depends on surviving a machine crash.
    server = EmbeddedPostgres(root / "pg", database=TEMPLATE, durable=False)
    dsn = server.start()
    # How a test's database is copied from the template: file by file in memory (no WAL to
    # write), through the WAL on a disk (no checkpoint to wait for).
    CLONE["strategy"] = "FILE_COPY" if memory else "WAL_LOG"
    yield dsn.rsplit("/", 1)[0]
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def scratch_dir() -> str | None:
    """``/dev/shm`` when it is a writable folder with room to spare, else the temp folder."""
    try:
        room = shutil.disk_usage(MEMORY).free
    except OSError:
        return None
    return str(MEMORY) if room > 2 << 30 and os.access(MEMORY, os.W_OK | os.X_OK) else None


@pytest.fixture(scope="session")
async def pg_template(pg_server):
    conn = await asyncpg.connect(f"{pg_server}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
        await conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    finally:
        await conn.close()
    conn = await asyncpg.connect(f"{pg_server}/{TEMPLATE}")
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return TEMPLATE


@pytest.fixture(scope="session")
def db_stock(pg_server, pg_template):
    """Per-test databases, cloned ahead and dropped behind on a thread (tests/db_stock.py)."""
    stock = DatabaseStock(pg_server, pg_template, CLONE["strategy"])
    yield stock
    stock.close()


@pytest.fixture
async def db_dsn(pg_server, db_stock):
    """A freshly migrated database of its own for one test."""
    name = await db_stock.take()
    yield f"{pg_server}/{name}"
    db_stock.give_back(name)


@pytest.fixture
async def db(db_dsn):
    # One connection up front (the pool opens more as a test needs them): most tests use one.
    pool = await create_pool(db_dsn, min_size=1)
    yield pool
    await pool.close()


@pytest.fixture(scope="session", autouse=True)
def shipped_password_hasher():
    """Passwords are hashed with argon2's cheapest parameters in the tests
    (``argon2.profiles.CHEAPEST``, the library's profile for tests): at the shipped cost each
    hash or check takes ~0.1-0.2 s of CPU and the suite logs people in some fifty times. Yields
    the shipped hasher, whose cost has its own test (tests/test_people_api.py)."""
    from argon2 import PasswordHasher, profiles

    from dialer_core import accounts

    shipped = accounts._hasher
    accounts._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    yield shipped
    accounts._hasher = shipped


@pytest.fixture(scope="session")
def sounds_dir(tmp_path_factory) -> Path:
    """One folder of rendered robot prompts for the session ($PACEDIAL_SOUNDS of the robot
    campaigns): a prompt's file is named by the hash of engine, voice and text, so a prompt is
    rendered once, by the first test that speaks it."""
    return tmp_path_factory.mktemp("sounds")


CHROMIUM = "/usr/bin/chromium"  # Debian's Chromium, driven by Playwright (no downloaded browser)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # tests/test_hostile_pages.py: the attacker's name resolves to us (DNS rebinding).
    "--host-resolver-rules=MAP rebind.attacker.test 127.0.0.1",
]


@pytest.fixture(scope="session")
async def chromium():
    """One headless Chromium for the session, started by the first test that needs it."""
    from playwright.async_api import async_playwright  # only the browser tests pay for it

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def browser(chromium):
    """The session's Chromium; every page a test opened (each in a context of its own, with
    its own cookies) is closed after the test."""
    yield chromium
    for context in chromium.contexts:
        await context.close()


def pytest_terminal_summary(terminalreporter):
    """Name the artifacts tests left behind (e.g. the dashboard screenshot), even with -q."""
    module = sys.modules.get("test_dashboard_browser")
    for line in getattr(module, "ARTIFACTS", []):
        terminalreporter.write_line(line)
