"""conf/freeswitch is well-formed XML with the pieces the driver relies on."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

CONF = Path(__file__).parent.parent / "conf" / "freeswitch"


def test_every_xml_file_is_well_formed() -> None:
    names = sorted(p.name for p in CONF.glob("*.xml"))
    assert names == [
        "acl.conf.xml",
        "callcenter.conf.xml",
        "dialplan_dialer.xml",
        "event_socket.conf.xml",
        "gateway_carrier.xml",
    ]
    for path in CONF.glob("*.xml"):
        ET.parse(path)


def test_dialplan_hands_answered_calls_to_the_outbound_socket() -> None:
    root = ET.parse(CONF / "dialplan_dialer.xml").getroot()
    ext = root.find("./context[@name='dialer']/extension[@name='dialer-answered']")
    assert ext is not None
    actions = [(a.get("application"), a.get("data")) for a in ext.iter("action")]
    # The socket, then (reached only when pacedial is down) the call id noted for pacedial to
    # book as abandoned at its next start, the drop message and the hang-up.
    assert actions[-4] == ("socket", "127.0.0.1:8084 async full")
    assert actions[-3] == ("db", "insert/pacedial_dropped/${pacedial_call_id}/${strepoch()}")
    assert actions[-2][0] == "playback" and actions[-2][1].endswith("/safe-harbor.wav")
    assert actions[-1][0] == "hangup"


def test_callcenter_example_queue_has_a_domain_and_agents_with_wrap_up() -> None:
    root = ET.parse(CONF / "callcenter.conf.xml").getroot()
    assert [q.get("name") for q in root.iter("queue")] == ["collectors@default"]
    agents = list(root.iter("agent"))
    assert agents and all(int(a.get("wrap-up-time") or 0) > 0 for a in agents)
    tiers = {t.get("queue") for t in root.iter("tier")}
    assert tiers == {"collectors@default"}


def test_event_socket_listens_on_loopback_with_acl() -> None:
    root = ET.parse(CONF / "event_socket.conf.xml").getroot()
    params = {p.get("name"): p.get("value") for p in root.iter("param")}
    assert params["listen-ip"] == "127.0.0.1"
    assert params["listen-port"] == "8021"
    assert params["password"] == "CHANGE_ME"
    acl = ET.parse(CONF / "acl.conf.xml").getroot()
    assert acl.find(f".//list[@name='{params['apply-inbound-acl']}']") is not None
