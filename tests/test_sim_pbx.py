"""The simulated PBX speaks AMI as Asterisk 20 does in tests/fixtures/asterisk/ami/.

Every test runs the sim on an ephemeral loopback port and talks to it over a real socket, in
virtual time (``tests/virtual_time.py``): the sim's timers cost no real time.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect

import pytest
from transcripts import stream
from virtual_time import in_virtual_time

from pbx.asterisk.ami import AmiBanner, AmiMessage, AmiParser, encode
from pbx.sim import SimConfig, SimPbx
from pbx.sim.config import SimConfigError

FAST = 20.0  # time_scale: the rig's 1 s busy delay takes 50 ms
CTX = "dialer-answered"
KEYS = (
    "Reason",
    "Cause",
    "Cause-txt",
    "Response",
    "DialStatus",
    "ChannelStateDesc",
    "Variable",
    "Value",
)
# Events the sim models; the rest of a capture (Newexten, DeviceStateChange, AGIExec*, the
# rig's own dialplan VarSets) comes from the recording rig's dialplan, not from the call.
MODELLED = {
    "Newchannel",
    "VarSet",
    "NewCallerid",
    "NewConnectedLine",
    "LocalBridge",
    "DialBegin",
    "Newstate",
    "DialState",
    "DialEnd",
    "OriginateResponse",
    "HangupRequest",
    "SoftHangupRequest",
    "Hangup",
}


def fixture_messages(name: str) -> list[AmiMessage]:
    parser = AmiParser()
    return [
        m for m in parser.messages(stream(f"asterisk/ami/{name}", "S")) if isinstance(m, AmiMessage)
    ]


def leg(msg: AmiMessage) -> str:
    """';1' / ';2' / 'trunk' for a channel-carrying event, '' otherwise.

    OriginateResponse gets its own tag: its place among the hangups is not fixed."""
    if msg.event == "OriginateResponse":
        return "originate"
    chan = msg.get("Channel") or msg.get("DestChannel") or msg.get("LocalOneChannel") or ""
    if chan.endswith((";1", ";2")):
        return chan[-2:]
    return "trunk" if chan else ""


def signature(msgs: list[AmiMessage], variables: set[str]) -> list[tuple]:
    """(Event, leg, key fields) of the modelled events of one call."""
    out = []
    for m in msgs:
        if m.event not in MODELLED:
            continue
        if m.event == "VarSet" and m.get("Variable") not in variables:
            continue
        keys = tuple((k, m.get(k)) for k in KEYS if m.get(k) is not None)
        if m.event == "OriginateResponse":
            keys += (("Uniqueid?", m.get("Uniqueid") != "<unknown>"),)
        out.append((m.event, leg(m)) + keys)
    return out


def assert_same_call(sim: list[tuple], fixture: list[tuple]) -> None:
    """Order rules of the captures: progress events in order, each leg's events in order, the
    same multiset overall; OriginateResponse and the Hangups may interleave freely."""
    assert collections.Counter(sim) == collections.Counter(fixture)
    progress = {
        "Newchannel",
        "VarSet",
        "NewCallerid",
        "NewConnectedLine",
        "LocalBridge",
        "DialBegin",
        "DialState",
    }
    assert [e for e in sim if e[0] in progress] == [e for e in fixture if e[0] in progress]
    for side in (";1", ";2", "trunk"):
        assert [e for e in sim if e[1] == side] == [e for e in fixture if e[1] == side]


class AmiTestClient:
    """A minimal AMI client over a real socket (what the dialer's client does)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = AmiParser()
        self.queue: collections.deque = collections.deque()

    @classmethod
    async def connect(cls, port: int) -> AmiTestClient:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    def send(self, *headers: tuple[str, str]) -> None:
        self.writer.write(encode(headers))

    async def next(self, timeout: float = 5.0) -> AmiMessage | AmiBanner | None:
        while not self.queue:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                return None
            self.queue.extend(self.parser.messages(data))
        return self.queue.popleft()

    async def until(self, pred, timeout: float = 5.0) -> list[AmiMessage]:
        """Collect messages up to and including the first that satisfies ``pred``."""
        out = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            msg = await self.next(max(deadline - loop.time(), 0.01))
            assert msg is not None, f"connection closed; got {[m for m in out]}"
            if isinstance(msg, AmiMessage):
                out.append(msg)
                if pred(msg):
                    return out

    async def login(self, user: str = "dialer", secret: str = "dialer") -> list[AmiMessage]:
        banner = await self.next()
        assert banner == AmiBanner("Asterisk Call Manager/9.0.0")
        self.send(
            ("Action", "Login"), ("ActionID", "rig-login"), ("Username", user), ("Secret", secret)
        )
        return await self.until(lambda m: m.event == "SuccessfulAuth" or m.response == "Error")

    def close(self) -> None:
        self.writer.close()


def on_sim(test):
    """Run ``test(sim, ...)`` in virtual time against a started simulated PBX."""

    async def run(**kwargs):
        pbx = SimPbx(
            SimConfig(
                behaviour="last_digit",
                time_scale=FAST,
                username="dialer",
                secret="dialer",
                login_failure_delay=0.2,
            ),
            dialplan={CTX: "", "dialer-queue": ""},
        )
        await pbx.start()
        try:
            await test(pbx, **kwargs)
        finally:
            await pbx.close()

    signature = inspect.signature(test)
    run.__name__, run.__doc__ = test.__name__, test.__doc__
    run.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])
    return in_virtual_time(run)


def originate(
    client: AmiTestClient,
    aid: str,
    number: str,
    *extra: tuple[str, str],
    timeout_ms: int = 30000,
    context: str = CTX,
) -> None:
    client.send(
        ("Action", "Originate"),
        ("ActionID", aid),
        ("Channel", f"Local/{number}@sim-callee"),
        ("Context", context),
        ("Exten", "s"),
        ("Priority", "1"),
        ("Timeout", str(timeout_ms)),
        ("CallerID", '"Rig Dialer" <5550100>'),
        ("Async", "true"),
        *extra,
    )


def fixture_originate(name: str) -> AmiMessage:
    """The Originate action the recording rig sent in a capture."""
    parser = AmiParser(expect_banner=False)
    actions = parser.messages(stream(f"asterisk/ami/{name}", "C"))
    return next(m for m in actions if isinstance(m, AmiMessage) and m.action == "Originate")


async def replay(sim: SimPbx, action: AmiMessage) -> list[AmiMessage]:
    """Send the capture's Originate to the sim; all messages of that call, hangups included."""
    client = await AmiTestClient.connect(sim.ami_port)
    try:
        await client.login()
        client.send(*action.headers)
        first = await client.next()
        assert isinstance(first, AmiMessage)
        assert (first.response, first.action_id, first.get("Message")) == (
            "Success",
            action.action_id,
            "Originate successfully queued",
        )
        msgs = await client.until(lambda m: m.event == "OriginateResponse", timeout=10)
        assert await sim.wait_idle(10)
        await asyncio.sleep(0.05)
        with contextlib.suppress(TimeoutError):
            while True:
                m = await client.next(timeout=0.1)
                if isinstance(m, AmiMessage):
                    msgs.append(m)
        return msgs
    finally:
        client.close()


@pytest.mark.parametrize(
    "fixture",
    [
        "originate_busy.txt",
        "originate_busy_channelid.txt",
        "originate_congestion.txt",
        "originate_unallocated.txt",
        "originate_noanswer.txt",
        "originate_sip_busy.txt",
        "originate_sip_congestion.txt",
        "originate_sip_noanswer.txt",
    ],
)
@on_sim
async def test_failed_originate_matches_capture(sim, fixture):
    fx = fixture_messages(fixture)
    action = fixture_originate(fixture)
    variables = {v.partition("=")[0] for v in action.get_all("Variable")}
    msgs = await replay(sim, action)
    assert_same_call(signature(msgs, variables), signature(fx, variables))
    orig = next(m for m in msgs if m.event == "OriginateResponse")
    fx_orig = next(m for m in fx if m.event == "OriginateResponse")
    assert orig.headers == fx_orig.headers
    hang = next(m for m in msgs if m.event == "Hangup")
    fx_hang = next(m for m in fx if m.event == "Hangup")
    assert [k for k, _ in hang.headers] == [k for k, _ in fx_hang.headers]


@on_sim
async def test_answered_originate_matches_capture_up_to_the_dialplan(sim):
    fx = fixture_messages("originate_quick_hangup.txt")
    action = fixture_originate("originate_quick_hangup.txt")
    msgs = await replay(sim, action)
    variables = {"DIALER_LEAD"}
    got, want = signature(msgs, variables), signature(fx, variables)
    # Up to and including OriginateResponse, the order is fixed.
    cut = next(i for i, e in enumerate(want) if e[0] == "OriginateResponse") + 1
    assert got[:cut] == want[:cut]
    # The callee hangs up 1 s after answer: ;2 first, then ;1, both cause 16.
    assert [e for e in got[cut:] if e[0] == "Hangup"] == [e for e in want[cut:] if e[0] == "Hangup"]
    orig = next(m for m in msgs if m.event == "OriginateResponse")
    fx_orig = next(m for m in fx if m.event == "OriginateResponse")
    assert [k for k, _ in orig.headers] == [k for k, _ in fx_orig.headers]
    assert orig.get("Uniqueid") == "rig-lead48-a"
    assert orig.get("Channel").startswith("Local/5551238@sim-callee-")
    assert orig.get("Channel").endswith(";1")
    newch = [m for m in msgs if m.event == "Newchannel"]
    assert [(m.get("Uniqueid"), m.get("Linkedid")) for m in newch] == [
        ("rig-lead48-a", "rig-lead48-a"),
        ("rig-lead48-b", "rig-lead48-a"),
    ]


@on_sim
async def test_variables_are_set_on_both_legs_in_capture_order(sim):
    fx = fixture_messages("originate_answered.txt")
    action = fixture_originate("originate_answered.txt")
    names = {v.partition("=")[0] for v in action.get_all("Variable")}
    msgs = await replay(sim, action)

    def order(ms):
        return [
            (leg(m), m.get("Variable"), m.get("Value"))
            for m in ms
            if m.event == "VarSet" and m.get("Variable") in names
        ]

    assert order(msgs) == order(fx)
    got = signature(msgs, names)
    want = signature(fx, names)
    cut = next(i for i, e in enumerate(want) if e[0] == "OriginateResponse") + 1
    assert got[:cut] == want[:cut]


@on_sim
async def test_unknown_context_is_refused_synchronously(sim):
    fx = fixture_messages("originate_bad_exten.txt")
    fx_reply = next(m for m in fx if m.action_id == "rig-orig-badexten-1")
    client = await AmiTestClient.connect(sim.ami_port)
    try:
        await client.login()
        originate(client, "rig-orig-badexten-1", "5551230", context="no-such-context")
        reply = await client.next()
        assert reply.headers == fx_reply.headers
        await asyncio.sleep(0.1)
        assert not sim.channels and sim.active_calls == 0
        assert sim.originates_received == ["rig-orig-badexten-1"]
    finally:
        client.close()


@on_sim
async def test_login_ping_logoff_like_capture(sim):
    fx = fixture_messages("login_ping.txt")
    client = await AmiTestClient.connect(sim.ami_port)
    try:
        got = await client.login()
        want = [m for m in fx if m.response or m.event][:3]
        assert [[k for k, _ in m.headers] for m in got] == [[k for k, _ in m.headers] for m in want]
        assert got[0].headers == want[0].headers
        assert got[1].get("Status") == "Fully Booted"
        client.send(("Action", "Ping"), ("ActionID", "rig-ping-1"))
        pong = await client.next()
        assert [k for k, _ in pong.headers] == ["Response", "ActionID", "Ping", "Timestamp"]
        assert pong.get("Ping") == "Pong"
        client.send(("Action", "CoreSettings"), ("ActionID", "rig-coresettings-1"))
        settings = await client.next()
        fx_settings = next(m for m in fx if m.action_id == "rig-coresettings-1")
        assert settings.headers == fx_settings.headers
        client.send(("Action", "NoSuchThing"), ("ActionID", "x-1"))
        unknown = await client.next()
        assert (unknown.response, unknown.get("Message")) == ("Error", "Invalid/unknown command")
        client.send(("Action", "Logoff"), ("ActionID", "rig-logoff"))
        bye = await client.next()
        assert bye.headers == next(m for m in fx if m.action_id == "rig-logoff").headers
        assert await client.next() is None  # the server closed the socket
    finally:
        client.close()


@on_sim
async def test_failed_login_waits_answers_error_and_closes(sim):
    fx = fixture_messages("login_failed.txt")
    client = await AmiTestClient.connect(sim.ami_port)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        got = await client.login(secret="wrong")
        assert loop.time() - started >= 0.2  # the configured failure delay
        want = fx[0]
        assert [k for k, _ in got[-1].headers] == [k for k, _ in want.headers]
        assert (got[-1].response, got[-1].get("Message")) == ("Error", "Authentication failed")
        assert await client.next() is None
    finally:
        client.close()


@on_sim
async def test_events_reach_every_logged_in_connection_and_none_before_login(sim):
    a = await AmiTestClient.connect(sim.ami_port)
    b = await AmiTestClient.connect(sim.ami_port)
    c = await AmiTestClient.connect(sim.ami_port)  # never logs in
    try:
        await a.login()
        await b.login()
        assert await c.next() == AmiBanner("Asterisk Call Manager/9.0.0")
        originate(a, "multi-1", "5551235")
        for client in (a, b):
            msgs = await client.until(lambda m: m.event == "OriginateResponse")
            assert any(m.event == "Newchannel" for m in msgs)
        with pytest.raises(TimeoutError):
            await c.next(timeout=0.2)
        c.send(("Action", "Ping"), ("ActionID", "p"))
        denied = await c.next()
        assert (denied.response, denied.get("Message")) == ("Error", "Permission denied")
    finally:
        for client in (a, b, c):
            client.close()


@on_sim
async def test_drop_ami_connections_keeps_calls_running(sim):
    client = await AmiTestClient.connect(sim.ami_port)
    await client.login()
    originate(client, "drop-1", "5551236", timeout_ms=2000)
    await client.until(lambda m: m.event == "DialState")
    await sim.drop_ami_connections()
    with contextlib.suppress(ConnectionError):
        assert await client.next() is None
    client.close()
    assert any(s.action_id == "drop-1" for s in sim.channels)
    again = await AmiTestClient.connect(sim.ami_port)
    try:
        await again.login()
        msgs = await again.until(lambda m: m.event == "OriginateResponse")
        assert msgs[-1].action_id == "drop-1" and msgs[-1].get("Reason") == "3"
        assert sim.originates_received == ["drop-1"]
    finally:
        again.close()


@on_sim
async def test_core_show_channels_lists_live_legs_and_hangup_by_uniqueid(sim):
    client = await AmiTestClient.connect(sim.ami_port)
    try:
        await client.login()
        originate(client, "show-1", "5551236", ("ChannelId", "call-abc"), timeout_ms=60000)
        await client.until(lambda m: m.event == "DialState")
        client.send(("Action", "CoreShowChannels"), ("ActionID", "cs-1"))
        msgs = await client.until(lambda m: m.event == "CoreShowChannelsComplete")
        listed = [m for m in msgs if m.event == "CoreShowChannel"]
        assert {m.get("Uniqueid") for m in listed} == {"call-abc", "call-abc;2"}
        assert all(m.action_id == "cs-1" for m in listed)
        assert msgs[-1].get("ListItems") == "2" and msgs[-1].get("EventList") == "Complete"
        ack = next(m for m in msgs if m.response)
        assert (ack.get("EventList"), ack.get("Message")) == ("start", "Channels will follow")
        client.send(("Action", "Hangup"), ("ActionID", "h-1"), ("Channel", "call-abc"))
        msgs = await client.until(lambda m: m.event == "OriginateResponse")
        reply = next(m for m in msgs if m.action_id == "h-1")
        assert (reply.response, reply.get("Message")) == ("Success", "Channel Hungup")
        assert msgs[-1].get("Response") == "Failure" and msgs[-1].get("Uniqueid") == "call-abc"
        client.send(("Action", "Hangup"), ("ActionID", "h-2"), ("Channel", "nope"))
        missing = await client.until(lambda m: m.action_id == "h-2")
        assert (missing[-1].response, missing[-1].get("Message")) == ("Error", "No such channel")
    finally:
        client.close()


@on_sim
async def test_panoramisk_logs_in_pings_and_gets_originate_response(sim):
    from panoramisk import Manager

    manager = Manager(
        host="127.0.0.1",
        port=sim.ami_port,
        username="dialer",
        secret="dialer",
        ping_delay=0,
        reconnect_timeout=0.1,
    )
    try:
        await asyncio.wait_for(manager.connect(), 5)
        pong = await asyncio.wait_for(manager.send_action({"Action": "Ping"}), 5)
        assert pong.Response == "Success" and pong.Ping == "Pong"
        queued = await asyncio.wait_for(
            manager.send_action(
                {
                    "Action": "Originate",
                    "Channel": "Local/5551235@sim-callee",
                    "Context": CTX,
                    "Exten": "s",
                    "Priority": "1",
                    "Async": "true",
                    "ActionID": "pano-1",
                }
            ),
            5,
        )
        # panoramisk collects an async Originate until its OriginateResponse.
        assert queued[0].Message == "Originate successfully queued"
        assert queued[-1].Event == "OriginateResponse" and queued[-1].Reason == "5"
        assert queued[-1].Response == "Failure" and queued[-1].ActionID == "pano-1"
    finally:
        manager.close()


def test_config_from_toml_table_and_errors_name_the_key(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text(
        '[sim]\nseed = 7\ntime_scale = 15\nbehaviour = "last_digit"\n'
        "[sim.callees]\nring_mean = 5\n[sim.callees.mix]\nbusy = 0.5\n"
        "[sim.agents]\ncount = 3\nwrapuptime = 10\n"
        '[sim.dialplan]\npacedial-answered = "agi://127.0.0.1:4573/router"\n',
        encoding="utf-8",
    )
    from pbx.sim import load_sim_config

    cfg = load_sim_config(path)
    assert (cfg.seed, cfg.time_scale, cfg.behaviour) == (7, 15.0, "last_digit")
    assert cfg.callees.ring_mean == 5.0 and cfg.callees.mix.busy == 0.5
    assert cfg.agents.count == 3 and cfg.dialplan["pacedial-answered"].startswith("agi://")
    path.write_text("[sim.agents]\ncount = 'many'\n", encoding="utf-8")
    with pytest.raises(SimConfigError, match=r"site\.toml: sim\.agents\.count: expected int"):
        load_sim_config(path)
    path.write_text('[sim]\nbehaviour = "chaos"\n', encoding="utf-8")
    with pytest.raises(SimConfigError, match=r"site\.toml: sim\.behaviour"):
        load_sim_config(path)
