"""mod_callcenter agents, sans-IO: the agent list and the ``callcenter::info`` events.

``callcenter_config queue list agents <queue>`` answers a ``|``-separated table: a header row
naming the columns (``name``, ``status``, ``state``, ``wrap_up_time``, ``last_bridge_end``,
``ready_time``...), one row per agent, and a final ``+OK`` line. Columns are found by name, so
extra or reordered columns do not matter. No fixture of this output was recorded with the rest
of ``tests/fixtures/freeswitch``; the format follows the mod_callcenter documentation and source
for FreeSWITCH 1.10.

``CUSTOM callcenter::info`` events say what changes: ``CC-Action: agent-status-change``
(``CC-Agent-Status``), ``agent-state-change`` (``CC-Agent-State``), ``bridge-agent-start``
(``CC-Member-Session-UUID`` = the caller's channel, i.e. our call id, ``CC-Agent``,
``CC-Member-Joined-Time``, ``CC-Agent-Answered-Time`` in epoch seconds). :class:`AgentTracker`
turns them into pbx.model AgentEvent / AgentConnected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pbx.freeswitch.client import EslError
from pbx.freeswitch.esl import EslEvent
from pbx.model import AgentConnected, AgentEvent, AgentState

CALLCENTER_SUBCLASS = "callcenter::info"
RELIST_EVERY = 5.0  # s: the agent list is read again at most this often for unlisted agents
DEFAULT_DOMAIN = "default"  # mod_callcenter queue names carry a domain: collectors@default


def qualified_queue(queue: str) -> str:
    """The mod_callcenter name of a queue: ``collectors`` → ``collectors@default``."""
    return queue if "@" in queue else f"{queue}@{DEFAULT_DOMAIN}"


def agent_state(status: str, state: str, ready_time: int = 0, now: float | None = None) -> str:
    """Map mod_callcenter ``status`` / ``state`` to a pbx.model AgentState.state word.

    ``Waiting`` with ``ready_time`` still ahead of ``now`` (epoch seconds) is wrap-up. ``Idle``
    is what mod_callcenter sets after a call for ``Available (On Demand)`` agents: no call is
    offered until the agent makes itself ``Waiting`` again, i.e. wrap-up.
    """
    status = status.strip().lower()
    state = state.strip().lower()
    if status == "logged out":
        return "logged_out"
    if status == "on break":
        return "paused"
    if state == "in a queue call":
        return "talking"
    if state == "receiving":
        return "ringing"
    if state == "idle":
        return "wrapup"
    if state == "waiting":
        if now is not None and ready_time > now:
            return "wrapup"
        return "idle"
    # An unknown state ("Unknown", or none yet): offered no calls, like a pause.
    return "paused"


@dataclass(frozen=True)
class AgentRow:
    """One agent of the ``callcenter_config queue list agents`` table (times: epoch seconds)."""

    name: str
    queue: str
    status: str
    state: str
    wrap_up_time: int = 0
    last_bridge_end: int = 0
    ready_time: int = 0

    def model_state(self, now: float | None = None) -> str:
        """The AgentState word at ``now``: wrap-up while ``ready_time`` or the wrap-up time
        after ``last_bridge_end`` is still ahead."""
        ready = self.ready_time
        if self.last_bridge_end and self.wrap_up_time:
            ready = max(ready, self.last_bridge_end + self.wrap_up_time)
        return agent_state(self.status, self.state, ready, now)


def _int(cell: str) -> int:
    return int(cell) if 0 < len(cell) <= 15 and cell.isascii() and cell.isdigit() else 0


def parse_agent_rows(body: str, queue: str, *, where: str = "callcenter_config") -> list[AgentRow]:
    """Rows of the api answer; raises EslError on ``-ERR`` or a malformed table."""
    lines = [line for line in body.splitlines() if line.strip()]
    if lines and lines[0].startswith("-ERR"):
        raise EslError(f"{where}: callcenter_config for queue {queue!r}: {lines[0]!r}")
    lines = [line for line in lines if line.strip() != "+OK"]
    if not lines:
        return []
    header = lines[0].split("|")
    try:
        i_name, i_status, i_state = (header.index(k) for k in ("name", "status", "state"))
    except ValueError:
        raise EslError(f"{where}: unexpected callcenter_config header {lines[0][:120]!r}") from None
    optional = {
        k: header.index(k) for k in ("wrap_up_time", "last_bridge_end", "ready_time") if k in header
    }
    out: list[AgentRow] = []
    for lineno, line in enumerate(lines[1:], start=2):
        cells = line.split("|")
        if len(cells) != len(header):
            raise EslError(f"{where}: callcenter_config line {lineno}: {len(cells)} columns")
        extra = {k: _int(cells[i]) for k, i in optional.items()}
        out.append(AgentRow(cells[i_name], queue, cells[i_status], cells[i_state], **extra))
    return out


def parse_agent_list(
    body: str, queue: str, *, now: float | None = None, where: str = "callcenter_config"
) -> list[AgentState]:
    """Agents of ``queue`` from the api answer; raises EslError on ``-ERR`` or a bad table."""
    return [
        AgentState(agent=r.name, queue=queue, state=r.model_state(now))
        for r in parse_agent_rows(body, queue, where=where)
    ]


@dataclass
class _Agent:
    queues: set[str] = field(default_factory=set)
    status: str = ""
    state: str = ""
    word: str = ""  # the last state reported to the runner
    wrap_up_time: int = 0  # seconds, from the agent list (0: unknown or none)
    wrap_until: float | None = None  # a timed wrap-up ends at this epoch second


class AgentTracker:
    """Agent states and agent pick-ups from mod_callcenter, for the configured ``queues``.

    Queue membership and each agent's ``wrap_up_time`` are learned from the agent list
    (:meth:`learn`). An ``Available`` agent whose call ends goes back to ``Waiting`` and
    mod_callcenter offers it nothing for ``wrap_up_time`` seconds, without another event:
    that is reported as ``wrapup`` and ended by :meth:`due`. ``Idle`` (after a call of an
    ``Available (On Demand)`` agent) is ``wrapup`` until the agent is ``Waiting`` again.
    An event naming no ``CC-Queue`` is reported for the agent's known queues (with no queue
    configured, every agent counts, with queue ""). An agent the list did not show (added
    with ``callcenter_config agent add`` / ``tier add`` after it was read), or offered a call
    by a configured queue it was not listed in, is not ignored: :meth:`relist` says when to
    read the list again (at most every ``RELIST_EVERY`` seconds), and the list read then
    brings its state.
    """

    def __init__(self, queues: Iterable[str] = ()) -> None:
        self.queues = tuple(queues)
        self._agents: dict[str, _Agent] = {}
        self._unlisted: set[str] = set()  # agents named by events, not by the last list
        self._listed_at = float("-inf")

    def relist(self, now: float) -> bool:
        """Whether to read the agent list of every configured queue again at ``now``: an event
        named an agent the list did not show, and the last read is ``RELIST_EVERY`` old. True
        counts as the read starting (the names are forgotten; they come back if still
        unlisted)."""
        if not self._unlisted or now < self._listed_at + RELIST_EVERY:
            return False
        self._unlisted.clear()
        self._listed_at = now
        return True

    def learn(
        self, rows: Iterable[AgentRow], now: float, queue: str | None = None
    ) -> list[AgentState]:
        """Take the agent list as the truth at ``now``; the states it implies. With ``queue``
        (the list of that one queue), an agent known in ``queue`` and no longer listed left
        it (``tier del``, ``agent del``): logged out there."""
        self._listed_at = max(self._listed_at, now)
        rows = list(rows)
        out: list[AgentState] = []
        if queue is not None:
            listed = {row.name for row in rows}
            for name, agent in self._agents.items():
                if queue in agent.queues and name not in listed:
                    agent.queues.discard(queue)
                    out.append(AgentState(name, queue, "logged_out"))
        for row in rows:
            agent = self._agents.setdefault(row.name, _Agent())
            agent.queues.add(row.queue)
            agent.status, agent.state = row.status, row.state
            agent.wrap_up_time = row.wrap_up_time
            agent.word = row.model_state(now)
            agent.wrap_until = None
            if agent.word == "wrapup" and agent.state.strip().lower() == "waiting":
                agent.wrap_until = max(row.ready_time, row.last_bridge_end + row.wrap_up_time)
            out.append(AgentState(row.name, row.queue, agent.word))
        return out

    def on_event(
        self, event: EslEvent, now: float, is_ours: Callable[[str], bool]
    ) -> list[AgentEvent | AgentConnected]:
        """What a ``callcenter::info`` event implies; ``is_ours(uuid)`` tells our calls."""
        if (event.get("Event-Subclass") or "") != CALLCENTER_SUBCLASS:
            return []
        action = event.get("CC-Action") or ""
        name = event.get("CC-Agent") or ""
        if action == "bridge-agent-start":
            call_id = event.get("CC-Member-Session-UUID") or ""
            if not call_id or not is_ours(call_id):
                return []
            joined = _int(event.get("CC-Member-Joined-Time") or "")
            answered = _int(event.get("CC-Agent-Answered-Time") or "")
            wait = float(max(0, answered - joined)) if joined and answered else 0.0
            return [AgentConnected(call_id, agent=name, wait=wait)]
        if action == "agent-offering" and name:  # a member of that queue, listed or not
            offered = self._queues_for(name, event.get("CC-Queue"))
            known = self._agents.get(name)
            if offered and (known is None or not known.queues.issuperset(offered)):
                self._unlisted.add(name)
            return []
        if action not in ("agent-status-change", "agent-state-change") or not name:
            return []
        queues = self._queues_for(name, event.get("CC-Queue"))
        if not queues:
            self._unlisted.add(name)  # not in the list read last: read it again (relist)
            return []
        agent = self._agents.setdefault(name, _Agent())
        status = event.get("CC-Agent-Status")
        state = event.get("CC-Agent-State")
        agent.status = status if status is not None else agent.status
        agent.state = state if state is not None else agent.state
        return [*self._report(name, agent, self._word(agent, now), queues)]

    def due(self, now: float) -> list[AgentEvent]:
        """Agents whose timed wrap-up is over at ``now``: idle again."""
        out: list[AgentEvent] = []
        for name, agent in self._agents.items():
            if agent.word == "wrapup" and agent.wrap_until is not None and agent.wrap_until <= now:
                agent.wrap_until = None
                out.extend(self._report(name, agent, "idle", self._queues_for(name, None)))
        return out

    def next_due(self) -> float | None:
        """The earliest end of a timed wrap-up (epoch seconds), if any."""
        ends = [a.wrap_until for a in self._agents.values() if a.wrap_until is not None]
        return min(ends) if ends else None

    # --- internals -------------------------------------------------------------------------

    def _queues_for(self, name: str, cc_queue: str | None) -> list[str]:
        if cc_queue:
            if not self.queues or cc_queue in self.queues:
                return [cc_queue]
            # A queue configured without its domain ("collectors") is "collectors@default".
            bare = cc_queue.removesuffix(f"@{DEFAULT_DOMAIN}")
            return [bare] if bare in self.queues else []
        known = self._agents.get(name)
        if known is not None and known.queues:
            return sorted(known.queues)
        return [] if self.queues else [""]

    def _word(self, agent: _Agent, now: float) -> str:
        word = agent_state(agent.status, agent.state or "Waiting")
        if word != "idle":
            agent.wrap_until = None
            return word
        if agent.word == "talking" and agent.wrap_up_time > 0:
            agent.wrap_until = now + agent.wrap_up_time
            return "wrapup"
        if agent.word == "wrapup" and agent.wrap_until is not None and now < agent.wrap_until:
            return "wrapup"  # a repeated Waiting inside a timed wrap-up
        agent.wrap_until = None
        return "idle"

    def _report(self, name: str, agent: _Agent, word: str, queues: list[str]) -> list[AgentEvent]:
        if word == agent.word:
            return []
        agent.word = word
        return [AgentEvent(AgentState(name, queue, word)) for queue in queues]
