"""SimEsl: the simulated PBX's FreeSWITCH face — inbound ESL, originate, outbound sockets.

sim = SimPbx(SimConfig(seed=1, time_scale=20))
esl = SimEsl(sim, dialplan={"dialer-answered": "socket 127.0.0.1:8084 async full"})
await esl.start()          # inbound ESL on 127.0.0.1:esl.port, password ClueCon
...
await esl.close(); await sim.close()

Callees and agents are the SimPbx's: one call sequence and one seeded model for both faces, so
the same seed gives the same fates over AMI and over ESL, and the ``callcenter`` application
uses the sim's agent queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid as uuidlib
from collections.abc import Mapping

from pbx.model import DROPPED_REALM
from pbx.sim.admin import module_loaded
from pbx.sim.agents import AgentPhase
from pbx.sim.call_tasks import CallTasks
from pbx.sim.callees import CalleePlan, answered_at_once
from pbx.sim.calls import Dest, SimCall, wait_for
from pbx.sim.channels import Channel
from pbx.sim.esl_calls import EslCall, run_esl_call
from pbx.sim.esl_channels import EventFactory, FsChannel
from pbx.sim.esl_outbound import OutboundLeg, parse_socket_action
from pbx.sim.esl_server import EslInboundServer
from pbx.sim.esl_wire import FsEvent
from pbx.sim.pbx import CallRecord, SimPbx, mask
from pbx.sim.queue import AgentBridged, MemberChanged, QueueNews

__all__ = ["SimEsl", "parse_originate"]

log = logging.getLogger(__name__)

_ORIGINATE = re.compile(r"^\s*(?:\{([^}]*)\})?(\S+)\s+(\S.*?)\s*$")
CALLCENTER_INFO = "callcenter::info"
_AGENT_COLUMNS = (
    "name|instance_id|uuid|type|contact|status|state|max_no_answer|wrap_up_time|"
    "reject_delay_time|busy_delay_time|no_answer_delay_time|last_bridge_start|last_bridge_end|"
    "last_offered_call|last_status_change|no_answer_count|calls_answered|talk_time|ready_time|"
    "external_calls_count"
)
# AgentPhase -> mod_callcenter (status, state). As captured (callcenter_events_agent_call.txt),
# an "Available" agent goes back to Waiting the moment its call ends; its wrap-up-time shows only
# as last_bridge_end + wrap_up_time in the agent list, and nothing is sent when it ends.
_AVAILABLE = "Available"
_PHASE = {
    AgentPhase.IDLE: (_AVAILABLE, "Waiting"),
    AgentPhase.RINGING: (_AVAILABLE, "Receiving"),
    AgentPhase.TALKING: (_AVAILABLE, "In a queue call"),
    AgentPhase.WRAPUP: (_AVAILABLE, "Waiting"),
    AgentPhase.PAUSED: ("On Break", "Waiting"),
}


def parse_originate(arg: str) -> tuple[list[tuple[str, str]], str, str]:
    """``{k=v,...}<dial string> <target>`` → (variables, dial string, target); ValueError."""
    m = _ORIGINATE.match(arg)
    if m is None:
        raise ValueError("-USAGE: <callstring> <exten>|&<application_name>(<app_args>)")
    variables: list[tuple[str, str]] = []
    for item in (m.group(1) or "").split(","):
        name, sep, value = item.partition("=")
        if sep and name.strip():
            variables.append((name.strip(), value))
    return variables, m.group(2), m.group(3)


class SimEsl:
    """The ESL side of a :class:`SimPbx`. Not thread-safe; runs in the caller's event loop."""

    def __init__(
        self,
        sim: SimPbx,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        password: str = "ClueCon",
        dialplan: Mapping[str, str] | None = None,
        heartbeat_interval: float = 20.0,
        hostname: str = "sim",
    ) -> None:
        self.sim = sim
        self.dialplan: dict[str, str] = {}
        for ext, action in (dialplan or {}).items():
            self.set_dialplan(ext, action)
        self.heartbeat_interval = heartbeat_interval
        self.factory = EventFactory(hostname=hostname, switchname=hostname, clock=sim.clock)
        self.time_scale = sim.config.time_scale
        self.originates_received: list[str] = []  # origination_uuid of every originate, in order
        self.calls_finished: list[CallRecord] = []
        self.legs: list[OutboundLeg] = []  # outbound socket sessions, for tests
        self._server = EslInboundServer(self, host=host, port=port, password=password)
        self._channels: dict[str, tuple[FsChannel, EslCall]] = {}
        self._live_legs: dict[str, OutboundLeg] = {}
        self.db: dict[str, str] = {}  # mod_db "realm/key" → value
        self._calls = CallTasks()
        self._heartbeat: asyncio.Task[None] | None = None
        self._session_id = 0
        self._agent_values: dict[str, tuple[str, str]] = {}  # agent -> (status, state) sent

    # --- public API ------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen for inbound ESL (ephemeral port unless given); start HEARTBEATs."""
        await self._server.start()
        self.sim.queue.observers.append(self._on_queue)
        for agent in self.sim.queue.board.agents:
            self._agent_values[agent_name(agent.exten)] = _PHASE[agent.phase]
        self._heartbeat = asyncio.create_task(self._heartbeats(), name="sim-esl-heartbeat")

    @property
    def port(self) -> int:
        return self._server.port

    def set_dialplan(self, extension: str, action: str) -> None:
        """Route answered calls of ``extension``: ``park`` or ``socket host:port async full``."""
        if action != "park":
            parse_socket_action(action)
        self.dialplan[extension] = action

    @property
    def channels(self) -> tuple[FsChannel, ...]:
        return tuple(ch for ch, _ in self._channels.values())

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no call is in progress; False if ``timeout`` real seconds passed first."""
        return await self._calls.wait_idle(timeout)

    def drop_outbound_connections(self) -> int:
        """Cut every outbound-socket session abruptly (a crash as the dialer sees it); the
        calls, their queue waits and agent conversations keep running. Returns how many."""
        for leg in self._live_legs.values():
            leg.cut()
        return len(self._live_legs)

    async def drop_connections(self) -> None:
        """Cut every inbound ESL socket abruptly; calls keep running."""
        await self._server.drop_all()

    async def close(self) -> None:
        """Stop listening, end every call and the heartbeat (the SimPbx is closed separately)."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        with contextlib.suppress(ValueError):
            self.sim.queue.observers.remove(self._on_queue)
        await self._server.close()
        await self._calls.cancel_all()

    # --- EslContext (used by calls and outbound legs) --------------------------------------

    def publish(self, event: FsEvent) -> None:
        self._server.deliver(event)
        leg = self._live_legs.get(event.unique_id)
        if leg is not None:
            leg.deliver(event)

    def add_channel(self, ch: FsChannel, call: EslCall) -> None:
        self._channels[ch.uuid] = (ch, call)

    def remove_channel(self, ch: FsChannel) -> None:
        self._channels.pop(ch.uuid, None)

    def scaled(self, seconds: float) -> float:
        return self.sim.scaled(seconds)

    def dialplan_action(self, target: str) -> str | None:
        """``&park()``, ``&socket(h:p async full)`` or an extension of :attr:`dialplan`."""
        if target.startswith("&"):
            app, _, args = target[1:].partition("(")
            args = args.rstrip(")")
            return "park" if app == "park" else f"socket {args}" if app == "socket" else None
        return self.dialplan.get(target.split(" ")[0])

    async def run_socket(self, call: EslCall, action: str) -> None:
        leg = OutboundLeg(
            call,
            action,
            factory=self.factory,
            publish=self.publish,
            scaled=self.scaled,
            queue=self.sim.queue,
            prompt_seconds=self.sim.config.prompt_seconds,
            amd_seconds=self.sim.config.amd_seconds,
            recordings_dir=self.sim.config.recordings_dir,
            admin=self.sim.config.admin,
        )
        self.legs.append(leg)
        self._live_legs[call.uuid] = leg
        try:
            reached = await leg.run()
        finally:
            self._live_legs.pop(call.uuid, None)
        if not reached:
            await self._unreachable_fallback(call)

    async def _unreachable_fallback(self, call: EslCall) -> None:
        """The shipped dialplan after a failed ``socket`` (conf/freeswitch/dialplan_dialer.xml):
        ``db insert/pacedial_dropped/<call id>/${strepoch()}`` records the call for pacedial's
        next start, the drop message plays, then the hang-up."""
        call_id = call.a.variables.get("pacedial_call_id", "")
        if call_id:
            self.db[f"{DROPPED_REALM}/{call_id}"] = str(int(self.sim.clock()))
        await wait_for(call.a_down, self.scaled(self.sim.config.prompt_seconds))

    # --- Switch (used by the inbound server) -----------------------------------------------

    def api(self, command: str) -> str:
        """Answer an ``api`` command (quick queries; ``originate`` only through bgapi)."""
        words = command.split()
        verb = words[0] if words else ""
        if verb == "status":
            return self._status()
        if verb == "module_exists" and len(words) > 1:
            return "true" if module_loaded(self.sim.config.admin, words[1]) else "false"
        if verb == "db" and len(words) == 2:
            return self._db(words[1])
        if verb == "strepoch" and len(words) == 1:
            return str(int(self.sim.clock() + self.sim.config.admin.clock_offset))
        if words == ["callcenter_config", "queue", "list"]:
            return f"name|strategy\n{self.sim.queue.name}@default|longest-idle-agent\n+OK\n"
        if verb == "version":
            return "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
        if words[:3] == ["show", "channels", "as"] and words[3:] == ["json"]:
            return self._show_channels()
        if verb == "uuid_exists" and len(words) > 1:
            return "true" if words[1] in self._channels else "false"
        if verb == "uuid_kill" and len(words) > 1:
            found = self._channels.get(words[1])
            if found is None:
                return "-ERR No such channel!\n"
            found[1].request_hangup(words[2] if len(words) > 2 else "NORMAL_CLEARING")
            return "+OK\n"
        if verb == "uuid_getvar" and len(words) > 2:
            found = self._channels.get(words[1])
            if found is None:
                return "-ERR No such channel!\n"
            return found[0].variables.get(words[2], "_undef_")
        if words[:4] == ["callcenter_config", "queue", "list", "agents"] and len(words) > 4:
            return self._agent_list(words[4])
        if words[:4] == ["callcenter_config", "agent", "set", "status"] and len(words) > 5:
            return self._agent_set_status(words[4], " ".join(words[5:]).strip("'\""))
        if words[:3] == ["callcenter_config", "agent", "add"] and len(words) > 4:
            return self._agent_add(words[3])
        if words[:3] == ["callcenter_config", "tier", "add"] and len(words) > 4:
            return self._tier_add(words[3], words[4])
        return f"-ERR {verb} Command not found!\n"

    def bgapi(self, command: str, job_uuid: str) -> None:
        """Run ``command`` in the background; its result comes as BACKGROUND_JOB."""
        verb, _, arg = command.strip().partition(" ")
        if verb == "originate":
            self._originate(arg, job_uuid)
            return
        result = self.api(command)
        self.publish(self.factory.background_job(job_uuid, verb, arg, result))

    # --- internals -------------------------------------------------------------------------

    def _originate(self, arg: str, job_uuid: str) -> None:
        try:
            variables, dial, target = parse_originate(arg)
        except ValueError as exc:
            self.publish(self.factory.background_job(job_uuid, "originate", arg, f"{exc}\n"))
            return
        given = dict(variables)
        uuid = given.get("origination_uuid") or str(uuidlib.uuid4())
        self.originates_received.append(uuid)
        tech, _, resource = dial.partition("/")
        if tech not in ("loopback", "sofia", "user") or not resource:
            result = "-ERR CHAN_NOT_IMPLEMENTED\n"
            self.publish(self.factory.background_job(job_uuid, "originate", arg, result))
            return
        parts = resource.split("/")
        number = (parts[0] if tech == "loopback" else parts[-1]).partition("@")[0]
        overrides = {k.upper(): v for k, v in variables if k.startswith("sim_")}
        seq, plan = self.sim.plan_call(number, {**given, **overrides})
        if tech == "loopback" and number in self.dialplan and target.startswith("&park"):
            # loopback/EXT/CONTEXT &park(): the -b leg runs EXT's dialplan at once
            target, plan = number, answered_at_once(plan)
        try:
            timeout = float(given.get("originate_timeout") or 60)
        except ValueError:
            timeout = 60.0
        cid = given.get("origination_caller_id_number") or "0000000000"
        call = self._build_call(
            seq, job_uuid, arg, uuid, (tech, parts, number), target, timeout, cid, plan
        )
        log.debug("originate %s to %s: %s", uuid, mask(number), plan.outcome)
        self._calls.spawn(self._run(call), f"sim-esl-call-{seq}")

    def _build_call(
        self,
        seq: int,
        job_uuid: str,
        arg: str,
        uuid: str,
        where: tuple[str, list[str], str],
        target: str,
        timeout: float,
        cid: str,
        plan: CalleePlan,
    ) -> EslCall:
        tech, parts, number = where
        variables, _, _ = parse_originate(arg)
        now = self.factory.now_us()
        loopback = tech == "loopback"
        context = parts[1] if loopback and len(parts) > 1 else "default"
        name = f"loopback/{number}-a" if loopback else f"{tech}/{'/'.join(parts)}"
        b_uuid = str(uuidlib.uuid4()) if loopback else ""
        self._session_id += 1
        a_vars = {
            "direction": "outbound",
            "is_outbound": "true",
            "session_id": str(self._session_id),
            "read_codec": "L16",
            "read_rate": "8000",
            "write_codec": "L16",
            "write_rate": "8000",
            "channel_name": name,
            "uuid": uuid,
            "call_uuid": uuid,
        }
        a_vars.update({k: v for k, v in variables if k not in a_vars})
        a_vars["originate_early_media"] = "false"
        a_vars["originate_endpoint"] = tech
        if loopback:
            a_vars["other_loopback_leg_uuid"] = b_uuid
            a_vars["loopback_leg"] = "A"
        a = FsChannel(
            uuid,
            name,
            "outbound",
            number,
            context,
            cid,
            now,
            self._session_id,
            a_vars,
            callee_num=context if loopback else number,
        )
        b = None
        if loopback:
            self._session_id += 1
            b_name = f"loopback/{number}-b"
            b_vars = {
                "direction": "inbound",
                "uuid": b_uuid,
                "session_id": str(self._session_id),
                "channel_name": b_name,
                "read_codec": "L16",
                "read_rate": "8000",
                "write_codec": "L16",
                "write_rate": "8000",
            }
            b_vars.update({k: v for k, v in variables if k not in b_vars})
            b_vars.update({"other_loopback_leg_uuid": uuid, "loopback_leg": "B"})
            b_vars["call_uuid"] = b_uuid
            b = FsChannel(
                b_uuid,
                b_name,
                "inbound",
                number,
                context,
                cid,
                now,
                self._session_id,
                b_vars,
                callee_num=context,
            )
        one = Channel(name, uuid, uuid, context, number, cid_num=cid, cid_name=cid)
        sim_call = SimCall(
            seq=seq,
            action_id=job_uuid,
            dest=Dest(f"{tech}/{'/'.join(parts)}", tech, number, context, ""),
            context=target.split(" ")[-1],
            exten=target.split(" ")[0],
            priority=1,
            timeout=timeout,
            cid_num=cid,
            cid_name=cid,
            variables=variables,
            plan=plan,
            channel_id=uuid,
            one=one,
        )
        return EslCall(
            seq=seq,
            job_uuid=job_uuid,
            arg=arg,
            uuid=uuid,
            number=number,
            target=target,
            timeout=timeout,
            plan=plan,
            sim_call=sim_call,
            a=a,
            b=b,
        )

    async def _run(self, call: EslCall) -> None:
        try:
            await run_esl_call(self, call)
        finally:
            record = CallRecord(
                call.job_uuid,
                call.uuid,
                call.number,
                call.plan.outcome.value,
                call.result,
                call.answered,
            )
            self.calls_finished.append(record)
            self.sim.calls_finished.append(record)

    def _status(self) -> str:
        up = int((self.factory.clock() - self.factory.started) * 1000)
        s, ms = divmod(up, 1000)
        m, s = divmod(s, 60)
        h, m = divmod(m, 60)
        d, h = divmod(h, 24)
        sessions = len(self._channels)
        return (
            f"UP 0 years, {d} days, {h} hours, {m} minutes, {s} seconds, {ms} milliseconds, "
            "0 microseconds\n"
            "FreeSWITCH (Version 1.10.12-release  64bit) "
            + ("is ready\n" if self.sim.config.admin.booted else "is starting\n")
            + f"{self._session_id} session(s) since startup\n"
            f"{sessions} session(s) - peak {sessions}, last 5min {sessions} \n"
            "0 session(s) per Sec out of max 100, peak 0, last 5min 0 \n"
            "1000 session(s) max\nmin idle cpu 0.00/99.00\nCurrent Stack Size/Max 240K/8192K\n"
        )

    def _db(self, arg: str) -> str:
        """mod_db's api: ``exists|select|delete/realm/key`` (``insert`` is the dialplan's)."""
        op, _, key = arg.partition("/")
        if op == "exists":
            return "true" if key in self.db else "false"
        if op == "select":
            return self.db.get(key, "")
        if op == "delete":
            self.db.pop(key, None)
            return "+OK"
        return "-USAGE: db [insert|delete|select|exists|count|list]/realm/key[/value]"

    def _show_channels(self) -> str:
        rows = [ch.show_row(self.factory.hostname) for ch, _ in self._channels.values()]
        if not rows:
            return '{"row_count": 0}\n'
        return json.dumps({"row_count": len(rows), "rows": rows}, separators=(",", ":"))

    def _agent_list(self, queue: str) -> str:
        lines = [_AGENT_COLUMNS]
        if queue.partition("@")[0] == self.sim.queue.name:
            wrap = int(self.sim.queue.board.cfg.wrapuptime)
            for agent in self.sim.queue.board.agents:
                status, state = _PHASE[agent.phase]
                if agent.held == "logged out":  # added, never made available
                    status = "Logged Out"
                lines.append(
                    f"{agent_name(agent.exten)}||||loopback/{agent.exten}|{status}|{state}|3|"
                    f"{wrap}|10|60|0|0|{agent.last_call}|0|0|0|{agent.calls_taken}|0|0|0"
                )
        lines.append("+OK")
        return "\n".join(lines) + "\n"

    def _agent_add(self, name: str) -> str:
        """``callcenter_config agent add <name> <type>``: an agent, Logged Out, in no queue
        (mod_callcenter sends no event for it)."""
        if name in self._agent_values:
            return "-ERR Agent already exists!\n"
        self._agent_values[name] = ("Logged Out", "Waiting")
        return "+OK\n"

    def _tier_add(self, queue: str, name: str) -> str:
        """``callcenter_config tier add <queue> <agent>``: the added agent becomes a member of
        the simulated queue (no event either: its next status change is the first)."""
        if queue.partition("@")[0] != self.sim.queue.name:
            return "-ERR Invalid Queue!\n"
        exten = name.partition("@")[0]
        if name not in self._agent_values:
            return "-ERR Invalid Agent!\n"
        if not any(a.exten == exten for a in self.sim.queue.board.agents):
            self.sim.queue.board.add(exten)
        return "+OK\n"

    def _agent_set_status(self, name: str, status: str) -> str:
        """``callcenter_config agent set status``: On Break pauses, Available releases."""
        exten = name.partition("@")[0]
        agent = next((a for a in self.sim.queue.board.agents if a.exten == exten), None)
        if agent is None:
            return "-ERR Invalid Agent!\n"
        if status not in ("On Break", "Available", "Available (On Demand)", "Logged Out"):
            return "-ERR Invalid Status!\n"
        self.sim.queue.set_paused(agent.interface, status != "Available", "break")
        return "+OK\n"

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            self.publish(self.factory.heartbeat(len(self._channels), self._session_id))

    def _on_queue(self, news: QueueNews) -> None:
        """The shared queue's news → CHANNEL_BRIDGE / callcenter::info on ESL."""
        if isinstance(news, MemberChanged):
            if news.agent.phase is not AgentPhase.TALKING:  # sent after bridge-agent-start
                self._agent_changed(news.agent.exten, *_PHASE[news.agent.phase])
            return
        leg = self._live_legs.get(news.caller)
        agent = agent_name(news.agent.exten)
        if isinstance(news, AgentBridged):
            if leg is not None:
                self._bridge_info(
                    "bridge-agent-start", leg.call.uuid, agent, news.agent_leg, news.hold
                )
                leg.bridged(news.agent_leg, agent)
            self._agent_changed(news.agent.exten, *_PHASE[AgentPhase.TALKING])
        elif leg is not None:
            leg.unbridged(news.agent_leg, agent)
            self._bridge_info(
                "bridge-agent-end", leg.call.uuid, agent, news.agent_leg, news.hold, news.talk
            )

    def _agent_changed(self, exten: str, status: str, state: str) -> None:
        """mod_callcenter's ``agent-status-change`` / ``agent-state-change``, each sent only
        when its value changed, with the captured fields: ``CC-Agent``, ``CC-Action``, the
        value; no ``CC-Queue`` (callcenter_events_agent_call.txt)."""
        name = agent_name(exten)
        before = self._agent_values.get(name, ("", ""))
        self._agent_values[name] = (status, state)
        for action, key, old, new in (
            ("agent-status-change", "CC-Agent-Status", before[0], status),
            ("agent-state-change", "CC-Agent-State", before[1], state),
        ):
            if new != old:
                self.publish(
                    self.factory.custom(
                        CALLCENTER_INFO, ("CC-Agent", name), ("CC-Action", action), (key, new)
                    )
                )

    def _bridge_info(
        self, action: str, member: str, agent: str, agent_uuid: str, hold: int, talk: int = 0
    ) -> None:
        """mod_callcenter's ``bridge-agent-start`` / ``-end`` (times in epoch seconds)."""
        now = int(self.factory.clock())
        answered = now - talk
        extra = [
            ("CC-Queue", f"{self.sim.queue.name}@default"),
            ("CC-Action", action),
            ("CC-Agent", agent),
            ("CC-Agent-UUID", agent_uuid),
            ("CC-Agent-Answered-Time", str(answered)),
            ("CC-Member-Joined-Time", str(answered - hold)),
            ("CC-Member-Session-UUID", member),
        ]
        if action == "bridge-agent-end":  # the captured order and cause
            extra.insert(2, ("CC-Hangup-Cause", "SUCCESS"))
            extra.insert(7, ("CC-Bridge-Terminated-Time", str(now)))
        self.publish(self.factory.custom(CALLCENTER_INFO, *extra))


def agent_name(exten: str) -> str:
    """The mod_callcenter agent name of a simulated agent (``agent1@default``)."""
    return f"{exten}@default"
