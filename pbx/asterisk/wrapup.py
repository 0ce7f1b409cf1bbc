"""Queue-member availability as app_queue decides it, including the invisible wrap-up (sans-IO).

app_queue offers a call to a member only when it is not paused, not in use (``ringinuse = no``),
within the caller's penalty limit, and ``LastCall + wrapuptime`` has passed. During wrap-up the
member looks exactly like an idle one on AMI (Status 1, InCall 0, Paused 0), and nothing is sent
when wrap-up ends (``tests/fixtures/asterisk/ami/queue_wrapup.txt``). So the wrap-up time is read
from ``queues.conf`` with ``GetConfig`` (``queue_getconfig.txt``; QueueParams has no wrapuptime),
and :class:`MemberAvailability` keeps a timer per member: when a member's ``LastCall`` moves, it is
in wrap-up until ``arrival + wrapuptime`` (the arrival instant on our clock, so a PBX clock skew
does not matter); a member first seen mid-wrap-up (a snapshot after a start or reconnect) is in
wrap-up until ``LastCall + wrapuptime``. ``due(now)`` reports members whose wrap-up has ended.
"""

from __future__ import annotations

from dataclasses import dataclass

from pbx.asterisk.ami import AmiMessage
from pbx.model import AgentState

__all__ = ["MemberAvailability", "parse_queue_wrapuptimes"]


def parse_queue_wrapuptimes(reply: AmiMessage) -> dict[str, float]:
    """``{queue: wrapuptime seconds}`` from a ``GetConfig queues.conf`` response.

    ``Category-NNNNNN: name`` opens a category, ``Line-NNNNNN-MMMMMM: key=value`` are its lines.
    A queue without a ``wrapuptime`` line gets 0 (app_queue's default); ``[general]`` is not a
    queue. A value that is not a number raises ValueError naming the queue and the value.
    """
    names: dict[str, str] = {}
    out: dict[str, float] = {}
    for key, value in reply.headers:
        low = key.lower()
        if low.startswith("category-"):
            names[low.removeprefix("category-")] = value
            if value != "general":
                out.setdefault(value, 0.0)
        elif low.startswith("line-"):
            category = names.get(low.removeprefix("line-").split("-", 1)[0], "")
            name, _, raw = value.partition("=")
            if category in out and name.strip().lower() == "wrapuptime":
                try:
                    out[category] = max(0.0, float(raw.strip()))
                except ValueError:
                    raise ValueError(
                        f"queues.conf [{category}]: wrapuptime={raw.strip()!r} is not a number"
                    ) from None
    return out


def _int(value: str | None) -> int:
    try:
        return int(value or "0")
    except ValueError:
        return 0


@dataclass
class _Member:
    last_call: int
    wrap_until: float | None = None
    word: str = ""


class MemberAvailability:
    """Wrap-up timers for queue members; pure (``now`` = our epoch clock, passed in).

    ``max_penalty``: the penalty limit of our callers (``QUEUE_MAX_PENALTY``); a member above
    it is never offered our calls and counts as ``paused``. None = no limit.
    """

    def __init__(self, max_penalty: int | None = None) -> None:
        self.max_penalty = max_penalty
        self.wrapuptimes: dict[str, float] = {}
        self.known = False  # a GetConfig answer was applied
        self._members: dict[tuple[str, str], _Member] = {}

    def set_wrapuptimes(self, wrapuptimes: dict[str, float]) -> None:
        """The queues' wrap-up times as read from the PBX (at start and after every reload)."""
        self.wrapuptimes = dict(wrapuptimes)
        self.known = True

    def wrapuptime(self, queue: str, member_override: int = 0) -> float:
        """The wrap-up app_queue applies to a member: its own ``Wrapuptime`` if set, else the
        queue's."""
        return float(member_override) if member_override > 0 else self.wrapuptimes.get(queue, 0.0)

    def state(self, base: AgentState, msg: AmiMessage, now: float) -> AgentState:
        """The member's availability given its mapped state ``base`` and member event ``msg``."""
        key = (base.queue, base.agent)
        last_call = _int(msg.get("LastCall"))
        wrap = self.wrapuptime(base.queue, _int(msg.get("Wrapuptime")))
        member = self._members.get(key)
        if member is None:
            member = self._members[key] = _Member(last_call)
            if last_call > 0 and wrap > 0:
                member.wrap_until = last_call + wrap
        elif last_call > member.last_call:
            member.last_call = last_call
            member.wrap_until = now + wrap if wrap > 0 else None
        word = base.state
        if self.max_penalty is not None and _int(msg.get("Penalty")) > self.max_penalty:
            word = "paused"
        elif word == "idle" and member.wrap_until is not None and now < member.wrap_until:
            word = "wrapup"
        member.word = word
        return AgentState(base.agent, base.queue, word)

    def call_ended(self, queue: str, agent: str, now: float) -> AgentState:
        """``AgentComplete``: the member's wrap-up starts now (if its queue has one)."""
        member = self._members.setdefault((queue, agent), _Member(0))
        wrap = self.wrapuptime(queue)
        member.wrap_until = now + wrap if wrap > 0 else None
        member.word = "wrapup" if wrap > 0 else "idle"
        return AgentState(agent, queue, member.word)

    def forget(self, queue: str, agent: str) -> None:
        """The member left the queue."""
        self._members.pop((queue, agent), None)

    def due(self, now: float) -> list[AgentState]:
        """Members whose wrap-up ended at or before ``now``: idle again (reported once)."""
        out: list[AgentState] = []
        for (queue, agent), member in self._members.items():
            if member.wrap_until is not None and member.wrap_until <= now:
                member.wrap_until = None
                if member.word == "wrapup":
                    member.word = "idle"
                    out.append(AgentState(agent, queue, "idle"))
        return out

    def next_due(self) -> float | None:
        """The earliest end of a running wrap-up, if any."""
        ends = [m.wrap_until for m in self._members.values() if m.wrap_until is not None]
        return min(ends) if ends else None
