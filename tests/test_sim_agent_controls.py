"""Agent and supervisor controls on the simulated PBX: QueuePause and ChanSpy, as Asterisk 20
answers them (tests/fixtures/asterisk/ami/chanspy_listen.txt), over a real AMI socket."""

from __future__ import annotations

import asyncio

import pytest
from test_sim_pbx import AmiTestClient
from transcripts import stream

from pbx.asterisk.ami import AmiMessage, AmiParser
from pbx.asterisk.driver import AsteriskDriver
from pbx.model import AgentEvent, PbxActionRefused
from pbx.sim import AgentConfig, SimConfig, SimPbx
from pbx.sim.channels import UP, Channel
from pbx.sim.chanspy import SpySession, find_spyee, parse_data, spy_events

SEAT = "Local/agent1@sim-agents/n"


@pytest.fixture
async def sim():
    pbx = SimPbx(
        SimConfig(time_scale=20.0, username="dialer", secret="dialer", agents=AgentConfig(count=2))
    )
    await pbx.start()
    yield pbx
    await pbx.close()


async def test_queue_pause_holds_a_member_with_its_reason_until_unpaused(sim):
    client = await AmiTestClient.connect(sim.ami_port)
    try:
        await client.login()
        client.send(
            ("Action", "QueuePause"),
            ("ActionID", "p1"),
            ("Interface", SEAT),
            ("Paused", "true"),
            ("Reason", "lunch"),
        )
        got = await client.until(lambda m: m.event == "QueueMemberPause")
        reply = next(m for m in got if m.response)
        assert (reply.response, reply.get("Message")) == (
            "Success",
            "Interface paused successfully",
        )
        event = got[-1]
        assert (event.get("Paused"), event.get("PausedReason")) == ("1", "lunch")
        assert event.get("Interface") == SEAT

        client.send(("Action", "QueueStatus"), ("ActionID", "qs"))
        members = await client.until(lambda m: m.event == "QueueStatusComplete")
        paused = {
            m.get("Name") or m.get("Location"): m.get("Paused")
            for m in members
            if m.event == "QueueMember"
        }
        assert sorted(paused.values()) == ["0", "1"]

        client.send(
            ("Action", "QueuePause"), ("ActionID", "p2"), ("Interface", SEAT), ("Paused", "false")
        )
        event = (await client.until(lambda m: m.event == "QueueMemberPause"))[-1]
        assert (event.get("Paused"), event.get("PausedReason")) == ("0", "")

        client.send(
            ("Action", "QueuePause"),
            ("ActionID", "p3"),
            ("Interface", "SIP/nobody"),
            ("Paused", "true"),
        )
        reply = (await client.until(lambda m: m.response is not None))[-1]
        assert (reply.response, reply.get("Message")) == ("Error", "Interface not found")
    finally:
        client.close()


async def next_state_of(events) -> str:
    while True:
        item = await events.__anext__()
        if isinstance(item, AgentEvent) and item.state.agent == SEAT:
            return item.state.state


async def test_the_driver_pauses_a_seat_and_the_tracker_reports_it(sim):
    driver = AsteriskDriver(port=sim.ami_port, username="dialer", secret="dialer")
    await driver.connect()
    events = driver.events()
    try:
        while not driver.ready:  # FullyBooted, then the queues are read (and reported)
            await asyncio.sleep(0.01)
        assert await asyncio.wait_for(next_state_of(events), 5) == "idle"
        await driver.set_agent_paused(SEAT, True, "wrapup")

        def next_state():
            return next_state_of(events)

        assert await asyncio.wait_for(next_state(), 5) == "wrapup"
        await driver.set_agent_paused(SEAT, False, "")
        assert await asyncio.wait_for(next_state(), 5) == "idle"
        with pytest.raises(PbxActionRefused, match="Interface not found"):
            await driver.set_agent_paused("SIP/nobody", True, "break")
    finally:
        await driver.close()


def _fixture_spy_event(name: str) -> AmiMessage:
    msgs = AmiParser().messages(stream("asterisk/ami/chanspy_listen.txt", "S"))
    return next(m for m in msgs if isinstance(m, AmiMessage) and m.event == name)


def test_chanspy_events_have_the_fields_of_the_capture_in_order():
    spyer = Channel("Local/s@sim-supervisor-00000001;1", "pd-spy-1", "pd-spy-1", "x", "s", state=UP)
    agent = Channel("Local/agent2@sim-agents-00000010;1", "17.44", "pd-call", "sim-agents", "s")
    other = Channel("Local/agent2@sim-agents-00000010;2", "17.45", "pd-call", "sim-agents", "s")
    session = SpySession(spyer, find_spyee("Local/agent2@sim-agents", [other, agent]), "qE")
    assert session.spyee is agent and session.mode == "listen"
    for name in ("ChanSpyStart", "ChanSpyStop"):
        ours = [k for k, _ in spy_events(name, session)]
        theirs = [k for k, _ in _fixture_spy_event(name).headers]
        assert ours == theirs
    assert parse_data("Local/agent2@sim-agent-00000010;1,q") == (
        "Local/agent2@sim-agent-00000010;1",
        "q",
    )
    assert find_spyee("Local/agent9@sim-agents", [agent]) is None
    assert SpySession(spyer, agent, "qEB").mode == "barge"
    assert SpySession(spyer, agent, "qEw").mode == "whisper"


async def test_freeswitch_driver_puts_an_agent_on_break_and_back():
    from test_sim_esl_driver import esl_rig

    config = SimConfig(seed=2, time_scale=20, agents=AgentConfig(count=1))
    async with esl_rig(config, queues=("collectors",)) as (_, _, driver):
        # As the runner does at start: the agent list teaches queue membership (mod_callcenter's
        # agent-status-change names no queue, callcenter_events_agent_call.txt).
        assert [a.state for a in await driver.agents()] == ["idle"]
        events = driver.events()

        async def next_state() -> str:
            while True:
                item = await events.__anext__()
                if isinstance(item, AgentEvent):
                    return item.state.state

        await driver.set_agent_paused("agent1@default", True, "lunch")
        assert await asyncio.wait_for(next_state(), 5) == "paused"
        await driver.set_agent_paused("agent1@default", False, "")
        assert await asyncio.wait_for(next_state(), 5) == "idle"
        with pytest.raises(PbxActionRefused, match="Invalid Agent"):
            await driver.set_agent_paused("nobody@default", True, "break")
