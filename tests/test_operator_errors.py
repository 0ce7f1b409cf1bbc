"""Every failure an operator can cause is one line (what, where, what to do) and its own exit code.

The real ``pacedial`` command runs in a child process, as an operator would run it, for a
failure of each entry point (``run``, ``import``, ``db``) and for ``serve`` running on; the
other cases call the same ``main`` (what the ``pacedial`` script runs) in this process, with
the child's environment, stdout, stderr and logging set up as in a fresh process. The PBX on
the other side is the simulated one over real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import socket
import sys
import urllib.request
from pathlib import Path

import pytest

from dialer_core.face import cli
from dialer_core.operator_errors import (
    EXIT_DATABASE,
    EXIT_INPUT,
    EXIT_NO_FILE,
    EXIT_NOT_LOOPBACK,
    EXIT_PBX_LOGIN,
    EXIT_PBX_UNREACHABLE,
    EXIT_PORT_IN_USE,
    EXIT_ROWS_REJECTED,
)
from pbx.sim.config import SimConfig
from pbx.sim.esl_pbx import SimEsl
from pbx.sim.pbx import SimPbx

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGN = ROOT / "conf" / "campaigns" / "progressive.toml"
CODES = [
    EXIT_INPUT,
    EXIT_ROWS_REJECTED,
    EXIT_NO_FILE,
    EXIT_PBX_UNREACHABLE,
    EXIT_PBX_LOGIN,
    EXIT_PORT_IN_USE,
    EXIT_NOT_LOOPBACK,
    EXIT_DATABASE,
]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_drop_message(home: Path) -> str:
    """A sounds folder holding the presets' drop message (``pacedial run`` checks it first)."""
    sounds = home / "sounds"
    sounds.mkdir(parents=True, exist_ok=True)
    (sounds / "safe-harbor.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    return str(sounds)


async def pacedial(*args: str, dsn: str, home: Path, timeout: float = 120):
    """Run the command; (exit code, stdout, stderr)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PACEDIAL_DATABASE_URL": dsn,
        "PACEDIAL_HOME": str(home),
        "PACEDIAL_SOUNDS": with_drop_message(home),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dialer_core.face.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
def pacedial_here(db_dsn, tmp_path, monkeypatch):
    """``pacedial`` run by its ``main`` in this process (on a thread: it runs its own event
    loop) with the child's environment: ``await pacedial_here(*args)`` gives (exit code,
    stdout, stderr). The root logger starts bare, so the command's own logging setup writes
    to the captured stderr, as in a child."""
    monkeypatch.setenv("PACEDIAL_DATABASE_URL", db_dsn)
    monkeypatch.setenv("PACEDIAL_HOME", str(tmp_path))
    monkeypatch.setenv("PACEDIAL_SOUNDS", with_drop_message(tmp_path))

    async def run(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        root.handlers = []
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = await asyncio.to_thread(cli.main, list(args))
        finally:
            for handler in root.handlers:
                handler.close()
            root.handlers, root.level = handlers, level
        return code, out.getvalue(), err.getvalue()

    return run


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def site_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_every_kind_has_its_own_exit_code():
    assert len(set(CODES)) == len(CODES) and 0 not in CODES and 1 not in CODES


async def test_pbx_unreachable_asterisk(db_dsn, tmp_path):
    port = closed_port()
    site = site_file(tmp_path, f'[asterisk]\nport = {port}\nsecret = "x"\n[fastagi]\nport = 0\n')
    code, _, err = await pacedial(
        "run", "--site", site, "--campaign", str(CAMPAIGN), dsn=db_dsn, home=tmp_path
    )
    line = one_line(err)
    assert code == EXIT_PBX_UNREACHABLE
    assert f"cannot reach the PBX: Asterisk 127.0.0.1:{port}" in line
    assert "check [asterisk] host and port" in line


async def test_pbx_unreachable_freeswitch(pacedial_here, tmp_path):
    port = closed_port()
    site = site_file(
        tmp_path, f'[pbx]\nkind = "freeswitch"\n[freeswitch]\nport = {port}\noutbound_port = 0\n'
    )
    code, _, err = await pacedial_here("run", "--site", site, "--campaign", str(CAMPAIGN))
    assert code == EXIT_PBX_UNREACHABLE
    assert f"FreeSWITCH 127.0.0.1:{port}" in one_line(err)


async def test_wrong_ami_secret(pacedial_here, tmp_path):
    sim = SimPbx(SimConfig(secret="right"))
    await sim.start()
    try:
        site = site_file(
            tmp_path, f'[asterisk]\nport = {sim.ami_port}\nsecret = "wrong"\n[fastagi]\nport = 0\n'
        )
        code, _, err = await pacedial_here("run", "--site", site, "--campaign", str(CAMPAIGN))
    finally:
        await sim.close()
    line = one_line(err)
    assert code == EXIT_PBX_LOGIN
    assert "Asterisk refused the login" in line and "secret" in line and "manager.conf" in line
    assert "wrong" not in line  # never the secret itself


async def test_wrong_esl_password(pacedial_here, tmp_path):
    sim = SimPbx(SimConfig())
    esl = SimEsl(sim, password="right")
    await sim.start()
    await esl.start()
    try:
        site = site_file(
            tmp_path,
            f'[pbx]\nkind = "freeswitch"\n[freeswitch]\nport = {esl.port}'
            '\npassword = "wrong"\noutbound_port = 0\n',
        )
        code, _, err = await pacedial_here("run", "--site", site, "--campaign", str(CAMPAIGN))
    finally:
        await esl.close()
        await sim.close()
    assert code == EXIT_PBX_LOGIN
    assert "FreeSWITCH refused the login" in one_line(err)


async def test_fastagi_port_in_use(pacedial_here, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        site = site_file(tmp_path, f'[fastagi]\nhost = "127.0.0.1"\nport = {port}\n')
        code, _, err = await pacedial_here("run", "--site", site, "--campaign", str(CAMPAIGN))
    line = one_line(err)
    assert code == EXIT_PORT_IN_USE
    assert f"port already in use: [fastagi] port 127.0.0.1:{port}" in line


async def test_api_off_loopback_without_token_is_refused(pacedial_here, tmp_path):
    site = site_file(tmp_path, '[api]\nhost = "0.0.0.0"\n')
    code, _, err = await pacedial_here("serve", "--site", site)
    line = one_line(err)
    assert code == EXIT_NOT_LOOPBACK
    assert "[api] host 0.0.0.0" in line and "PACEDIAL_API_TOKEN" in line


async def test_missing_csv_file(db_dsn, tmp_path):
    code, _, err = await pacedial(
        "import", str(tmp_path / "nope.csv"), "--campaign", "x", dsn=db_dsn, home=tmp_path
    )
    line = one_line(err)
    assert code == EXIT_NO_FILE
    assert "cannot read the CSV file" in line and "nope.csv (no such file or directory)" in line


async def test_missing_site_file(pacedial_here, tmp_path):
    code, _, err = await pacedial_here("serve", "--site", str(tmp_path / "site.toml"))
    assert code == EXIT_NO_FILE and "cannot read the site file" in one_line(err)


async def test_non_utf8_config_file(pacedial_here, tmp_path):
    path = tmp_path / "site.toml"
    path.write_bytes("# 站点\n[api]\nport = 8080\n".encode("gbk"))
    code, _, err = await pacedial_here("serve", "--site", str(path))
    line = one_line(err)
    assert code == EXIT_INPUT
    assert f"{path}: (line 1): expected UTF-8 text" in line


async def test_database_unreachable(tmp_path):
    port = closed_port()
    dsn = f"postgresql://pacedial:s3cret@127.0.0.1:{port}/pacedial"
    code, _, err = await pacedial("db", "migrate", dsn=dsn, home=tmp_path)
    line = one_line(err)
    assert code == EXIT_DATABASE
    assert f"cannot reach the database: postgresql://pacedial:***@127.0.0.1:{port}" in line
    assert "s3cret" not in line


async def test_rejected_rows_make_a_nonzero_exit_and_strict_keeps_nothing(pacedial_here, tmp_path):
    csv = tmp_path / "cases.csv"
    csv.write_text(
        "external_id,debtor_name,amount,days_past_due,phone\n"
        "C1,张三,10,1,13800138000\nC2,李四,10,1,12345\n",
        encoding="utf-8",
    )
    code, out, err = await pacedial_here("import", str(csv), "--campaign", "s", "--strict")
    assert code == EXIT_ROWS_REJECTED and "nothing imported (--strict)" in out
    assert f"{csv}: line 3, column phone: invalid phone number" in err
    code, out, err = await pacedial_here("import", str(csv), "--campaign", "s")
    assert code == EXIT_ROWS_REJECTED and "imported 1," in out and "rejected 1" in out
    csv.write_text(
        "external_id,debtor_name,amount,days_past_due,phone\nC1,张三,10,1,13800138000\n",
        encoding="utf-8",
    )
    code, out, _ = await pacedial_here("import", str(csv), "--campaign", "s")
    assert code == 0 and "unchanged 1" in out


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


@pytest.mark.parametrize("kind", ["asterisk", "freeswitch"])
async def test_serve_starts_without_a_pbx_shows_the_link_and_connects_later(db_dsn, tmp_path, kind):
    pbx_port, api_port = closed_port(), closed_port()
    if kind == "asterisk":
        text = f'[asterisk]\nport = {pbx_port}\nsecret = "pacedial"\n[fastagi]\nport = 0\n'
    else:
        text = f'[pbx]\nkind = "freeswitch"\n[freeswitch]\nport = {pbx_port}\noutbound_port = 0\n'
    site = site_file(tmp_path, text + f"[api]\nport = {api_port}\n")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PACEDIAL_DATABASE_URL": db_dsn,
        "PACEDIAL_HOME": str(tmp_path),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dialer_core.face.cli",
        "serve",
        "--site",
        site,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    sim = SimPbx(SimConfig(ami_port=pbx_port if kind == "asterisk" else 0))
    esl = SimEsl(sim, port=pbx_port) if kind == "freeswitch" else None
    try:
        assert proc.stdout is not None
        lines = []
        wanted = ("pacedial dashboard:", "PBX link down: cannot reach the PBX")
        while not all(any(w in ln for ln in lines) for w in wanted):
            lines.append((await asyncio.wait_for(proc.stdout.readline(), 60)).decode())
        url = f"http://127.0.0.1:{api_port}/api/pbx"
        state = await asyncio.to_thread(_get_json, url)
        assert state["link"] == "down" and "cannot reach the PBX" in state["error"]
        await sim.start()
        if esl is not None:
            await esl.start()
        for _ in range(600):  # the link comes up by itself (backoff ≤ 30 s)
            state = await asyncio.to_thread(_get_json, url)
            if state["link"] == "up":
                break
            await asyncio.sleep(0.1)
        assert state == {
            "pbx": f"{'FreeSWITCH' if esl else 'Asterisk'} 127.0.0.1:{pbx_port}",
            "link": "up",
            "error": "",
        }
    finally:
        proc.terminate()
        await proc.wait()
        if esl is not None:
            await esl.close()
        await sim.close()
