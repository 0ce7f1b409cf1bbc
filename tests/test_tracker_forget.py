"""Trackers drop a finished call by its own keys: nothing leaks, no other call is disturbed."""

from __future__ import annotations

from pbx.asterisk.ami import AmiMessage
from pbx.asterisk.tracker import AmiCallTracker
from pbx.freeswitch.esl import EslEvent
from pbx.freeswitch.tracker import CallTracker
from pbx.model import Hangup


def _ev(**headers: str) -> AmiMessage:
    return AmiMessage(list(headers.items()))


def _local_call(tracker: AmiCallTracker, n: int) -> list[object]:
    """Originate n over a Local channel linked only by DialBegin (no ChannelId preset)."""
    uid1, uid2 = f"1700000000.{2 * n}", f"1700000000.{2 * n + 1}"
    name = f"Local/555{n:04d}@sim-callee-{n:08x}"
    out: list[object] = []
    for msg in (
        _ev(Event="Newchannel", Channel=f"{name};1", Uniqueid=uid1),
        _ev(Event="Newchannel", Channel=f"{name};2", Uniqueid=uid2),
        _ev(
            Event="DialBegin",
            DestChannel=f"{name};1",
            DestUniqueid=uid1,
            DialString=f"555{n:04d}@sim-callee",
        ),
        _ev(Event="Newstate", Channel=f"{name};1", Uniqueid=uid1, ChannelStateDesc="Ringing"),
    ):
        out += tracker.handle(msg)
    return out


def _end(tracker: AmiCallTracker, n: int) -> list[object]:
    uid1, uid2 = f"1700000000.{2 * n}", f"1700000000.{2 * n + 1}"
    name = f"Local/555{n:04d}@sim-callee-{n:08x}"
    out: list[object] = []
    for msg in (
        _ev(Event="OriginateResponse", ActionID=f"a{n}", Reason="3", Uniqueid=uid1),
        _ev(Event="Hangup", Channel=f"{name};2", Uniqueid=uid2, Cause="19"),
        _ev(Event="Hangup", Channel=f"{name};1", Uniqueid=uid1, Cause="0"),
    ):
        out += tracker.handle(msg)
    return out


def test_ami_tracker_forgets_every_key_of_finished_calls_and_keeps_the_others() -> None:
    tracker = AmiCallTracker(lambda: 0.0)
    calls = range(300)
    for n in calls:
        tracker.expect(f"c{n}", action_id=f"a{n}", dial=f"Local/555{n:04d}@sim-callee", tag=f"t{n}")
    for n in calls:
        _local_call(tracker, n)
    # End the even calls: the odd ones must keep every link (their Hangup still maps).
    ended = [e for n in calls if n % 2 == 0 for e in _end(tracker, n)]
    assert sorted(e.call_id for e in ended if isinstance(e, Hangup)) == sorted(
        f"c{n}" for n in calls if n % 2 == 0
    )
    assert tracker.call_ids() == {f"c{n}" for n in calls if n % 2}
    assert tracker.call_id_for("1700000000.0") is None
    assert tracker.call_id_for("1700000000.3") == "c1"
    rest = [e for n in calls if n % 2 for e in _end(tracker, n)]
    assert len([e for e in rest if isinstance(e, Hangup)]) == 150
    assert tracker.call_ids() == set()
    # Nothing of the 300 calls is left in any index.
    assert not any(
        (tracker._by_uid, tracker._preset, tracker._by_action, tracker._by_tag, tracker._unlinked)
    )


def test_ami_tracker_refused_originate_is_forgotten_with_its_presets() -> None:
    tracker = AmiCallTracker(lambda: 0.0)
    tracker.expect("c1", action_id="c1", dial="Local/1@x", channel_ids=("c1", "c1-2"))
    tracker.expect("c2", action_id="c2", dial="Local/2@x", channel_ids=("c2", "c2-2"))
    tracker.forget("c1")
    assert tracker.call_id_for("c1") is None and tracker.call_id_for("c1-2") is None
    assert tracker.call_id_for("c2-2") == "c2"
    out = tracker.handle(_ev(Event="OriginateResponse", ActionID="c2", Reason="5"))
    assert [type(e) for e in out] == [Hangup] and out[0].call_id == "c2"


def test_freeswitch_tracker_forgets_only_the_call_it_is_told() -> None:
    tracker = CallTracker()
    for n in range(100):
        tracker.track(f"u{n}")
    tracker.forget("u3")
    assert not tracker.tracks("u3") and tracker.tracks("u4")
    out = tracker.on_event(
        EslEvent("CHANNEL_HANGUP_COMPLETE", {"Unique-ID": "u4", "Hangup-Cause": "USER_BUSY"})
    )
    assert [e.call_id for e in out] == ["u4"] and len(tracker.in_flight()) == 98
