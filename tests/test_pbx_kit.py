"""`pacedial pbx render` and `pacedial pbx check` for Asterisk and FreeSWITCH.

Check runs against the simulated PBX over AMI / ESL; every item is shown passing, then failing
with its fix, by breaking one thing at a time (AdminConfig, a wrong name in the site file).
The checks that wait for a PBX that never answers run in virtual time.
"""

from __future__ import annotations

import dataclasses
import io
import socket
import wave
from pathlib import Path

import pytest
from virtual_time import in_virtual_time

from dialer_core.campaign.config import load_campaign
from dialer_core.face import pbx_cli as cli
from dialer_core.face.pbx_check import CheckInput, run_checks
from dialer_core.face.pbx_render import RenderPlan, asterisk_files, freeswitch_files
from dialer_core.face.site import parse_site
from pbx.sim.admin import AdminConfig
from pbx.sim.config import AgentConfig, SimConfig
from pbx.sim.esl_pbx import SimEsl
from pbx.sim.pbx import SimPbx

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGN = load_campaign(ROOT / "conf" / "campaigns" / "progressive.toml")  # queue collectors


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def asterisk_site(port: int, agi_port: int = 4600, **ast):
    return parse_site(
        {"asterisk": {"port": port, "secret": "pacedial", **ast}, "fastagi": {"port": agi_port}},
        "site.toml",
    )


def freeswitch_site(port: int, **fs):
    return parse_site(
        {"pbx": {"kind": "freeswitch"}, "freeswitch": {"port": port, **fs}}, "site.toml"
    )


def test_asterisk_render_fills_the_site_values_in():
    site = asterisk_site(5038, username="dialer", answered_context="collect-answered")
    files = asterisk_files(RenderPlan(site, (CAMPAIGN,), "10.0.0.9", "hi"))
    manager = files["asterisk/manager.d/pacedial.conf"]
    assert "[dialer]\nsecret = pacedial\n" in manager and "permit = 10.0.0.9/" in manager
    assert "originate" in manager and "config" in manager
    ext = files["asterisk/extensions.d/pacedial.conf"]
    assert "[collect-answered]" in ext and "AGI(agi://10.0.0.9:4600/router," in ext
    assert "[collectors]" in files["asterisk/queues.d/pacedial.conf"]
    queues = files["asterisk/queues.d/pacedial.conf"]
    assert "wrapuptime = 30" in queues
    # Keywords Asterisk 12+ removed (the events are always sent now): none may be rendered.
    removed = ("eventwhencalled", "eventmemberstatus")
    assert not [k for k in removed if k in queues], queues


def test_freeswitch_render_fills_the_site_values_in():
    site = freeswitch_site(8021, password="s3", outbound_port=8090, target="ans XML pacedial")
    files = freeswitch_files(RenderPlan(site, (CAMPAIGN,), "10.0.0.9", "hi"))
    esl = files["freeswitch/autoload_configs/event_socket.conf.xml"]
    assert 'name="password" value="s3"' in esl and 'cidr="10.0.0.9/32"' in esl
    plan = files["freeswitch/dialplan/pacedial.xml"]
    assert '<context name="pacedial">' in plan and 'expression="^ans$"' in plan
    assert 'data="10.0.0.9:8090 async full"' in plan
    assert (
        'queue name="collectors@default"'
        in files["freeswitch/autoload_configs/callcenter.pacedial.xml"]
    )


def test_render_without_an_ami_secret_says_which_key():
    site = parse_site({}, "site.toml")
    with pytest.raises(Exception, match="asterisk.secret"):
        asterisk_files(RenderPlan(site, (), "127.0.0.1", "hi"))


@pytest.mark.parametrize("kind", ["asterisk", "freeswitch"])
async def test_render_writes_files_and_the_drop_message_in_the_pbx_format(tmp_path, kind):
    site = tmp_path / "site.toml"
    body = '[asterisk]\nsecret = "s"\n' if kind == "asterisk" else '[pbx]\nkind = "freeswitch"\n'
    site.write_text(body, encoding="utf-8")
    out = io.StringIO()
    argv = [
        "render",
        "--site",
        str(site),
        "--campaign",
        str(ROOT / "conf/campaigns/progressive.toml"),
        "--out",
        str(tmp_path / "out"),
    ]
    assert await cli._run(cli.build_parser().parse_args(argv), out) == 0
    written = [Path(line) for line in out.getvalue().splitlines()]
    assert all(p.exists() for p in written)
    assert any(p.suffix in (".conf", ".xml") for p in written)
    drop = tmp_path / "out" / "sounds" / "safe-harbor.wav"
    assert drop in written
    with wave.open(str(drop)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getnframes() > 8000  # more than a second of speech


async def check_lines(
    site, admin=None, campaigns=(CAMPAIGN,), sounds=None, pbx_dials=None, pbx=None, **sim_kw
):
    """The checklist against a simulated PBX whose answered-call dialplan connects to the
    site's port (``pbx_dials``: to another port, as a wrong dialplan or a firewall would)."""
    port = free_port()
    dials = pbx_dials or port
    sim = SimPbx(
        SimConfig(
            admin=admin or AdminConfig(),
            agents=AgentConfig(count=1, queue="collectors"),
            dialplan={"pacedial-answered": f"agi://127.0.0.1:{dials}/router"},
            prompt_seconds=0.2,
            **sim_kw,
        )
    )
    await sim.start()
    esl = None
    if site == "freeswitch":
        esl = SimEsl(sim, dialplan={"dialer-answered": f"socket 127.0.0.1:{dials} async full"})
        await esl.start()
        site = freeswitch_site(esl.port, outbound_port=port)
    elif site == "asterisk":
        site = asterisk_site(sim.ami_port, port)
    else:
        site = site(sim.ami_port, port)
    if pbx is not None:
        pbx.append(esl or sim)  # for the caller to look at afterwards
    try:
        checks = await run_checks(CheckInput(site, tuple(campaigns), sounds))
    finally:
        if esl is not None:
            await esl.close()
        await sim.close()
    return {c.item: c for c in checks}


@pytest.mark.parametrize("kind", ["asterisk", "freeswitch"])
async def test_check_passes_every_pbx_item_on_a_well_set_up_pbx(tmp_path, kind):
    (tmp_path / "safe-harbor.wav").write_bytes(b"RIFF")
    checks = await check_lines(kind, sounds=tmp_path)
    pbx_items = ["login", "fully booted", "modules", "queue collectors", "clock"]
    pbx_items += ["probe call", "sounds play"]
    if kind == "asterisk":
        pbx_items += ["context pacedial-answered", "queue collectors wrap-up"]
    for item in pbx_items + ["drop message sound"]:
        assert checks[item].ok is True, checks[item].line()
    assert checks["recordings directory"].ok is None  # not configured: not checked


@pytest.mark.parametrize("kind", ["asterisk", "freeswitch"])
@pytest.mark.parametrize(
    ("item", "admin", "fix"),
    [
        ("fully booted", AdminConfig(booted=False), "has started"),
        ("modules", AdminConfig(modules=("res_agi", "mod_event_socket")), "load them"),
        ("clock", AdminConfig(clock_offset=30), "NTP"),
    ],
)
@in_virtual_time
async def test_check_fails_an_item_with_its_fix(kind, item, admin, fix):
    check = (await check_lines(kind, admin=admin))[item]
    assert check.ok is False and fix in check.fix
    assert "fix: " in check.line()


@pytest.mark.parametrize("kind", ["asterisk", "freeswitch"])
async def test_check_fails_a_missing_queue(kind):
    other = dataclasses.replace(CAMPAIGN, queue="nobody")
    checks = await check_lines(kind, campaigns=(other,))
    assert checks["queue nobody"].ok is False and "render" in checks["queue nobody"].fix
    if kind == "asterisk":
        assert checks["queue nobody wrap-up"].ok is False


async def test_check_fails_a_missing_answered_context():
    checks = await check_lines(
        lambda port, agi: asterisk_site(port, agi, answered_context="elsewhere")
    )
    assert checks["context elsewhere"].ok is False
    assert "dialplan reload" in checks["context elsewhere"].fix


@pytest.mark.parametrize("kind", ["asterisk", "freeswitch"])
async def test_check_fails_the_login_and_skips_the_pbx_items(kind):
    if kind == "asterisk":
        checks = await check_lines(
            lambda port, agi: asterisk_site(port, agi, secret="wrong"), login_failure_delay=0
        )
    else:
        sim = SimPbx(SimConfig())
        esl = SimEsl(sim, password="right")
        await sim.start()
        await esl.start()
        try:
            found = await run_checks(CheckInput(freeswitch_site(esl.port), (CAMPAIGN,), None))
        finally:
            await esl.close()
            await sim.close()
        checks = {c.item: c for c in found}
    assert checks["login"].ok is False and "credentials" in checks["login"].fix
    assert checks["modules"].ok is None and checks["clock"].ok is None


@pytest.mark.parametrize("kind", ["asterisk", "freeswitch"])
@in_virtual_time
async def test_probe_call_fails_when_the_pbx_dialplan_reaches_another_port(kind, monkeypatch):
    monkeypatch.setattr("dialer_core.face.pbx_probe.PROBE_SECONDS", 1.0)
    pbx = []
    checks = await check_lines(kind, pbx_dials=free_port(), pbx=pbx)
    notes = pbx[0].db if kind == "freeswitch" else pbx[0].astdb
    assert not notes  # the dialplan's "dropped while down" note of the probe is removed
    probe = checks["probe call"]
    assert probe.ok is False and "within" in probe.detail
    assert ("AGI(agi://" if kind == "asterisk" else "socket <this host>") in probe.fix
    assert checks["sounds play"].ok is None


@pytest.mark.parametrize("kind", ["asterisk", "freeswitch"])
async def test_sounds_play_fails_for_a_sound_the_pbx_cannot_open(kind):
    spring = dataclasses.replace(
        CAMPAIGN, raw={**CAMPAIGN.raw, "robot": {"pbx_sound_dir": "/srv/pacedial"}}
    )
    checks = await check_lines(kind, admin=AdminConfig(sounds=frozenset()), campaigns=(spring,))
    assert checks["probe call"].ok is True and "the probe's call id" in checks["probe call"].detail
    played = checks["sounds play"]
    assert played.ok is False and "/srv/pacedial/safe-harbor" in played.detail
    assert "copy DIR/sounds/" in played.fix
    ok = await check_lines(kind, admin=AdminConfig(sounds=frozenset({"safe-harbor"})))
    assert ok["sounds play"].ok is True and "safe-harbor: " in ok["sounds play"].detail


async def test_probe_is_not_tried_while_pacedial_holds_the_port():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        checks = await check_lines(lambda port, agi: asterisk_site(port, taken))
    assert checks["probe call"].ok is None and "stop pacedial serve" in checks["probe call"].detail


async def test_check_fails_missing_sound_and_unreadable_recordings(tmp_path):
    site = lambda port, agi: dataclasses.replace(  # noqa: E731
        asterisk_site(port, agi), recordings_dir=tmp_path / "absent"
    )
    checks = await check_lines(site, sounds=tmp_path)
    assert checks["drop message sound"].ok is False
    assert "missing safe-harbor.wav" in checks["drop message sound"].detail
    assert checks["recordings directory"].ok is False


@in_virtual_time
async def test_pbx_check_command_prints_the_checklist_and_exits_11(tmp_path):
    sim = SimPbx(SimConfig(admin=AdminConfig(booted=False)))
    await sim.start()
    site = tmp_path / "site.toml"
    site.write_text(f'[asterisk]\nport = {sim.ami_port}\nsecret = "pacedial"\n', encoding="utf-8")
    out = io.StringIO()
    try:
        code = await cli._run(cli.build_parser().parse_args(["check", "--site", str(site)]), out)
    finally:
        await sim.close()
    text = out.getvalue()
    assert code == 11
    assert "[FAIL] fully booted" in text and "fix: wait until Asterisk has started" in text
    assert "[ok  ] login" in text and text.rstrip().endswith("failed")
