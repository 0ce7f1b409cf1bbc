"""The simulated ``ChanSpy``: a supervisor's phone answers and listens to an agent's channel.

An Originate with ``Application: ChanSpy`` and ``Data: <channel prefix>,<options>`` rings the
supervisor (who answers at once), then spies on the first live channel whose name starts with
the prefix, as ``chanspy_listen.txt`` shows: ``ChanSpyStart`` with Spyer* and Spyee* blocks,
``ChanSpyStop`` with the same blocks when the spied channel hangs up. With the ``E`` option the
spyer then hangs up; without it, it stays up scanning (as the capture's did).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pbx.sim import channels as ev
from pbx.sim.channels import UP, Channel

__all__ = ["SpySession", "find_spyee", "spy_events"]

POLL = 0.5  # simulated seconds between looks at the spied channel


@dataclass
class SpySession:
    """One ChanSpy call: who listens, to whom, with which options."""

    spyer: Channel
    spyee: Channel | None
    options: str

    @property
    def mode(self) -> str:
        """listen, whisper (``w``) or barge (``B``)."""
        if "B" in self.options:
            return "barge"
        return "whisper" if "w" in self.options else "listen"


def parse_data(data: str) -> tuple[str, str]:
    """``Local/agent2@sim-agent,qE`` → (prefix, options)."""
    prefix, _, options = data.partition(",")
    return prefix.strip(), options.strip()


def find_spyee(prefix: str, channels: Iterable[Channel]) -> Channel | None:
    """The first live ``;1`` (or only) channel whose name starts with the prefix."""
    if not prefix:
        return None
    for ch in channels:
        if ch.hung_up or not ch.name.startswith(prefix):
            continue
        if ch.name.endswith(";2"):
            continue
        return ch
    return None


def spy_events(name: str, session: SpySession) -> ev.Headers:
    """ChanSpyStart / ChanSpyStop with the spyer's and the spyee's blocks."""
    assert session.spyee is not None
    return (
        ("Event", name),
        ("Privilege", "call,all"),
        *session.spyer.fields("Spyer"),
        *session.spyee.fields("Spyee"),
    )


async def run_spy(
    session: SpySession,
    emit: Callable[[ev.Headers], None],
    sleep: Callable[[float], object],
    hang_up: Callable[[Channel], None],
) -> None:
    """Spy until the spyee hangs up; then end the spyer if the options say ``E``."""
    spyer = session.spyer
    spyer.state = UP
    emit(ev.newstate(spyer))
    if session.spyee is None:
        return  # ChanSpy keeps scanning; nothing to report
    emit(spy_events("ChanSpyStart", session))
    while not session.spyee.hung_up and not spyer.hung_up:
        await sleep(POLL)
    emit(spy_events("ChanSpyStop", session))
    if "E" in session.options and not spyer.hung_up:
        hang_up(spyer)
