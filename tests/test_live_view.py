"""The pacing view kept current per event equals the view rebuilt from every call in flight."""

from __future__ import annotations

import random

from test_call_states import CAMPAIGN, CONTACT, T0, sample

from dialer_core.campaign import calls as c
from dialer_core.campaign.live_view import LiveView
from dialer_core.pacing.interface import AgentStatus


def test_the_live_view_matches_a_full_rebuild_after_every_event() -> None:
    rng = random.Random(7)
    calls = [c.Call(f"c{i}", CONTACT, CAMPAIGN, "+8675500000000") for i in range(60)]
    live = LiveView()
    agents = {"1001": (AgentStatus.IDLE, T0), "1002": (AgentStatus.TALKING, T0)}
    now, fresh, seen = T0, 60, set()
    for step in range(3000):
        now += rng.random()
        i = rng.randrange(len(calls))
        if calls[i].state is c.State.CLOSED:  # forgotten: a new call takes its place
            calls[i], fresh = c.Call(f"c{fresh}", CONTACT, CAMPAIGN, "+86755"), fresh + 1
        call = calls[i]
        kinds = [k for k, states in c.ACCEPTS.items() if call.state in states]
        try:
            call.handle(sample(rng.choice(kinds), now))
        except c.IllegalTransition:
            continue
        live.track(call)
        seen.add(call.state)
        if step % 500 == 0:
            agents["1001"] = (AgentStatus.WRAPUP, now)
        in_flight = [x for x in calls if x.state is not c.State.CLOSED]
        full = c.pacing_view(in_flight, agents, now, CAMPAIGN.agent_wait)
        kept = live.view(agents, now, CAMPAIGN.agent_wait)
        assert sorted(kept.ringing) == sorted(full.ringing)
        assert sorted(kept.waiting) == sorted(full.waiting)
        assert kept.extra == full.extra and kept.agents == full.agents
    assert seen == set(c.State) - {c.State.WRITTEN}, "the walk went through every state"


def test_calls_being_launched_count_as_ringing_from_now() -> None:
    view = LiveView().view({}, T0, 2.0, launching=3)
    assert view.ringing == (T0, T0, T0)
