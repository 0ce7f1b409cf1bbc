"""The project's FreeSWITCH side (driver, outbound-socket session) driving the simulated PBX."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from test_sim_esl import Peer
from virtual_time import in_virtual_time

from dialer_core.clock import ScaledClock
from pbx.asterisk.driver import AsteriskDriver
from pbx.freeswitch.driver import FreeSwitchDriver
from pbx.freeswitch.esl import encode_auth, encode_bgapi, encode_event_subscription
from pbx.freeswitch.outbound import OutboundServer
from pbx.model import (
    AgentConnected,
    AgentEvent,
    AgentState,
    Answered,
    CallRequest,
    Hangup,
    Result,
    Ringing,
)
from pbx.session import CallSession
from pbx.sim import AgentConfig, CalleeConfig, CalleeMix, SimConfig, SimPbx
from pbx.sim.esl_pbx import SimEsl

LOOPBACK = "loopback/{number}/sim-callee"


@contextlib.asynccontextmanager
async def esl_rig(
    config: SimConfig, handler=None, **driver_options
) -> AsyncIterator[tuple[SimPbx, SimEsl, FreeSwitchDriver]]:
    """SimPbx + SimEsl + a connected FreeSwitchDriver; with ``handler``, answered calls run it
    in the project's OutboundServer (extension ``dialer-answered``)."""
    server = None
    dialplan: dict[str, str] = {}
    if handler is not None:
        server = OutboundServer(handler, port=0)
        await server.start()
        dialplan["dialer-answered"] = f"socket 127.0.0.1:{server.port} async full"
    sim = SimPbx(config)
    await sim.start()
    esl = SimEsl(sim, dialplan=dialplan)
    await esl.start()
    driver = FreeSwitchDriver(port=esl.port, dial_template=LOOPBACK, **driver_options)
    await driver.connect()
    try:
        yield sim, esl, driver
    finally:
        await driver.close()
        await esl.close()
        await sim.close()
        if server is not None:
            await server.close()


async def collect_ends(driver, count: int, timeout: float) -> list:
    """Driver events until ``count`` Hangups arrived."""
    seen: list = []

    async def run():
        async for event in driver.events():
            seen.append(event)
            if sum(isinstance(e, Hangup) for e in seen) == count:
                return

    await asyncio.wait_for(run(), timeout)
    return seen


@pytest.mark.parametrize(
    ("number", "result", "cause", "cause_text"),
    [
        ("+5551231", Result.ANSWERED, 16, "NORMAL_CLEARING"),
        ("+5551235", Result.BUSY, 17, "USER_BUSY"),
        ("+5551236", Result.NO_ANSWER, 19, "NO_ANSWER"),
        ("+5551237", Result.CONGESTION, 41, "NORMAL_TEMPORARY_FAILURE"),
        ("+5551239", Result.INVALID_NUMBER, 1, "UNALLOCATED_NUMBER"),
    ],
)
@in_virtual_time
async def test_driver_originate_ends_with_the_callee_result(number, result, cause, cause_text):
    config = SimConfig(seed=1, time_scale=40, behaviour="last_digit")
    async with esl_rig(config, target="&park()") as (_, esl, driver):
        call_id = str(uuid.uuid4())
        request = CallRequest(call_id, number, "5550100", ring_timeout=10, variables={})
        await driver.originate(request)
        events = await collect_ends(driver, 1, 5.0)
    assert esl.originates_received == [call_id]
    end = events[-1]
    assert (end.call_id, end.result, end.cause, end.cause_text) == (
        call_id,
        result,
        cause,
        cause_text,
    )
    kinds = [type(e) for e in events]
    assert kinds.count(Hangup) == 1
    if result is Result.ANSWERED:
        assert kinds == [Ringing, Answered, Hangup] and end.talk_seconds > 0
    else:
        assert Answered not in kinds


@pytest.mark.parametrize(
    ("mix", "result", "cause"),
    [
        (CalleeMix.only(powered_off=1), Result.POWERED_OFF, 20),  # SUBSCRIBER_ABSENT
        (CalleeMix.only(rejected=1), Result.REJECTED, 21),  # CALL_REJECTED
    ],
)
@in_virtual_time
async def test_stochastic_callees_absent_and_rejected_map_to_their_causes(mix, result, cause):
    config = SimConfig(seed=3, time_scale=100, callees=CalleeConfig(mix=mix))
    async with esl_rig(config, target="&park()") as (_, _, driver):
        await driver.originate(CallRequest(str(uuid.uuid4()), "+8613800138000", "5550100"))
        end = (await collect_ends(driver, 1, 5.0))[-1]
    assert (end.result, end.cause) == (result, cause)


@in_virtual_time
async def test_same_seed_gives_the_same_fates_over_ami_and_esl():
    numbers = [f"+86138001{i:05d}" for i in range(16)]
    config = SimConfig(
        seed=11, time_scale=200, callees=CalleeConfig(talk_mean=4, ring_mean=4), username="u"
    )
    fates: list[dict[str, str]] = []
    for face in ("ami", "esl"):
        sim = SimPbx(config, dialplan={"pacedial-answered": ""})
        await sim.start()
        esl = SimEsl(sim)
        await esl.start()
        if face == "ami":
            driver = AsteriskDriver(
                host="127.0.0.1",
                port=sim.ami_port,
                username="u",
                secret=config.secret,
                dial_template="Local/{number}@sim-callee",
                answered_context="pacedial-answered",
            )
        else:
            driver = FreeSwitchDriver(port=esl.port, dial_template=LOOPBACK, target="&park()")
        await driver.connect()
        try:
            for number in numbers:
                await driver.originate(
                    CallRequest(str(uuid.uuid4()), number, "5550100", ring_timeout=20)
                )
            await collect_ends(driver, len(numbers), 10.0)
            assert await sim.wait_idle(5.0) and await esl.wait_idle(5.0)
        finally:
            await driver.close()
            await esl.close()
            await sim.close()
        fates.append({"+" + r.number.lstrip("+"): r.outcome for r in sim.calls_finished})
    assert len(fates[0]) == len(numbers)
    assert fates[0] == fates[1]
    assert len(set(fates[0].values())) >= 3  # a real mix, not one fate for all


@in_virtual_time
async def test_only_subscribed_events_are_sent_and_heartbeats_come_on_time():
    sim = SimPbx(SimConfig(seed=1, time_scale=40, behaviour="last_digit"))
    await sim.start()
    esl = SimEsl(sim, heartbeat_interval=0.1)
    await esl.start()
    peers = []
    try:
        for names in (["CHANNEL_HANGUP_COMPLETE"], ["HEARTBEAT"]):
            peer = Peer(*await asyncio.open_connection("127.0.0.1", esl.port))
            peer.writer.write(encode_auth("ClueCon") + encode_event_subscription(names, "plain"))
            await peer.until(3, 2.0)
            peers.append(peer)
        arg = "{origination_uuid=u-1}loopback/5551235/sim-callee &park()"
        peers[0].writer.write(encode_bgapi(f"originate {arg}", "job-1"))
        await peers[0].until(6, 2.0)
        await peers[1].until(5, 2.0)
    finally:
        await esl.close()
        await sim.close()
    first = [m.event.name for m in peers[0].messages if m.event]
    assert first == ["CHANNEL_HANGUP_COMPLETE", "CHANNEL_HANGUP_COMPLETE"]
    assert peers[0].messages[3].header("Job-UUID") == "job-1"
    beats = [m.event for m in peers[1].messages if m.event]
    assert len(beats) >= 2 and {e.name for e in beats} == {"HEARTBEAT"}
    assert peers[1].messages[3].content_type == "text/event-plain"
    assert beats[0].get("Event-Info") == "System Ready"


@in_virtual_time
async def test_outbound_session_runs_the_answered_call_with_eslsession():
    """EslSession (the project's outbound server) answers, reads DTMF, queues to an agent."""
    results: dict[str, object] = {}

    async def handler(session: CallSession) -> None:
        results["call_id"] = session.call_id
        await session.answer()
        results["recording"] = await session.start_recording("rec/call")
        results["amd"] = await session.detect_machine()
        results["digits"] = await session.read_digits("menu", 1, 3.0)
        results["interrupt"] = await session.play("intro", interrupt_digits="9")
        await session.set_variable("pacedial_case", "c-1")
        results["var"] = await session.get_variable("pacedial_case")
        results["queued"] = await session.enqueue("collectors", 2.0)

    agent = AgentConfig(count=1, talk_mean=20, answer_delay=0.5)
    config = SimConfig(seed=2, time_scale=20, behaviour="last_digit", agents=agent)
    async with esl_rig(config, handler, queues=("collectors",)) as (sim, esl, driver):
        agents = await driver.agents()
        call_id = str(uuid.uuid4())
        await driver.originate(
            CallRequest(
                call_id, "+5551231", "5550100", variables={"sim_talk": "120", "sim_dtmf": "49"}
            )
        )
        events = await collect_ends(driver, 1, 10.0)
        end = events[-1]
    assert agents == [AgentState("agent1@default", "collectors", "idle")]
    assert results == {
        "call_id": call_id,
        "recording": "/usr/local/freeswitch/recordings/rec/call.wav",  # its recordings_dir
        "amd": ("HUMAN", "HUMAN"),
        "digits": "4",
        "interrupt": "9",
        "var": "c-1",
        "queued": True,
    }
    assert end.result is Result.ANSWERED
    leg = esl.legs[0]
    assert leg.commands[:3] == ["connect", "myevents json", "linger"]
    assert leg.commands[-1] == "exit"
    assert leg.recordings == ["/usr/local/freeswitch/recordings/rec/call.wav"]
    assert sim.queue.completed == 1
    # mod_callcenter's callcenter::info events: the agent picked up our call, then talked.
    connected = [e for e in events if isinstance(e, AgentConnected)]
    assert [(e.call_id, e.agent) for e in connected] == [(call_id, "agent1@default")]
    assert connected[0].wait >= 0
    agent_states = [e.state for e in events if isinstance(e, AgentEvent)]
    assert AgentState("agent1@default", "collectors", "talking") in agent_states


@in_virtual_time
async def test_agent_states_follow_the_call_talking_wrap_up_idle():
    """Over ESL alone: the agent takes the call, wraps up, and is offered calls again."""

    async def handler(session: CallSession) -> None:
        await session.enqueue("collectors", 2.0)

    agent = AgentConfig(count=1, talk_mean=20, wrapuptime=10, answer_delay=0.5)
    config = SimConfig(seed=2, time_scale=20, behaviour="last_digit", agents=agent)
    seen: list[str] = []
    # The driver's wall clock runs at the simulated PBX's pace (wrap-up-time is in its seconds).
    clock = ScaledClock(time.time(), 20)
    async with esl_rig(config, handler, queues=("collectors",), wall_clock=clock) as (_, _, driver):
        assert [a.state for a in await driver.agents()] == ["idle"]
        await driver.originate(
            CallRequest(str(uuid.uuid4()), "+5551231", "5550100", variables={"sim_talk": "120"})
        )

        async def until_idle_again() -> None:
            async for event in driver.events():
                if isinstance(event, AgentEvent):
                    seen.append(event.state.state)
                    if seen[-2:] == ["wrapup", "idle"]:
                        return

        await asyncio.wait_for(until_idle_again(), 10.0)
    # Receiving while offered, as captured (callcenter_events_agent_call.txt).
    assert seen == ["ringing", "talking", "wrapup", "idle"]


@in_virtual_time
async def test_no_free_agent_breaks_the_queue_and_the_call_is_hung_up():
    outcome: dict[str, object] = {}

    async def handler(session: CallSession) -> None:
        outcome["queued"] = await session.enqueue("collectors", 0.3)
        await session.play("safe-harbor")
        await session.hangup()

    config = SimConfig(seed=2, time_scale=20, behaviour="last_digit", agents=AgentConfig(count=0))
    async with esl_rig(config, handler) as (sim, esl, driver):
        await driver.originate(
            CallRequest(str(uuid.uuid4()), "+5551231", "5550100", variables={"sim_talk": "600"})
        )
        events = await collect_ends(driver, 1, 10.0)
        end = events[-1]
    assert outcome == {"queued": False}
    assert (end.result, end.cause_text) == (Result.ANSWERED, "NORMAL_CLEARING")
    # The deadline as captured (outbound_callcenter_timeout_exit.txt): exit key D.
    commands = esl.legs[0].commands
    assert any(c.startswith("api uuid_recv_dtmf ") and c.endswith(" D") for c in commands)
    assert not any(c.startswith("api uuid_break") for c in commands)
    assert sim.queue.abandoned == 1


@in_virtual_time
async def test_agent_conversation_of_n_seconds_lasts_n_seconds():
    """As on a real FreeSWITCH (outbound_callcenter_agent.txt), callcenter completes when the
    agent answers; the session follows the bridged call until the agent hangs up 20 s later,
    and the driver's hang-up comes after the whole conversation."""
    seen: dict[str, float | bool] = {}

    async def handler(session: CallSession) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        seen["connected"] = await session.enqueue("collectors@default", 2.0)
        seen["talk"] = (loop.time() - started) * 20  # simulated seconds
        seen["hung_up"] = session.hung_up

    agent = AgentConfig(count=1, talk_mean=20, talk_cv=0, answer_delay=0.5)
    config = SimConfig(seed=2, time_scale=20, behaviour="last_digit", agents=agent)
    async with esl_rig(config, handler) as (_, _, driver):
        await driver.originate(
            CallRequest(str(uuid.uuid4()), "+5551231", "5550100", variables={"sim_talk": "120"})
        )
        events = await collect_ends(driver, 1, 10.0)
    assert seen["connected"] is True and seen["hung_up"] is True
    assert seen["talk"] >= 20.0
    assert isinstance(events[-1], Hangup) and events[-1].result is Result.ANSWERED


def _callcenter_info(msgs) -> list[tuple[str, list[str], dict[str, str]]]:
    """(CC-Action, CC-* header names in order, their values) of the agent events."""
    out = []
    for m in msgs:
        event = m.event
        if event is None or event.get("Event-Subclass") != "callcenter::info":
            continue
        cc = {k: v for k, v in event.headers.items() if k.startswith("CC-")}
        if cc.get("CC-Action", "").startswith(("agent-state", "agent-status", "bridge-agent")):
            out.append((cc["CC-Action"], list(cc), cc))
    return out


async def one_queue_call(handler, answer_delay: float, talk: str, events: int) -> list:
    """One call whose answered leg runs ``handler`` against a queue of one agent (picking up
    after ``answer_delay`` s, talking ``talk`` s); the messages of a second ESL client
    subscribed to callcenter::info, once ``events`` of them came after its two replies."""
    agent = AgentConfig(count=1, talk_mean=8, talk_cv=0, answer_delay=answer_delay)
    config = SimConfig(seed=2, time_scale=20, behaviour="last_digit", agents=agent)
    async with esl_rig(config, handler) as (_, esl, driver):
        peer = Peer(*await asyncio.open_connection("127.0.0.1", esl.port))
        peer.writer.write(encode_auth("ClueCon"))
        peer.writer.write(encode_event_subscription(["CUSTOM", "callcenter::info"], "json"))
        await peer.until(2, 5.0)
        await driver.originate(
            CallRequest(str(uuid.uuid4()), "+5551231", "5550100", variables={"sim_talk": talk})
        )
        await collect_ends(driver, 1, 10.0)
        await peer.until(2 + events, 5.0)
        peer.writer.close()
    return peer.messages


@in_virtual_time
async def test_callcenter_agent_events_follow_callcenter_events_agent_call_txt():
    """callcenter_events_agent_call.txt: the agent is offered (Receiving), bridged
    (bridge-agent-start, "In a queue call"), the call ends (bridge-agent-end with
    CC-Hangup-Cause SUCCESS, then Waiting). The sim sends these in that order, agent-state-change
    with the captured fields only (no CC-Queue, no status), and the bridge events' fields in the
    captured order (the sim leaves out some, e.g. CC-Member-UUID)."""
    from test_esl_codec import fixture_bytes, parse_all

    captured = _callcenter_info(
        parse_all(fixture_bytes("freeswitch/inbound/callcenter_events_agent_call.txt", "S"))
    )

    async def handler(session: CallSession) -> None:
        await session.enqueue("collectors@default", 2.0)

    got = _callcenter_info(await one_queue_call(handler, 0.5, "120", len(captured)))
    assert [(a, c.get("CC-Agent-State")) for a, _, c in got] == [
        (a, c.get("CC-Agent-State")) for a, _, c in captured
    ]
    for (action, names, values), (_, real_names, real_values) in zip(got, captured, strict=True):
        if action == "agent-state-change":
            assert names == real_names
        else:
            assert [n for n in real_names if n in names] == names, action
            assert values.get("CC-Hangup-Cause") == real_values.get("CC-Hangup-Cause")


@in_virtual_time
async def test_exit_key_while_the_agent_rings_gives_the_agent_events_of_the_capture():
    """callcenter_events_timeout_exit_agent_ringing.txt: the session's 2 s deadline (exit key)
    comes while the only agent's phone rings 5 s: the agent goes Receiving, then Waiting, and
    is never bridged (the sim sends no agent-offering / bridge-agent-fail: not modelled)."""
    from test_esl_codec import fixture_bytes, parse_all

    relpath = "freeswitch/inbound/callcenter_events_timeout_exit_agent_ringing.txt"
    captured = _callcenter_info(parse_all(fixture_bytes(relpath, "S")))
    seen: dict[str, bool] = {}

    async def handler(session: CallSession) -> None:
        # 2 simulated seconds (the session runs at loop speed, the sim 20 times faster).
        seen["connected"] = await session.enqueue("collectors@default", 2.0 / 20)

    messages = await one_queue_call(handler, 5.0, "30", 2)
    assert seen == {"connected": False}

    def states(info) -> list[tuple[str, list[str], str | None]]:
        return [(a, n, c.get("CC-Agent-State")) for a, n, c in info if a == "agent-state-change"]

    assert states(_callcenter_info(messages)) == states(captured)
    assert [a for a, _, _ in captured if a.startswith("bridge")] == ["bridge-agent-fail"]
    assert not [a for a, _, _ in _callcenter_info(messages) if a.startswith("bridge")]
