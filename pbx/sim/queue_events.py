"""app_queue's AMI events for the simulated queue, field order as in queue_call.txt."""

from __future__ import annotations

from pbx.sim.agents import Agent
from pbx.sim.channels import Channel, Headers

__all__ = [
    "agent_called",
    "agent_complete",
    "agent_connect",
    "member_fields",
    "queue_caller_abandon",
    "queue_caller_join",
    "queue_config_lines",
    "queue_caller_leave",
    "queue_member",
    "queue_member_pause",
    "queue_member_status",
    "queue_params",
    "queue_status_complete",
]


def member_fields(agent: Agent, login_time: int) -> Headers:
    """The member block from ``Penalty`` to ``Paused`` shared by every member event."""
    return (
        ("Membership", "static"),
        ("Penalty", "0"),
        ("CallsTaken", str(agent.calls_taken)),
        ("LastCall", str(agent.last_call)),
        ("LastPause", str(agent.last_pause)),
        ("LoginTime", str(login_time)),
        ("InCall", "1" if agent.phase.value in ("ringing", "talking") else "0"),
        ("Status", str(agent.device_status)),
        ("Paused", "1" if agent.paused else "0"),
        ("PausedReason", agent.paused_reason),
    )


def _aid(action_id: str | None) -> Headers:
    return (("ActionID", action_id),) if action_id is not None else ()


def queue_params(
    queue: str, calls: int, completed: int, abandoned: int, aid: str | None
) -> Headers:
    return (
        ("Event", "QueueParams"),
        ("Queue", queue),
        ("Max", "0"),
        ("Strategy", "rrmemory"),
        ("Calls", str(calls)),
        ("Holdtime", "0"),
        ("TalkTime", "0"),
        ("Completed", str(completed)),
        ("Abandoned", str(abandoned)),
        ("ServiceLevel", "0"),
        ("ServicelevelPerf", "0.0"),
        ("ServicelevelPerf2", "0.0"),
        ("Weight", "0"),
        *_aid(aid),
    )


def queue_member(queue: str, agent: Agent, login_time: int, aid: str | None) -> Headers:
    return (
        ("Event", "QueueMember"),
        ("Queue", queue),
        ("Name", agent.name),
        ("Location", agent.interface),
        ("StateInterface", agent.interface),
        *member_fields(agent, login_time),
        ("Wrapuptime", "0"),
        *_aid(aid),
    )


def queue_status_complete(aid: str | None, items: int) -> Headers:
    return (
        ("Event", "QueueStatusComplete"),
        *_aid(aid),
        ("EventList", "Complete"),
        ("ListItems", str(items)),
    )


def _member_event(name: str, queue: str, agent: Agent, login_time: int) -> Headers:
    return (
        ("Event", name),
        ("Privilege", "agent,all"),
        ("Queue", queue),
        ("MemberName", agent.name),
        ("Interface", agent.interface),
        ("StateInterface", agent.interface),
        *member_fields(agent, login_time),
        ("Ringinuse", "0"),
        ("Wrapuptime", "0"),
    )


def queue_member_status(queue: str, agent: Agent, login_time: int) -> Headers:
    return _member_event("QueueMemberStatus", queue, agent, login_time)


def queue_member_pause(queue: str, agent: Agent, login_time: int) -> Headers:
    return _member_event("QueueMemberPause", queue, agent, login_time)


def queue_caller_join(caller: Channel, queue: str, position: int, count: int) -> Headers:
    return (
        ("Event", "QueueCallerJoin"),
        ("Privilege", "agent,all"),
        *caller.fields(),
        ("Queue", queue),
        ("Position", str(position)),
        ("Count", str(count)),
    )


def queue_caller_leave(caller: Channel, queue: str, position: int, count: int) -> Headers:
    return (
        ("Event", "QueueCallerLeave"),
        ("Privilege", "agent,all"),
        *caller.fields(),
        ("Queue", queue),
        ("Position", str(position)),
        ("Count", str(count)),
    )


def queue_caller_abandon(
    caller: Channel, queue: str, position: int, original: int, hold: int
) -> Headers:
    return (
        ("Event", "QueueCallerAbandon"),
        ("Privilege", "agent,all"),
        *caller.fields(),
        ("Queue", queue),
        ("Position", str(position)),
        ("OriginalPosition", str(original)),
        ("HoldTime", str(hold)),
    )


def _agent_event(name: str, caller: Channel, dest: Channel, queue: str, agent: Agent) -> Headers:
    return (
        ("Event", name),
        ("Privilege", "agent,all"),
        *caller.fields(),
        *dest.fields("Dest"),
        ("Queue", queue),
        ("Interface", agent.interface),
        ("MemberName", agent.name),
    )


def agent_called(caller: Channel, dest: Channel, queue: str, agent: Agent) -> Headers:
    return _agent_event("AgentCalled", caller, dest, queue, agent)


def agent_connect(
    caller: Channel, dest: Channel, queue: str, agent: Agent, hold: int, ring: int
) -> Headers:
    tail = (("HoldTime", str(hold)), ("RingTime", str(ring)))
    return _agent_event("AgentConnect", caller, dest, queue, agent) + tail


def agent_complete(
    caller: Channel, dest: Channel, queue: str, agent: Agent, hold: int, talk: int, reason: str
) -> Headers:
    tail = (("HoldTime", str(hold)), ("TalkTime", str(talk)), ("Reason", reason))
    return _agent_event("AgentComplete", caller, dest, queue, agent) + tail


def queue_config_lines(wrapuptime: float) -> list[str]:
    """The ``key=value`` lines of the queue's ``queues.conf`` section (pacedial's shipped one)."""
    return [
        "strategy=rrmemory",
        "timeout=15",
        "retry=0",
        f"wrapuptime={wrapuptime:g}",
        "autopause=no",
        "ringinuse=no",
        "announce-frequency=0",
        "joinempty=yes",
        "leavewhenempty=no",
        "setinterfacevar=yes",
    ]
