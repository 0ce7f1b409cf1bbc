"""FreeSWITCH agents added after the dialer read the agent list are followed, not ignored
(docs/freeswitch.md): against the captures (sans-IO tracker) and the simulated FreeSWITCH."""

from __future__ import annotations

import asyncio
import time

from test_freeswitch_tracker import cc, listed_agents, never_ours, run_callcenter_capture, states
from test_sim_esl_driver import esl_rig
from virtual_time import in_virtual_time

from dialer_core.clock import ScaledClock
from pbx.freeswitch.callcenter import RELIST_EVERY, AgentRow, AgentTracker
from pbx.model import AgentEvent, AgentState
from pbx.sim import AgentConfig, SimConfig

CAPTURE = "callcenter_events_timeout_exit_agent_ringing"  # agent7 was added at run time


def test_an_agent_missing_from_the_list_read_at_start_asks_for_it_again():
    """The capture's events for agent7 (added with agent add / tier add after the start):
    with a list that did not show it, the tracker reports nothing for it but asks for the list
    again; the list read then (the capture's own) brings agent7's state."""
    (listed,) = listed_agents(CAPTURE, "collectors@default")
    assert "agent7@default" in {r.name for r in listed}
    before = [r for r in listed if r.name != "agent7@default"]
    _, out, agents = run_callcenter_capture(CAPTURE, "collectors@default", before)
    assert not [e for _, e in out if isinstance(e, AgentEvent) and "agent7" in e.state.agent]
    end = max(t for t, _ in out)
    assert agents.relist(end + RELIST_EVERY)
    assert not agents.relist(end + RELIST_EVERY)  # asked once: nothing new since
    learned = agents.learn(listed, end + RELIST_EVERY, "collectors@default")
    assert AgentState("agent7@default", "collectors@default", "idle") in learned
    later = cc("agent-state-change", CC_Agent="agent7@default", CC_Agent_State="Receiving")
    assert states(agents.on_event(later, end + 10, never_ours)) == [
        ("agent7@default", "collectors@default", "ringing")
    ]


def test_reading_the_list_again_is_rate_limited_and_a_removed_member_logs_out():
    tracker = AgentTracker(("collectors",))
    tracker.learn([AgentRow("a@default", "collectors", "Available", "Waiting")], 100.0)
    assert not tracker.relist(200.0)  # nobody unlisted
    new = cc("agent-status-change", CC_Agent="b@default", CC_Agent_Status="Available")
    assert tracker.on_event(new, 101.0, never_ours) == []
    assert not tracker.relist(101.0)  # the start-up read is not RELIST_EVERY old yet
    assert tracker.relist(100.0 + RELIST_EVERY)
    assert tracker.on_event(new, 106.0, never_ours) == []  # its list read is on its way
    assert not tracker.relist(106.0)
    rows = [AgentRow("b@default", "collectors", "Available", "Waiting")]
    assert tracker.learn(rows, 106.0, "collectors") == [
        AgentState("a@default", "collectors", "logged_out"),  # tier del: left the queue
        AgentState("b@default", "collectors", "idle"),
    ]
    offered = cc("agent-offering", CC_Queue="collectors", CC_Agent="a@default")
    assert tracker.on_event(offered, 107.0, never_ours) == []
    assert tracker.relist(106.0 + RELIST_EVERY)  # offered by our queue: a member again


@in_virtual_time
async def test_the_driver_follows_an_agent_added_on_the_simulated_freeswitch():
    agents = AgentConfig(count=1, talk_mean=20, wrapuptime=10, answer_delay=0.5)
    config = SimConfig(seed=2, time_scale=20, behaviour="last_digit", agents=agents)
    clock = ScaledClock(time.time(), 20)
    async with esl_rig(config, queues=("collectors",), wall_clock=clock) as (_, esl, driver):
        assert [(a.agent, a.state) for a in await driver.agents()] == [("agent1@default", "idle")]
        events = driver.events()
        for command in (  # what a supervisor types in fs_cli
            "callcenter_config agent add agent9@default callback",
            "callcenter_config tier add collectors@default agent9@default 1 1",
            "callcenter_config agent set status agent9@default Available",
            "callcenter_config agent set status agent9@default 'On Break'",
        ):
            assert esl.api(command) == "+OK\n", command
            await asyncio.sleep(RELIST_EVERY / 20 + 1)  # past the rate limit

        async def agent9() -> list[str]:
            seen = []
            async for event in events:
                if isinstance(event, AgentEvent) and event.state.agent == "agent9@default":
                    seen.append(event.state.state)
                    if event.state.state == "paused":
                        return seen
            return seen

        assert await asyncio.wait_for(agent9(), 30) == ["idle", "paused"]
        assert ("agent9@default", "paused") in {(a.agent, a.state) for a in await driver.agents()}
