"""The pacing view's counts follow each call's state changes (no walk over calls in flight)."""

from __future__ import annotations

from dialer_core.campaign.live_view import LiveView


def test_counts_follow_launch_answer_queue_connect_abandon_and_end() -> None:
    live = LiveView(agent_wait=2.0)
    for n in range(5):
        live.launched(f"c{n}", float(n))
    live.answered("c0")
    live.answered("c1")
    live.answered("c2")
    live.handler_started("c0")  # a robot dialog
    live.waiting("c1", 10.0)  # waits for an agent
    live.waiting("c2", 10.0)
    live.connected("c2")  # an agent took it
    view = live.view(11.0, ())
    assert view.ringing == (3.0, 4.0)
    assert view.waiting == (10.0,)
    assert view.extra["robot_sessions"] == 1.0
    assert live.view(12.5, ()).waiting == ()  # past the 2-second rule: no longer counted
    live.stopped_waiting("c1")  # abandoned: the handler still holds it (safe-harbor message)
    assert live.view(11.0, ()).extra["robot_sessions"] == 2.0
    for n in range(5):
        live.ended(f"c{n}")
    view = live.view(20.0, ())
    assert (view.ringing, view.waiting, view.extra["robot_sessions"]) == ((), (), 0.0)
