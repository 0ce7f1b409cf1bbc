"""A normal (non-editable) install works: the wheel carries migrations, configs and static files.

The wheel is built from a copy of the sources (what an sdist holds), installed with --no-deps
into a fresh venv that reuses this interpreter's site-packages for the dependencies, and the
installed ``pacedial`` runs the demo on an empty database, away from the checkout.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from dialer_core.package_data import MissingPackageData
from dialer_core.store.migrate import discover

ROOT = Path(__file__).resolve().parents[1]
SOURCES = (
    "pyproject.toml",
    "setup.py",
    "README.md",
    "sql",
    "conf",
    "dialer_core",
    "pbx",
    "agi_scripts",
)


def _run(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin/ folder of a fresh venv where the built wheel is installed."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, src / name)
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "-w",
            str(work / "dist"),
            str(src),
        ]
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "dist").glob("pacedial-*.whl")
    venv = work / "venv"
    made = _run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)]
    )
    assert made.returncode == 0, made.stderr
    # pip comes from the reused site-packages; the wheel goes into the venv, even when those
    # site-packages hold a pacedial of their own (an editable install of a checkout).
    done = _run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-compile",  # the demo below imports the modules it needs: no other .pyc
            "--ignore-installed",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            str(wheel),
        ]
    )
    assert done.returncode == 0, done.stderr
    return venv / "bin"


def _clean_env(home: Path, dsn: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PACEDIAL_HOME=str(home), PACEDIAL_DATABASE_URL=dsn)
    return env


@pytest.fixture
async def empty_dsn(pg_server):
    """An empty database (no tables at all): the installed package must create them."""
    name = f"w_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(f"{pg_server}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield f"{pg_server}/{name}"
    admin = await asyncpg.connect(f"{pg_server}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_installed_wheel_runs_the_demo_on_an_empty_database(installed, empty_dsn, tmp_path):
    env = _clean_env(tmp_path / "home", empty_dsn)
    where = await asyncio.to_thread(
        _run,
        [str(installed / "python"), "-c", "import dialer_core; print(dialer_core.__file__)"],
        env=env,
        cwd=tmp_path,
    )
    assert str(installed.parent) in where.stdout, "the venv must import its own copy"
    demo = await asyncio.to_thread(
        _run,
        [
            str(installed / "pacedial"),
            "demo",
            # One real second at 60x: a simulated minute, calls placed in the first round, and
            # the calls in flight at the stop finish in a few real seconds.
            "--duration",
            "1",
            "--time-scale",
            "60",
            "--cases",
            "60",
            "--agents",
            "3",
            "--port",
            "0",
        ],
        env=env,
        cwd=tmp_path,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "imported cases: imported 60" in demo.stdout
    conn = await asyncpg.connect(empty_dsn)
    try:
        migrations = await conn.fetchval("SELECT count(*) FROM schema_migrations")
        attempts = await conn.fetchval("SELECT count(*) FROM attempts")
    finally:
        await conn.close()
    assert migrations == len(discover(ROOT / "sql"))
    assert attempts > 0


async def test_installed_wheel_without_migrations_says_so(installed, empty_dsn, tmp_path):
    site = Path(
        _run(
            [str(installed / "python"), "-c", "import dialer_core; print(dialer_core.__file__)"],
            env=_clean_env(tmp_path, empty_dsn),
            cwd=tmp_path,
        ).stdout.strip()
    ).parent
    sql = site / "shipped" / "sql"
    hidden = sql.with_name("sql.hidden")
    sql.rename(hidden)
    try:
        result = await asyncio.to_thread(
            _run,
            [str(installed / "pacedial"), "db", "migrate"],
            env=_clean_env(tmp_path / "home", empty_dsn),
            cwd=tmp_path,
        )
    finally:
        hidden.rename(sql)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "sql" in result.stderr and "reinstall pacedial" in result.stderr


def test_missing_or_empty_migration_folder_is_an_error(tmp_path):
    with pytest.raises(MissingPackageData, match="no migration files"):
        discover(tmp_path / "absent")
    with pytest.raises(MissingPackageData, match="no migration files"):
        discover(tmp_path)
