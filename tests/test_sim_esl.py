"""The simulated PBX's ESL side against the FreeSWITCH 1.10.12 captures, over real sockets.

Each capture's own commands are replayed against the sim (``behaviour = "last_digit"``, the
recording rig's callees). A command is sent once the sim has written as many messages as
FreeSWITCH had, so a missing or extra message fails the replay. Then the messages are compared:
event names per leg and in order, key headers, and the ordering rules of the captures' README
(the originate's BACKGROUND_JOB may fall anywhere among the hang-ups of a failed call; on an
outbound socket, ``+OK`` replies and events are two streams, each in order).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass

import pytest
from transcripts import load
from virtual_time import in_virtual_time

from pbx.freeswitch.esl import EslCommandParser, EslMessage, EslParser, command_line
from pbx.sim import AgentConfig, SimConfig, SimPbx
from pbx.sim.esl_pbx import SimEsl

# --- replay helpers (also used by test_sim_esl_driver.py) ---------------------------------


def fixture_messages(relpath: str) -> tuple[list[EslMessage], list[tuple[int, bytes]]]:
    """(what FreeSWITCH wrote, [(messages written before it, command bytes)]) of a capture."""
    server: list[EslMessage] = []
    commands: list[tuple[int, bytes]] = []
    sp, cp = EslParser(), EslCommandParser()
    for chunk in load(relpath):
        if chunk.direction == "S":
            sp.feed(chunk.data)
            while (msg := sp.next_message()) is not None:
                if not (msg.event is not None and msg.event.name == "HEARTBEAT"):
                    server.append(msg)  # the sim's heartbeat clock is its own
        else:
            cp.feed(chunk.data)
            while (msg := cp.next_message()) is not None:
                commands.append((len(server), reencode(msg)))
    return server, commands


def reencode(msg: EslMessage) -> bytes:
    """A command message back to bytes (command line, header lines, blank line)."""
    lines = [command_line(msg)] + [f"{k}: {v}" for k, v in msg.headers[1:]]
    return ("\n".join(lines) + "\n\n").encode()


@dataclass
class Peer:
    """One side of a socket, collecting every message the other side writes."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def __post_init__(self) -> None:
        self.parser = EslParser()
        self.messages: list[EslMessage] = []
        self.closed = False

    async def until(self, count: int, timeout: float) -> None:
        """Read until ``count`` messages arrived (or EOF / timeout: the caller checks)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.messages) < count and not self.closed:
            left = deadline - loop.time()
            if left <= 0:
                return
            try:
                data = await asyncio.wait_for(self.reader.read(65536), left)
            except TimeoutError:
                return
            if not data:
                self.closed = True
                return
            self.parser.feed(data)
            while (msg := self.parser.next_message()) is not None:
                self.messages.append(msg)


async def replay(peer: Peer, commands: list[tuple[int, bytes]], total: int, timeout: float):
    """Send each command once the sim wrote as many messages as FreeSWITCH had; read the rest."""
    for before, raw in commands:
        await peer.until(before, timeout)
        assert len(peer.messages) >= before, (
            f"sim wrote {len(peer.messages)} messages before {raw[:40]!r}, FreeSWITCH {before}: "
            f"{[kind(m) for m in peer.messages]}"
        )
        peer.writer.write(raw)
    await peer.until(total, timeout)


def kind(msg: EslMessage) -> str:
    """A short label: the event name, or content type (+ reply text / disposition)."""
    event = msg.event
    if event is not None:
        app = event.get("Application")
        return f"{event.name}[{app}]" if app else event.name
    if msg.is_connect_reply:
        return "connect-reply"
    ctype = msg.content_type
    if ctype == "command/reply":
        return f"reply {msg.reply_text.split(' ')[0]}"
    if ctype == "text/disconnect-notice":
        return f"notice {msg.header('Content-Disposition') or 'plain'}"
    return ctype


TIME_SCALE = 20.0
# Variables the recording rig's own dialplan set; the sim's callee has no dialplan.
RIG_ONLY = {
    "variable_DP_MATCH",
    "variable_sim_ring_ms",
    "variable_sim_talk_ms",
    "variable_sim_hangup_cause",
    "variable_current_application",
    "variable_current_application_data",
    "variable_current_loop",
    "variable_total_loops",
    "variable_last_app",  # on the -b leg: the rig's callee dialplan
    "variable_last_arg",
}
KEY_HEADERS = (
    "Event-Name",
    "Answer-State",
    "Channel-Call-State",
    "Call-Direction",
    "Hangup-Cause",
    "variable_hangup_cause",
    "variable_hangup_cause_q850",
    "variable_loopback_leg",
    "variable_endpoint_disposition",
    "Application",
    "Application-Response",
    "Job-Command",
)


async def start_sim(**config) -> tuple[SimPbx, SimEsl]:
    sim = SimPbx(SimConfig(seed=1, time_scale=TIME_SCALE, behaviour="last_digit", **config))
    await sim.start()
    esl = SimEsl(sim, heartbeat_interval=600)
    await esl.start()
    return sim, esl


async def stop_sim(sim: SimPbx, esl: SimEsl) -> None:
    await esl.close()
    await sim.close()


def origination_uuid(commands) -> str:
    for _, raw in commands:
        text = raw.decode()
        if "origination_uuid=" in text:
            return text.split("origination_uuid=", 1)[1].split(",", 1)[0]
    raise AssertionError("no originate in the capture")


def leg(msg: EslMessage, uuid: str) -> str:
    event = msg.event
    assert event is not None
    if event.unique_id is None:
        return "-"
    return "a" if event.unique_id == uuid else "b"


def labels(messages: list[EslMessage], uuid: str) -> list[str]:
    return [f"{kind(m)}/{leg(m, uuid)}" if m.event else kind(m) for m in messages]


def key_fields(msg: EslMessage) -> dict[str, str | None]:
    event = msg.event
    assert event is not None
    out = {k: event.get(k) for k in KEY_HEADERS}
    out["answered"] = str((event.get("Caller-Channel-Answered-Time") or "0") != "0")
    out["body"] = event.body.split(" ")[0] if event.body else ""
    return out


def hangup_cause_count(msg: EslMessage) -> int:
    if msg.content_type == "text/event-json":
        return msg.body.count(b'"Hangup-Cause":')
    return msg.body.count(b"\nHangup-Cause: ")


def assert_events_match(sim_msgs: list[EslMessage], fs_msgs: list[EslMessage], uuid: str):
    """Same event names per leg in order, same key headers, same header names (rig aside)."""
    sim_events = [m for m in sim_msgs if m.event is not None]
    fs_events = [m for m in fs_msgs if m.event is not None]
    assert Counter(labels(sim_events, uuid)) == Counter(labels(fs_events, uuid))
    for side in ("a", "b", "-"):
        mine = [m for m in sim_events if leg(m, uuid) == side]
        theirs = [m for m in fs_events if leg(m, uuid) == side]
        assert labels(mine, uuid) == labels(theirs, uuid), side
        for ours, real in zip(mine, theirs, strict=True):
            assert key_fields(ours) == key_fields(real), kind(real)
            missing = set(real.event.headers) - set(ours.event.headers) - RIG_ONLY
            assert not missing, f"{kind(real)}/{side}: sim lacks {sorted(missing)}"
            assert ours.content_type == real.content_type
            if real.event.name == "CHANNEL_HANGUP_COMPLETE":
                assert hangup_cause_count(ours) == hangup_cause_count(real) == 2
            if real.event.unique_id is not None:
                assert ours.event.get("variable_pacedial_call_id") == uuid
                assert ours.event.get("variable_origination_uuid") == uuid


# --- inbound: auth -------------------------------------------------------------------------


@in_virtual_time
async def test_auth_status_version_and_exit_answer_like_freeswitch():
    fs, commands = fixture_messages("freeswitch/inbound/auth_status.txt")
    sim, esl = await start_sim()
    try:
        peer = Peer(*await asyncio.open_connection("127.0.0.1", esl.port))
        await replay(peer, commands, len(fs), 5.0)
        assert [kind(m) for m in peer.messages] == [kind(m) for m in fs]
        status, channels, version = (m.text for m in peer.messages[2:5])
        assert status.startswith("UP 0 years,") and "is ready" in status
        assert channels == fs[3].text == '{"row_count": 0}\n'
        assert version == fs[4].text
        await peer.until(len(fs) + 1, 1.0)
        assert peer.closed
    finally:
        await stop_sim(sim, esl)


@in_virtual_time
async def test_wrong_password_is_refused_with_a_notice_and_the_socket_closes():
    fs, commands = fixture_messages("freeswitch/inbound/auth_failed.txt")
    sim, esl = await start_sim()
    try:
        peer = Peer(*await asyncio.open_connection("127.0.0.1", esl.port))
        await replay(peer, commands, len(fs), 5.0)
        assert [kind(m) for m in peer.messages] == [kind(m) for m in fs]
        assert peer.messages[1].reply_text == "-ERR invalid"
        assert peer.messages[2].body == fs[2].body
        await peer.until(len(fs) + 1, 1.0)
        assert peer.closed
    finally:
        await stop_sim(sim, esl)


# --- inbound: one originate per callee type ------------------------------------------------

CALLEES = [
    "originate_answered_park",  # answered, A leg parked, callee hangs up
    "originate_busy",
    "originate_noanswer",
    "originate_congestion",
    "originate_unallocated",
    "event_plain_originate",  # answered, `event plain`
    "uuid_kill",  # answered, killed by us; show channels before and after
]


@pytest.mark.parametrize("name", CALLEES)
@in_virtual_time
async def test_originate_events_match_the_capture(name):
    fs, commands = fixture_messages(f"freeswitch/inbound/{name}.txt")
    uuid = origination_uuid(commands)
    sim, esl = await start_sim()
    try:
        peer = Peer(*await asyncio.open_connection("127.0.0.1", esl.port))
        await replay(peer, commands, len(fs), 5.0)
        got = peer.messages
    finally:
        await stop_sim(sim, esl)
    assert len(got) == len(fs), labels(got, uuid)
    # Replies, api answers and notices: the same, in the same places.
    non_events = [(i, kind(m)) for i, m in enumerate(got) if m.event is None]
    assert non_events == [(i, kind(m)) for i, m in enumerate(fs) if m.event is None]
    assert_events_match(got, fs, uuid)
    # The job result: +OK <our uuid> when answered, -ERR <CAUSE> otherwise.
    jobs = [m.event for m in got if m.event and m.event.name == "BACKGROUND_JOB"]
    real_jobs = [m.event for m in fs if m.event and m.event.name == "BACKGROUND_JOB"]
    assert [j.body for j in jobs][:1] == [real_jobs[0].body]
    assert jobs[0].get("Job-Command-Arg") == real_jobs[0].get("Job-Command-Arg")
    reply = next(m for m in got if m.reply_text.startswith("+OK Job-UUID"))
    assert jobs[0].get("Job-UUID") == reply.header("Job-UUID")
    # Ordering rules: the job of an answered call follows CHANNEL_ANSWER of the a leg; a failed
    # call's job follows every CHANNEL_CREATE.
    order = labels(got, uuid)
    job_at = order.index("BACKGROUND_JOB/-")
    if jobs[0].body.startswith("+OK"):
        assert order.index("CHANNEL_ANSWER/a") < job_at
    else:
        assert max(i for i, k in enumerate(order) if k.startswith("CHANNEL_CREATE")) < job_at
    if name == "uuid_kill":
        rows = json.loads(got[11].body)["rows"]
        assert {r["uuid"] == uuid for r in rows} == {True, False}
        assert [m.text for m in got if m.content_type == "api/response"][1] == '{"row_count": 0}\n'
        assert jobs[-1].body == "-ERR No such channel!\n"


# --- outbound socket: the answered call's session, paired with its inbound capture ---------

PAIRS = [
    ("originate_answered_socket", "outbound_robot_session", {}),
    ("originate_answered_callee_hangup", "outbound_callee_hangup", {"prompt_seconds": 10.0}),
    ("originate_quick_hangup", "outbound_quick_hangup_nolinger", {}),
]


@pytest.mark.parametrize(("inbound", "outbound", "config"), PAIRS)
@in_virtual_time
async def test_outbound_socket_session_matches_the_capture(inbound, outbound, config):
    fs_in, in_commands = fixture_messages(f"freeswitch/inbound/{inbound}.txt")
    fs_out, out_commands = fixture_messages(f"freeswitch/outbound/{outbound}.txt")
    uuid = origination_uuid(in_commands)
    sessions: list[Peer] = []
    done = asyncio.Event()

    async def script(reader, writer):
        peer = Peer(reader, writer)
        sessions.append(peer)
        await replay(peer, out_commands, len(fs_out), 5.0)
        await peer.until(len(fs_out) + 1, 1.0)  # EOF after the last notice
        done.set()

    server = await asyncio.start_server(script, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sim, esl = await start_sim(**config)
    esl.set_dialplan("dialer-answered", f"socket 127.0.0.1:{port} async full")
    try:
        inbound_peer = Peer(*await asyncio.open_connection("127.0.0.1", esl.port))
        await replay(inbound_peer, in_commands, len(fs_in), 5.0)
        await asyncio.wait_for(done.wait(), 5.0)
    finally:
        await stop_sim(sim, esl)
        server.close()
    assert_events_match(inbound_peer.messages, fs_in, uuid)
    got = sessions[0].messages
    assert sessions[0].closed
    connect = got[0]
    assert connect.is_connect_reply and connect.headers[0] == ("Event-Name", "CHANNEL_DATA")
    assert connect.header("Content-Length") is None
    assert connect.header("Reply-Text") == "%2BOK%0A"
    assert (connect.header("Socket-Mode"), connect.header("Control")) == ("async", "full")
    data = connect.channel_data
    assert data["Unique-ID"] == data["variable_pacedial_call_id"] == uuid
    assert data["Channel-Destination-Number"] == "dialer-answered"
    assert set(fs_out[0].channel_data) - set(data) <= RIG_ONLY
    # Two streams, each in order: command replies, and events + notices.
    replies = [kind(m) for m in got if m.content_type == "command/reply"]
    assert replies == [kind(m) for m in fs_out if m.content_type == "command/reply"]
    stream = [kind(m) for m in got[1:] if m.content_type != "command/reply"]
    assert stream == [kind(m) for m in fs_out[1:] if m.content_type != "command/reply"]
    for ours, real in zip([m for m in got if m.event], [m for m in fs_out if m.event], strict=True):
        assert key_fields(ours) == key_fields(real), (kind(real), outbound)
        assert ours.content_type == real.content_type
        assert ours.event.unique_id == uuid
    for ours, real in zip(
        [m for m in got if m.content_type == "text/disconnect-notice"],
        [m for m in fs_out if m.content_type == "text/disconnect-notice"],
        strict=True,
    ):
        assert [k for k, _ in ours.headers] == [k for k, _ in real.headers]
        assert ours.header("Controlled-Session-UUID") == uuid
        assert ours.body == real.body


# --- outbound socket: callcenter with no agent, uuid_break and sendmsg hangup ignored -------


def timed_commands(relpath: str) -> list[tuple[float, bytes]]:
    """(seconds since connect, command bytes) of the client side of a capture."""
    out: list[tuple[float, bytes]] = []
    parser = EslCommandParser()
    for chunk in load(relpath):
        if chunk.direction == "C":
            parser.feed(chunk.data)
            while (msg := parser.next_message()) is not None:
                out.append((chunk.t, reencode(msg)))
    return out


@in_virtual_time
async def test_callcenter_ignores_uuid_break_and_sendmsg_hangup_as_captured():
    """outbound_callcenter_no_agent_break.txt: no agent free; ``uuid_break`` after 2 s answers
    +OK and changes nothing, the queued caller's ``cc_cancel_reason`` is unset, a sendmsg
    hangup is answered +OK and discarded; callcenter completes only after the callee hangs up
    (BREAK_OUT). The sim's replies and channel events follow the capture in order (the
    callcenter::info CUSTOM events and ``callcenter_config`` on this socket aside)."""
    relpath = "freeswitch/outbound/outbound_callcenter_no_agent_break.txt"
    fs, _ = fixture_messages(relpath)
    uuid = fs[0].channel_data["Unique-ID"]
    commands = [c for c in timed_commands(relpath) if b"callcenter_config" not in c[1]]
    sessions: list[Peer] = []
    done = asyncio.Event()

    async def script(reader, writer):
        peer = Peer(reader, writer)
        sessions.append(peer)
        start = asyncio.get_running_loop().time()
        for t, raw in commands:
            await asyncio.sleep(
                max(0.0, start + t / TIME_SCALE - asyncio.get_running_loop().time())
            )
            writer.write(raw)
        await peer.until(len(fs) + 1, 5.0)
        done.set()

    server = await asyncio.start_server(script, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sim, esl = await start_sim(agents=AgentConfig(count=0))
    esl.set_dialplan("dialer-answered", f"socket 127.0.0.1:{port} async full")
    try:
        inbound = Peer(*await asyncio.open_connection("127.0.0.1", esl.port))
        inbound.writer.write(b"auth ClueCon\n\n")
        dial = f"{{origination_uuid={uuid},sim_ring=2,sim_talk=15}}loopback/5551231/sim-callee"
        inbound.writer.write(f"bgapi originate {dial} dialer-answered\n\n".encode())
        await asyncio.wait_for(done.wait(), 10.0)
    finally:
        await stop_sim(sim, esl)
        server.close()
    got = sessions[0].messages

    def replies(msgs: list[EslMessage]) -> list[str]:
        return [
            m.text if m.content_type == "api/response" else kind(m)
            for m in msgs
            if m.content_type in ("command/reply", "api/response") and "|" not in m.text
        ]

    def channel_events(msgs: list[EslMessage]) -> list[EslMessage]:
        return [m for m in msgs[1:] if m.event is None or m.event.name != "CUSTOM"]

    assert replies(got) == replies(fs)
    assert replies(got)[-4:-1] == ["+OK\n", "_undef_", "reply +OK"]  # break, getvar, hangup
    ours, real = channel_events(got), channel_events(fs)
    answers = ("command/reply", "api/response")  # compared above
    assert [kind(m) for m in ours if m.content_type not in answers] == [
        kind(m) for m in real if m.content_type not in answers
    ]
    for mine, theirs in zip(
        [m for m in ours if m.event], [m for m in real if m.event], strict=True
    ):
        assert key_fields(mine) == key_fields(theirs), kind(theirs)
    done_cc = next(m.event for m in ours if kind(m) == "CHANNEL_EXECUTE_COMPLETE[callcenter]")
    assert done_cc.get("variable_cc_cancel_reason") == "BREAK_OUT"
