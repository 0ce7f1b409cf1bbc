"""dialer_core.face.pbx_link and the site's [freeswitch] section: one wiring for either PBX."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from virtual_time import in_virtual_time

from agi_scripts.registry import CallRegistry
from dialer_core.config_errors import ConfigError
from dialer_core.face.pbx_link import (
    OutboundAnsweredServer,
    build_driver,
    describe,
    start_answered_server,
)
from dialer_core.face.service import AnsweredCallServer
from dialer_core.face.site import FreeSwitchSite, SiteConfig, parse_site
from pbx.asterisk.driver import AsteriskDriver
from pbx.freeswitch.driver import FreeSwitchDriver
from pbx.model import CallRequest, Hangup, Result
from pbx.sim import SimConfig, SimPbx
from pbx.sim.esl_pbx import SimEsl

FS_DOC = {
    "pbx": {"kind": "freeswitch"},
    "freeswitch": {
        "host": "10.0.0.7",
        "port": 8022,
        "password": "from-file",
        "dial_template": "sofia/gateway/gw1/{number}",
        "target": "robot XML dialer",
        "queues": ["collectors@default"],
        "outbound_host": "0.0.0.0",
        "outbound_port": 9084,
    },
}


def test_freeswitch_section_is_read_and_the_password_may_come_from_the_environment(
    monkeypatch,
) -> None:
    monkeypatch.delenv("PACEDIAL_ESL_PASSWORD", raising=False)
    site = parse_site(FS_DOC, "site.toml")
    assert site.pbx == "freeswitch"
    assert site.freeswitch == FreeSwitchSite(
        "10.0.0.7",
        8022,
        "from-file",
        "sofia/gateway/gw1/{number}",
        "robot XML dialer",
        ("collectors@default",),
        "0.0.0.0",
        9084,
    )
    assert "from-file" not in repr(site.freeswitch)
    assert parse_site({}, "(defaults)").freeswitch == FreeSwitchSite()
    monkeypatch.setenv("PACEDIAL_ESL_PASSWORD", "from-env")
    assert parse_site(FS_DOC, "site.toml").freeswitch.password == "from-env"


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"dial_template": "sofia/gateway/gw1"}, "freeswitch.dial_template"),
        ({"port": "8021"}, "freeswitch.port"),
        ({"queues": ["a b"]}, "freeswitch.queues"),
        ({"pasword": "x"}, "freeswitch.pasword"),
        ({"target": " "}, "freeswitch.target"),
    ],
)
def test_freeswitch_section_errors_name_the_key(table, key) -> None:
    with pytest.raises(ConfigError) as err:
        parse_site({"freeswitch": table}, "site.toml")
    assert err.value.key == key
    assert str(err.value).startswith(f"site.toml: {key}: expected ")


def test_build_driver_follows_the_site_kind() -> None:
    fs_site = parse_site(FS_DOC, "site.toml")
    driver = build_driver(fs_site, queues=["collectors@default", "vip@default"])
    assert isinstance(driver, FreeSwitchDriver)
    assert driver.client.peer == "10.0.0.7:8022"
    assert driver.queues == ("collectors@default", "vip@default")
    assert driver.dial_template == "sofia/gateway/gw1/{number}"
    assert driver.target == "robot XML dialer"
    assert describe(fs_site) == "FreeSWITCH 10.0.0.7:8022"
    ast_site = parse_site({"asterisk": {"host": "10.0.0.5", "secret": "s"}}, "site.toml")
    ast = build_driver(ast_site)
    assert isinstance(ast, AsteriskDriver)
    assert describe(ast_site) == "Asterisk 10.0.0.5:5038"


@pytest.mark.parametrize("kind", ["asterisk", "freeswitch"])
@in_virtual_time
async def test_answered_server_exposes_a_registry_and_closes(kind) -> None:
    site = SiteConfig(
        pbx=kind,
        fastagi_host="127.0.0.1",
        fastagi_port=0,
        freeswitch=FreeSwitchSite(outbound_host="127.0.0.1", outbound_port=0),
    )
    answered = await start_answered_server(site)
    expected = OutboundAnsweredServer if kind == "freeswitch" else AnsweredCallServer
    assert isinstance(answered, expected)
    assert isinstance(answered.registry, CallRegistry)
    port = answered.server.port
    assert port > 0
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()
    await answered.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


@in_virtual_time
async def test_a_freeswitch_site_places_a_call_on_the_simulated_pbx_and_hangs_up_strangers():
    """build_driver + start_answered_server over ESL: an answered call nobody registered is
    hung up by the answered-call handler, and the call ends as answered."""
    sim = SimPbx(SimConfig(seed=1, time_scale=40, behaviour="last_digit"))
    await sim.start()
    answered = await start_answered_server(
        SiteConfig(pbx="freeswitch", freeswitch=FreeSwitchSite(outbound_port=0))
    )
    esl = SimEsl(sim, dialplan={"ans": f"socket 127.0.0.1:{answered.server.port} async full"})
    await esl.start()
    site = SiteConfig(
        pbx="freeswitch",
        freeswitch=FreeSwitchSite(
            port=esl.port, dial_template="loopback/{number}/sim-callee", target="ans XML dialer"
        ),
    )
    driver = build_driver(site)
    await driver.connect()
    try:
        call_id = str(uuid.uuid4())
        await driver.originate(CallRequest(call_id, "+5551231", "5550100", ring_timeout=10))

        async def first_hangup() -> Hangup:
            async for event in driver.events():
                if isinstance(event, Hangup):
                    return event
            raise AssertionError("events ended without a Hangup")

        end = await asyncio.wait_for(first_hangup(), 10.0)
    finally:
        await driver.close()
        await esl.close()
        await sim.close()
        await answered.close()
    assert (end.call_id, end.result) == (call_id, Result.ANSWERED)
    assert esl.legs[0].commands[-2:] == ["sendmsg", "exit"]
