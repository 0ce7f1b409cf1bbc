"""AMI → call model: AmiCallTracker over the recorded originate/queue transcripts, and the
AsteriskDriver over a loopback peer that replays them."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from ami_peer import PeerConn, ReplayPeer  # noqa: E402
from transcripts import load  # noqa: E402

from dialer_core.store.recordings import local_path  # noqa: E402
from pbx.asterisk.ami import AmiMessage, AmiParser, encode  # noqa: E402
from pbx.asterisk.client import AmiClient  # noqa: E402
from pbx.asterisk.driver import AsteriskDriver  # noqa: E402
from pbx.asterisk.tracker import UNREAD_EVENTS, AmiCallTracker  # noqa: E402
from pbx.model import (  # noqa: E402
    AgentConnected,
    AgentEvent,
    AgentState,
    Answered,
    CallRequest,
    Hangup,
    OriginateFailed,
    Result,
    Ringing,
)
from pbx.session import recording_file  # noqa: E402


class ReplayClock:
    """The recording's own timestamps: the time of the chunk that completed each message."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def replay(
    path: str, mode: str, skip: frozenset[str] = frozenset()
) -> tuple[list[object], AmiCallTracker]:
    """Feed the PBX side of a transcript to a tracker primed from the client side (through a
    parser that drops the events named in ``skip``).

    mode "full": everything the driver sends (dial string, ChannelId when the recording has it,
    the lead variable as call-id variable); "dial": ActionID + dial string only; "action":
    nothing but the ActionID (OriginateResponse is the only link).
    """
    chunks = load(f"asterisk/ami/{path.removesuffix('.txt')}.txt")
    actions = AmiParser(expect_banner=False).messages(
        b"".join(c.data for c in chunks if c.direction == "C")
    )
    clock = ReplayClock()
    tracker = AmiCallTracker(clock, call_id_variable="DIALER_LEAD")
    for act in actions:
        assert isinstance(act, AmiMessage)
        if act.action != "Originate":
            continue
        lead = [v.split("=", 1)[1] for v in act.get_all("Variable") if v.startswith("DIALER_LEAD=")]
        ids = [v for v in (act.get("ChannelId"), act.get("OtherChannelId")) if v]
        tracker.expect(
            f"call:{act.action_id}",
            action_id=act.action_id,
            dial=act["Channel"] if mode in ("full", "dial") else "",
            channel_ids=ids if mode == "full" else (),
            tag=lead[0] if lead and mode == "full" else f"unused:{act.action_id}",
        )
    parser = AmiParser(skip_events=skip)
    out: list[object] = []
    for chunk in chunks:
        if chunk.direction != "S":
            continue
        clock.now = chunk.t
        for msg in parser.messages(chunk.data):
            if isinstance(msg, AmiMessage):
                out += tracker.handle(msg)
    return out, tracker


# (fixture, ActionID, result, cause, answered, approximate talk seconds, rang)
CASES = [
    ("originate_answered", "rig-orig-answered-1", Result.ANSWERED, 16, True, None, True),
    ("originate_answered_callee_hangup", "rig-orig-answered-2", Result.ANSWERED, 16, True, 7, True),
    ("originate_busy", "rig-orig-busy-1", Result.BUSY, 17, False, 0.0, False),
    ("originate_busy_channelid", "rig-orig-busy-2", Result.BUSY, 17, False, 0.0, False),
    ("originate_congestion", "rig-orig-congestion-1", Result.CONGESTION, 34, False, 0.0, False),
    ("originate_noanswer", "rig-orig-noanswer-1", Result.NO_ANSWER, 19, False, 0.0, True),
    ("originate_unallocated", "rig-orig-unalloc-1", Result.INVALID_NUMBER, 1, False, 0.0, False),
    ("originate_quick_hangup", "rig-orig-quick-1", Result.ANSWERED, 16, True, 1.0, True),
    ("originate_sip_answered", "rig-sip-answered-1", Result.ANSWERED, 16, True, None, True),
    ("originate_sip_busy", "rig-sip-busy-1", Result.BUSY, 17, False, 0.0, False),
    ("originate_sip_congestion", "rig-sip-congestion-1", Result.CONGESTION, 34, False, 0.0, False),
    ("originate_sip_noanswer", "rig-sip-noanswer-1", Result.NO_ANSWER, 19, False, 0.0, True),
    ("queue_call", "rig-orig-queue-1", Result.ANSWERED, 16, True, 10.5, True),
]  # fmt: skip


@pytest.mark.parametrize("mode", ["full", "dial", "action"])
@pytest.mark.parametrize("path", [c[0] for c in CASES])
def test_events_the_driver_drops_unread_change_nothing_the_tracker_says(
    path: str, mode: str
) -> None:
    out, tracker = replay(path, mode)
    skipped, after = replay(path, mode, UNREAD_EVENTS)
    assert skipped == out and after.call_ids() == tracker.call_ids()
    assert any(isinstance(e, Hangup) for e in out)


def test_the_driver_client_drops_the_events_nobody_reads() -> None:
    driver = AsteriskDriver(AmiClient("127.0.0.1", 1, "u", "p"))
    assert driver.client.skip_events == UNREAD_EVENTS
    assert not UNREAD_EVENTS & {"Newchannel", "Newstate", "Hangup", "VarSet", "FullyBooted"}
    parser = AmiParser(expect_banner=False, skip_events=UNREAD_EVENTS)
    data = b"Event: Newexten\r\nUniqueid: 1\r\n\r\nEvent: Hangup\r\nUniqueid: 1\r\n\r\n"
    assert [m.event for m in parser.messages(data)] == ["Hangup"]  # type: ignore[union-attr]
    assert parser.skipped == 1
    # The message-by-message path (bare LF) skips the same ones.
    parser = AmiParser(expect_banner=False, skip_events=UNREAD_EVENTS)
    assert [m.event for m in parser.messages(data.replace(b"\r", b""))] == ["Hangup"]  # type: ignore[union-attr]
    assert parser.skipped == 1


@pytest.mark.parametrize("mode", ["full", "dial"])
@pytest.mark.parametrize(("path", "aid", "result", "cause", "answered", "talk", "rang"), CASES)
def test_tracker_maps_each_recorded_call(
    path: str, aid: str, result: Result, cause: int, answered: bool, talk: float | None,
    rang: bool, mode: str,
) -> None:  # fmt: skip
    out, tracker = replay(path, mode)
    call_id = f"call:{aid}"
    hangups = [e for e in out if isinstance(e, Hangup)]
    assert len(hangups) == 1, hangups
    (h,) = hangups
    assert (h.call_id, h.result, h.cause, h.answered) == (call_id, result, cause, answered)
    if talk is not None:
        assert h.talk_seconds == pytest.approx(talk, abs=0.6)
    assert [e for e in out if isinstance(e, Answered)] == (
        [Answered(call_id, _answered_channel(out, h))] if answered else []
    )
    assert (Ringing(call_id) in out) is rang
    assert [e for e in out if not isinstance(e, AgentEvent)][-1] == h
    assert tracker.call_ids() == set()


def _answered_channel(out: list[object], h: Hangup) -> str:
    return next(e.channel for e in out if isinstance(e, Answered) and e.call_id == h.call_id)


@pytest.mark.parametrize(("path", "aid", "result", "cause", "answered", "talk", "rang"), CASES)
def test_tracker_with_only_the_action_id_still_ends_each_call_once(
    path: str, aid: str, result: Result, cause: int, answered: bool, talk: float | None,
    rang: bool,
) -> None:  # fmt: skip
    out, _ = replay(path, "action")
    (h,) = [e for e in out if isinstance(e, Hangup)]
    assert h.answered is answered
    if path == "originate_unallocated":
        # Reason 0 and no leg known: the cause is lost, the call counts as failed.
        assert (h.result, h.cause) == (Result.FAILED, 0)
    else:
        assert (h.result, h.cause) == (result, cause)


def test_parallel_originates_are_told_apart() -> None:
    for mode in ("full", "dial", "action"):
        out, tracker = replay("originate_parallel.txt", mode)
        hangups = {e.call_id: e for e in out if isinstance(e, Hangup)}
        assert {k: (v.result, v.cause) for k, v in hangups.items()} == {
            "call:rig-par-answered": (Result.ANSWERED, 16),
            "call:rig-par-busy": (Result.BUSY, 17),
            "call:rig-par-noanswer": (Result.NO_ANSWER, 19),
        }, mode
        assert len([e for e in out if isinstance(e, Hangup)]) == 3
        assert tracker.call_ids() == set()


def test_busy_waits_for_the_second_leg_whatever_the_order() -> None:
    # originate_busy: ;1 Hangup (0), OriginateResponse, ;2 Hangup (17); with ChannelId the
    # OriginateResponse comes after both legs. Both must end with the ;2 leg's cause 17.
    for path in ("originate_busy.txt", "originate_busy_channelid.txt"):
        out, _ = replay(path, "full")
        assert [(type(e).__name__, getattr(e, "cause", None)) for e in out] == [("Hangup", 17)]


def test_queue_call_agent_states() -> None:
    out, _ = replay("queue_call.txt", "full")
    agent1 = [
        e.state.state
        for e in out
        if isinstance(e, AgentEvent) and e.state.agent == "Local/agent1@sim-agents/n"
    ]
    # What Asterisk says, in order: QueueStatus idle, AgentCalled, QueueMemberStatus 2,
    # AgentConnect, AgentComplete, then QueueMemberStatus 1 right after. No wrap-up time was
    # learned (no GetConfig), so app_queue's default 0 applies: idle at once.
    assert agent1 == ["idle", "ringing", "talking", "talking", "idle", "idle"]
    assert all(e.state.queue == "collectors" for e in out if isinstance(e, AgentEvent))


@pytest.mark.parametrize("mode", ["full", "dial", "action"])
def test_queue_call_emits_one_agent_connected_with_the_hold_time(mode: str) -> None:
    out, _ = replay("queue_call.txt", mode)
    call_id = "call:rig-orig-queue-1"
    connected = [e for e in out if isinstance(e, AgentConnected)]
    # The recording's AgentConnect says HoldTime: 0 (agent1 answered at once).
    assert connected == [AgentConnected(call_id, "Local/agent1@sim-agents/n", 0.0)]
    calls = [e for e in out if isinstance(e, Answered | AgentConnected | Hangup)]
    assert [type(e) for e in calls] == [Answered, AgentConnected, Hangup]


def test_agent_connect_maps_by_uniqueid_or_linkedid_and_ignores_other_calls() -> None:
    tracker = AmiCallTracker(lambda: 0.0)
    tracker.expect("c-1", action_id="c-1", channel_ids=("c-1", "c-1-2"))

    def connect(uid: str, linked: str, *extra: tuple[str, str]) -> AmiMessage:
        return AmiMessage(
            (("Event", "AgentConnect"), ("Channel", "PJSIP/trunk-01"), ("Uniqueid", uid),
             ("Linkedid", linked), ("Queue", "q"), *extra, ("HoldTime", "7"), ("RingTime", "2"))
        )  # fmt: skip

    by_uid = tracker.handle(connect("c-1", "c-1", ("Interface", "PJSIP/8001")))
    assert by_uid == [
        AgentEvent(AgentState("PJSIP/8001", "q", "talking")),
        AgentConnected("c-1", "PJSIP/8001", 7.0),
    ]
    # A channel we never saw, linked to our call: Linkedid names it; no Interface: MemberName.
    by_linked = tracker.handle(connect("1795867400.9", "c-1", ("MemberName", "Agent Nine")))
    assert by_linked[1:] == [AgentConnected("c-1", "Agent Nine", 7.0)]
    # An inbound call (not ours): only the agent's state.
    other = tracker.handle(connect("1795867401.3", "1795867401.3", ("Interface", "PJSIP/8002")))
    assert [type(e) for e in other] == [AgentEvent]


def test_paused_member_and_removal() -> None:
    tracker = AmiCallTracker(lambda: 0.0)
    paused = AmiMessage(
        (("Event", "QueueMemberPause"), ("Queue", "q"), ("Interface", "PJSIP/8001"),
         ("Paused", "1"), ("Status", "1"))
    )  # fmt: skip
    removed = AmiMessage(
        (("Event", "QueueMemberRemoved"), ("Queue", "q"), ("Interface", "PJSIP/8001"))
    )
    busy = AmiMessage(
        (("Event", "QueueMemberStatus"), ("Queue", "q"), ("Interface", "PJSIP/8001"),
         ("Status", "1"), ("InCall", "1"), ("Paused", "0"))
    )  # fmt: skip
    states = [e.state.state for m in (paused, busy, removed) for e in tracker.handle(m)]
    assert states == ["paused", "talking", "logged_out"]


def test_reconcile_ends_calls_whose_channels_vanished_during_a_reconnect() -> None:
    now = [100.0]
    tracker = AmiCallTracker(lambda: now[0])
    tracker.expect("gone", action_id="gone", channel_ids=("gone", "gone-2"))
    tracker.expect("alive", action_id="alive", channel_ids=("alive", "alive-2"))
    tracker.expect("later", action_id="later", channel_ids=("later", "later-2"))
    newchannel = AmiMessage(
        (("Event", "Newchannel"), ("Channel", "PJSIP/trunk-01"), ("Uniqueid", "gone"))
    )
    assert tracker.handle(newchannel) == []
    now[0] = 130.0
    out = tracker.reconcile({"alive": "Up", "unrelated": "Up"}, ["gone", "alive"])
    assert out == [
        Hangup("gone", 0, "CAUSE_0", False, Result.FAILED, 0.0),
        Answered("alive", ""),
    ]
    assert tracker.call_ids() == {"alive", "later"}  # "later" was not in the snapshot
    now[0] = 142.5
    end = AmiMessage(
        (("Event", "Hangup"), ("Channel", "PJSIP/trunk-02"), ("Uniqueid", "alive"),
         ("Cause", "16"))
    )  # fmt: skip
    assert tracker.handle(end) == [
        Hangup("alive", 16, "NORMAL_CLEARING", True, Result.ANSWERED, 12.5)
    ]


# --- the driver over a loopback peer replaying the recordings -----------------------------


async def _driver_for(peer: ReplayPeer, **kw: object) -> AsteriskDriver:
    client = AmiClient("127.0.0.1", peer.port, "dialer", "dialer", ping_interval=30)
    driver = AsteriskDriver(client, **kw)  # type: ignore[arg-type]
    await driver.connect()
    return driver


async def _until_hangup(driver: AsteriskDriver) -> list[object]:
    got: list[object] = []

    async def collect() -> None:
        async for ev in driver.events():
            got.append(ev)
            if isinstance(ev, Hangup | OriginateFailed):
                return

    await asyncio.wait_for(collect(), 5)
    return got


async def test_driver_originate_busy_over_ami() -> None:
    async with ReplayPeer("asterisk/ami/originate_busy_channelid.txt") as peer:
        driver = await _driver_for(peer, dial_template="Local/{number}@sim-callee")
        req = CallRequest("c-5f1e", "+5551245", "5550100", ring_timeout=25, variables={"L": "9"})
        await driver.originate(req)
        events = await _until_hangup(driver)
        await driver.close()
    assert events == [Hangup("c-5f1e", 17, "USER_BUSY", False, Result.BUSY, 0.0)]
    (sent,) = [m for m in peer.actions() if m.action == "Originate"]
    assert sent.headers == (
        ("Action", "Originate"),
        ("ActionID", "c-5f1e"),
        ("Channel", "Local/5551245@sim-callee"),
        ("Context", "pacedial-answered"),
        ("Exten", "s"),
        ("Priority", "1"),
        ("Timeout", "25000"),
        ("CallerID", "5550100"),
        ("Async", "true"),
        ("ChannelId", "c-5f1e"),
        ("OtherChannelId", "c-5f1e-2"),
        ("Variable", "PACEDIAL_CALL_ID=c-5f1e"),
        ("Variable", "L=9"),
    )
    assert peer.actions()[-1].action == "Logoff"


async def test_driver_reports_synchronous_originate_error() -> None:
    async with ReplayPeer("asterisk/ami/originate_bad_exten.txt") as peer:
        driver = await _driver_for(peer, answered_context="no-such-context")
        await driver.originate(CallRequest("c-bad", "+5551230", "5550100"))
        events = await _until_hangup(driver)
        assert driver.tracker.call_ids() == set()
        await driver.close()
    assert events == [OriginateFailed("c-bad", "Extension does not exist.")]


async def test_driver_agents_from_queue_status() -> None:
    async with ReplayPeer("asterisk/ami/queue_call.txt") as peer:
        driver = await _driver_for(peer)
        agents = await asyncio.wait_for(driver.agents(), 5)
        await driver.close()
    assert [(a.agent, a.queue, a.state) for a in agents] == [
        ("Local/agent1@sim-agents/n", "collectors", "idle"),
        ("Local/agent2@sim-agents/n", "collectors", "idle"),
    ]


async def test_driver_resyncs_after_reconnect_and_lists_live_calls() -> None:
    """A call whose channels vanished while the link was down ends once, as FAILED; a call
    still up is reported by live_calls() under its call id."""

    def channel(aid: str, uid: str, state: str) -> bytes:
        return encode([("Event", "CoreShowChannel"), ("ActionID", aid),
                       ("Channel", f"PJSIP/trunk-{uid}"), ("ChannelStateDesc", state),
                       ("Uniqueid", uid), ("Linkedid", uid)])  # fmt: skip

    async def handler(conn: PeerConn, index: int) -> None:
        await conn.login()
        while (action := await conn.read_action()) is not None:
            aid = action.action_id or ""
            conn.answer_logoff(action)
            if action.action == "Originate":
                conn.write(encode([("Response", "Success"), ("ActionID", aid)]))
                uid = action["ChannelId"]
                conn.write(encode([("Event", "Newchannel"), ("Channel", f"PJSIP/trunk-{uid}"),
                                   ("ChannelStateDesc", "Down"), ("Uniqueid", uid)]))  # fmt: skip
                if uid == "c-lost":
                    conn.writer.close()  # link drops; both calls' outcomes are unknown
                    return
            elif action.action in ("CoreShowChannels", "QueueStatus"):
                conn.write(encode([("Response", "Success"), ("ActionID", aid)]))
                if action.action == "CoreShowChannels":
                    conn.write(channel(aid, "c-up", "Up"))
                done = "CoreShowChannelsComplete" if action.action == "CoreShowChannels" else (
                    "QueueStatusComplete")  # fmt: skip
                conn.write(encode([("Event", done), ("ActionID", aid)]))

    async with ReplayPeer(handler=handler) as peer:
        client = AmiClient(
            "127.0.0.1", peer.port, "dialer", "dialer", ping_interval=30,
            reconnect_backoff=(0.01, 0.05),
        )  # fmt: skip
        driver = AsteriskDriver(client, dial_template="PJSIP/{number}@trunk")
        await driver.connect()
        await driver.originate(CallRequest("c-up", "+8613800138000", "1001"))
        await driver.originate(CallRequest("c-lost", "+8613800138001", "1001"))
        got: list[object] = []

        async def collect() -> None:
            async for ev in driver.events():
                got.append(ev)
                if len(got) == 2:
                    return

        await asyncio.wait_for(collect(), 5)
        assert got == [
            Answered("c-up", "PJSIP/trunk-c-up"),
            Hangup("c-lost", 0, "CAUSE_0", False, Result.FAILED, 0.0),
        ]
        assert await driver.live_calls() == {"c-up"}
        assert driver.tracker.call_ids() == {"c-up"}
        await driver.close()
    sent = [a for a in peer.actions() if a.action == "Originate"]
    assert [a["Channel"] for a in sent] == [
        "PJSIP/8613800138000@trunk",
        "PJSIP/8613800138001@trunk",
    ]


async def test_originates_are_pipelined_and_a_refusal_arrives_by_its_action_id() -> None:
    """Ten Originates go out before any Response (the peer answers only once it holds all
    ten, in reverse order); the one refused comes back as OriginateFailed for its call."""
    n = 10

    async def answer_after_all(conn: PeerConn, index: int) -> None:
        await conn.login()
        got = [await conn.read_action() for _ in range(n)]
        for act in reversed(got):
            assert act is not None and act.action == "Originate"
            ok = act.action_id != "c-3"
            conn.write(
                encode(
                    [
                        ("Response", "Success" if ok else "Error"),
                        ("ActionID", act.action_id or ""),
                        ("Message", "Originate successfully queued" if ok else "No such exten"),
                    ]
                )
            )
        await conn.drain_until_eof()

    async with ReplayPeer(handler=answer_after_all) as peer:
        driver = await _driver_for(peer)
        for i in range(n):
            await asyncio.wait_for(
                driver.originate(CallRequest(f"c-{i}", f"+55512{i:02d}", "5550100")), 1
            )
        events = await _until_hangup(driver)
        await driver.close()
    assert events == [OriginateFailed("c-3", "No such exten")]
    assert driver.tracker.call_ids() == {f"c-{i}" for i in range(n)} - {"c-3"}


@pytest.mark.parametrize("mode", ["dial", "action"])
def test_queue_caller_abandon_is_an_answered_call_with_no_agent(mode: str) -> None:
    """queue_caller_abandon.txt: both members paused, a Queue() that times out, then one the
    caller leaves by hanging up (QueueCallerAbandon twice). The call ends once, answered, with
    no AgentConnected (it never was an agent conversation); the members go paused, then idle."""
    out, tracker = replay("queue_caller_abandon.txt", mode)
    calls = [e for e in out if not isinstance(e, AgentEvent)]
    assert not [e for e in calls if isinstance(e, AgentConnected)]
    (h,) = [e for e in calls if isinstance(e, Hangup)]
    assert (h.call_id, h.result, h.cause, h.answered) == ("call:pd-aq-1", Result.ANSWERED, 16, True)
    assert calls[-1] == h and tracker.call_ids() == set()
    states = [(e.state.agent, e.state.state) for e in out if isinstance(e, AgentEvent)]
    assert states == [
        ("Local/agent1@sim-agent", "paused"),
        ("Local/agent2@sim-agent", "paused"),
        ("Local/agent1@sim-agent", "idle"),
        ("Local/agent2@sim-agent", "idle"),
    ]


def test_mixmonitor_events_name_the_file_our_recording_name_gives() -> None:
    """mixmonitor_events.txt: MixMonitorStart/Stop carry no file name; VarSet
    MIXMONITOR_FILENAME is the absolute path Asterisk writes. For each ``EXEC MixMonitor`` the
    name our session asks for (``recording_file``) is the file the recordings check reads
    (``local_path``), and the MixMonitor events leave the call's outcome alone."""
    msgs = [
        m
        for m in AmiParser().messages(stream_s("mixmonitor_events.txt"))
        if isinstance(m, AmiMessage)
    ]
    written = [
        m["Value"]
        for m in msgs
        if m.event == "VarSet" and m.get("Variable") == "MIXMONITOR_FILENAME"
    ]
    asked = [
        m["Command"].split(" ", 2)[2].split(",")[0]
        for m in msgs
        if m.event == "AGIExecStart" and m["Command"].startswith("EXEC MixMonitor ")
    ]
    assert written == [
        "/var/spool/asterisk/monitor/pd-mix-1.wav",
        "/var/spool/asterisk/monitor/pd-mix-1-b.wav",
    ]
    assert asked == [recording_file("pd-mix-1"), recording_file("pd-mix-1-b")]
    mount = Path("/mnt/pbx-monitor")
    assert [local_path(mount, w) for w in written] == [mount / a for a in asked]
    # MixMonitorStop only for StopMixMonitor, none at the hang-up with the second one running.
    assert [m.event for m in msgs if (m.event or "").startswith("MixMonitor")] == [
        "MixMonitorStart", "MixMonitorStop", "MixMonitorStart"
    ]  # fmt: skip
    for mode in ("dial", "action"):
        out, tracker = replay("mixmonitor_events.txt", mode)
        (h,) = [e for e in out if isinstance(e, Hangup)]
        assert (h.result, h.cause, h.answered) == (Result.ANSWERED, 16, True)
        assert [e for e in out if isinstance(e, AgentEvent | AgentConnected)] == []
        assert tracker.call_ids() == set()


def stream_s(name: str) -> bytes:
    """The PBX side of an AMI capture."""
    return b"".join(c.data for c in load(f"asterisk/ami/{name}") if c.direction == "S")
