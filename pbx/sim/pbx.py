"""SimPbx: the simulated Asterisk 20 — AMI server, call simulation, FastAGI client, queue.

sim = SimPbx(SimConfig(time_scale=20), dialplan={"pacedial-answered": "agi://127.0.0.1:4573/router"})
await sim.start()          # AMI on 127.0.0.1:sim.ami_port
...
await sim.close()
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from pbx.asterisk.ami import AmiMessage
from pbx.model import DROPPED_REALM
from pbx.sim import channels as ev
from pbx.sim import chanspy
from pbx.sim.admin import module_loaded
from pbx.sim.agi_runner import AgiRunner, parse_agi_target
from pbx.sim.ami_server import AmiConnection, AmiServer, response
from pbx.sim.call_tasks import CallTasks
from pbx.sim.callees import CalleePlan, answered_at_once, plan_callee
from pbx.sim.calls import SimCall, callee_hangs_up, parse_dest, run_call, wait_for
from pbx.sim.channels import Channel, Headers
from pbx.sim.clock import LoopClock, SimClock, loop_seconds
from pbx.sim.config import SimConfig
from pbx.sim.queue import SimQueue
from pbx.sim.queue_events import queue_config_lines, queue_status_complete

__all__ = ["CallRecord", "ChannelSnapshot", "SimPbx"]

log = logging.getLogger(__name__)
_CALLERID = re.compile(r'^\s*(?:"?([^"<]*?)"?\s*)?<([^>]*)>\s*$')


@dataclass(frozen=True)
class ChannelSnapshot:
    """A live channel as ``SimPbx.channels`` reports it."""

    name: str
    uniqueid: str
    linkedid: str
    state: str
    context: str
    exten: str
    action_id: str | None


@dataclass(frozen=True)
class CallRecord:
    """A finished simulated call (what the callee model decided and what happened)."""

    action_id: str | None
    uniqueid: str
    number: str
    outcome: str  # the callee plan: human / machine / busy / ...
    result: str  # what the call became: human / busy / no_answer / cancelled / ...
    answered: bool


def mask(number: str) -> str:
    return "*" * max(len(number) - 4, 0) + number[-4:]


def parse_callerid(text: str) -> tuple[str, str]:
    """``"Name" <num>`` → (num, name); a bare number is used for both (as Asterisk does)."""
    m = _CALLERID.match(text)
    if m:
        num = m.group(2).strip()
        name = (m.group(1) or "").strip()
        return num or "<unknown>", name or "<unknown>"
    text = text.strip()
    return (text, text) if text else ("<unknown>", "<unknown>")


class SimPbx:
    """The simulated PBX. Not thread-safe; runs in the caller's event loop."""

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        dialplan: Mapping[str, str] | None = None,
        clock: SimClock | None = None,
    ):
        self.config = config or SimConfig()
        # The one clock of this PBX (and of its ESL face): simulated epoch seconds.
        self.clock: SimClock = clock or LoopClock(scale=self.config.time_scale)
        self.dialplan: dict[str, str] = dict(self.config.dialplan)
        if dialplan:
            self.dialplan.update(dialplan)
        self.originates_received: list[str] = []  # ActionID of every Originate, in order
        self.calls_finished: list[CallRecord] = []
        self.mixmonitor_log: list[str] = []
        self._agi_runners: set[AgiRunner] = set()  # FastAGI sessions running now
        self.astdb: dict[str, str] = {}  # AstDB "family/key" → value (DBGet / DBDel)
        self.spies: list[chanspy.SpySession] = []  # every ChanSpy call, in order
        self.spy_channels: dict[str, Channel] = {}  # live spyer channels by uniqueid
        self._ami = AmiServer(
            self._handle_action,
            host=self.config.host,
            port=self.config.ami_port,
            username=self.config.username,
            secret=self.config.secret,
            login_failure_delay=self.config.login_failure_delay,
            fully_booted=self.config.admin.booted,
            clock_offset=self.config.admin.clock_offset,
            clock=self.clock,
        )
        self._queue = SimQueue(self, self.config.agents, self.config.seed)
        self.booting = False  # restarted, dialplan not loaded yet
        self._channels: dict[str, tuple[Channel, SimCall]] = {}
        self._calls = CallTasks()
        self._call_seq = itertools.count()
        self._uid_seq = itertools.count()
        self._name_seq: dict[bool, itertools.count[int]] = {
            True: itertools.count(),
            False: itertools.count(),
        }
        self._started = False

    # --- public API ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen for AMI on ``config.host`` (an ephemeral port unless ``config.ami_port``)."""
        await self._ami.start()
        self._started = True

    @property
    def ami_port(self) -> int:
        return self._ami.port

    @property
    def queue(self) -> SimQueue:
        return self._queue

    def set_dialplan(self, context: str, agi: str) -> None:
        """Route answered calls of ``context`` to ``agi`` (``agi://host:port/script[,args]``)."""
        if agi:
            parse_agi_target(agi)  # validate now, not at the first answered call
        self.dialplan[context] = agi

    @property
    def channels(self) -> tuple[ChannelSnapshot, ...]:
        """The live channels right now."""
        return tuple(
            ChannelSnapshot(
                ch.name,
                ch.uniqueid,
                ch.linkedid,
                ch.state_desc,
                ch.context,
                ch.exten,
                call.action_id,
            )
            for ch, call in self._channels.values()
        )

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no call is in progress; False if ``timeout`` real seconds passed first."""
        return await self._calls.wait_idle(timeout)

    async def drop_ami_connections(self) -> None:
        """Cut every AMI socket abruptly; calls keep running."""
        await self._ami.drop_all()

    def drop_agi_connections(self) -> int:
        """Cut every FastAGI socket abruptly (a crash as the dialer sees it); the calls, their
        queue waits and agent conversations keep running. Returns how many were cut."""
        for runner in self._agi_runners:
            runner.cut()
        return len(self._agi_runners)

    def shut_down_gracefully(self, stopping: bool = True) -> None:
        """``core stop gracefully`` (or its abort): every AMI action, Ping included, gets
        ``Error`` / ``Asterisk is shutting down``, with no event (originate_during_shutdown.txt)."""
        self._ami.refusal = "Asterisk is shutting down" if stopping else None

    async def restart(self) -> None:
        """``core restart now``: Shutdown event, sockets closed, calls gone; the PBX comes back
        booting: Logins work without FullyBooted and Originates get "Extension does not
        exist." until :meth:`finish_boot` (restart_shutdown.txt, restart_reconnect.txt)."""
        self.emit((("Event", "Shutdown"), ("Privilege", "system,all"),
                   ("Shutdown", "Cleanly"), ("Restart", "True")))  # fmt: skip
        self._ami.refusal = None
        self._ami.booted = False
        self.booting = True
        await self._calls.cancel_all()
        await self._ami.drop_all()

    def finish_boot(self) -> None:
        """The dialplan is loaded: the broadcast FullyBooted (Status first, Uptime 0)."""
        self.booting = False
        self._ami.booted = True
        self.emit((("Event", "FullyBooted"), ("Privilege", "system,all"),
                   ("Status", "Fully Booted"), ("Uptime", "0"), ("LastReload", "0")))  # fmt: skip

    async def close(self) -> None:
        """Stop listening, cut AMI sessions, end every call and agent task."""
        await self._ami.close()
        await self._calls.cancel_all()
        await self._queue.close()

    # --- CallContext (used by calls, queue and AGI runner) -------------------------------------
    def emit(self, headers: Headers) -> None:
        self._ami.broadcast(headers)

    def plan_call(self, number: str, variables: Mapping[str, str]) -> tuple[int, CalleePlan]:
        """The next call's sequence number and callee plan (one sequence for AMI and ESL)."""
        seq = next(self._call_seq)
        rng = random.Random(f"{self.config.seed}:call:{seq}")
        plan = plan_callee(rng, self.config.callees, self.config.behaviour, number, dict(variables))
        return seq, plan

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(self.scaled(seconds))

    def scaled(self, seconds: float) -> float:
        return loop_seconds(self.clock, seconds)

    def new_uniqueid(self) -> str:
        return f"{int(self.clock())}.{next(self._uid_seq)}"

    def channel_name(self, prefix: str, local: bool) -> str:
        return f"{prefix}-{next(self._name_seq[local]):08x}"

    def register(self, ch: Channel, call: SimCall) -> None:
        ch.created = self.clock()
        self._channels[ch.name] = (ch, call)

    def unregister(self, ch: Channel) -> None:
        self._channels.pop(ch.name, None)

    async def run_answered(self, call: SimCall) -> None:
        """The answered leg's dialplan: AGI(...) if the context has one, else wait for hangup."""
        target = self.dialplan.get(call.context, "")
        if not target:
            await call.dead.wait()
            return
        runner = AgiRunner(
            self,
            call,
            parse_agi_target(target),
            self._queue,
            prompt_seconds=self.config.prompt_seconds,
            amd_seconds=self.config.amd_seconds,
            dead_timeout=self.config.agi_dead_timeout,
            mixmonitor_log=self.mixmonitor_log,
            recordings_dir=self.config.recordings_dir,
            admin=self.config.admin,
        )
        self._agi_runners.add(runner)
        try:
            reached = await runner.run()
        finally:
            self._agi_runners.discard(runner)
        if not reached:
            await self._unreachable_fallback(call)

    async def _unreachable_fallback(self, call: SimCall) -> None:
        """The shipped dialplan's ``unreachable`` branch (conf/asterisk/extensions.conf):
        ``Set(DB(pacedial_dropped/<call id>)=${EPOCH})`` records the call for pacedial's next
        start, the drop message plays, then the hang-up."""
        call_id = dict(call.variables).get("PACEDIAL_CALL_ID", "")
        if call_id:
            self.astdb[f"{DROPPED_REALM}/{call_id}"] = str(int(self.clock()))
        await wait_for(call.dead, self.scaled(self.config.prompt_seconds))

    # --- AMI actions --------------------------------------------------------------------------
    def _handle_action(self, conn: AmiConnection, msg: AmiMessage) -> None:
        action = (msg.action or "").lower()
        handler = {
            "originate": self._originate,
            "hangup": self._hangup,
            "coreshowchannels": self._core_show_channels,
            "queuestatus": self._queue_status,
            "queuepause": self._queue_pause,
            "getconfig": self._get_config,
            "coresettings": self._core_settings,
            "corestatus": self._core_status,
            "modulecheck": self._module_check,
            "showdialplan": self._show_dialplan,
            "dbget": self._db_get,
            "dbdel": self._db_del,
        }.get(action)
        if handler is None:
            conn.send(response(msg, "Error", "Invalid/unknown command"))
            return
        handler(conn, msg)

    def _originate(self, conn: AmiConnection, msg: AmiMessage) -> None:
        dial = msg.get("Channel")
        if dial and (msg.get("Application") or "").lower() == "chanspy":
            self._originate_spy(conn, msg, dial)  # a supervisor's call, not a dial attempt
            return
        self.originates_received.append(msg.action_id or "")
        if not dial:
            conn.send(response(msg, "Error", "Channel not specified"))
            return
        dest = parse_dest(dial)
        context = msg.get("Context") or ""
        into_dialplan = not context and dest.is_local and bool(msg.get("Application"))
        if into_dialplan:  # Local/s@ctx with an Application: the ;2 half runs ctx at once
            context = dest.local_context
        if context not in self.dialplan or self.booting:
            conn.send(response(msg, "Error", "Extension does not exist."))
            return
        variables: list[tuple[str, str]] = []
        for header in msg.get_all("Variable"):
            for item in header.split(","):
                name, sep, value = item.partition("=")
                if sep and name.strip():
                    variables.append((name.strip(), value))
        cid_num, cid_name = parse_callerid(msg.get("CallerID") or "")
        try:
            timeout = int(msg.get("Timeout") or 30000) / 1000
            priority = int(msg.get("Priority") or 1)
        except ValueError:
            conn.send(response(msg, "Error", "Invalid timeout or priority"))
            return
        seq, plan = self.plan_call(dest.number, dict(variables))
        if into_dialplan:  # no callee: the dialplan runs as soon as the channel is up
            plan = answered_at_once(plan)
        call = SimCall(
            seq=seq,
            action_id=msg.action_id,
            dest=dest,
            context=context,
            exten=msg.get("Exten") or "s",
            priority=priority,
            timeout=timeout,
            cid_num=cid_num,
            cid_name=cid_name,
            variables=variables,
            plan=plan,
            channel_id=msg.get("ChannelId") or None,
            other_channel_id=msg.get("OtherChannelId") or None,
        )
        self._queue.timeline.note(call, "originate", self.clock(), dest.number)
        if (msg.get("Async") or "").lower() in ("true", "yes", "1", "on"):
            conn.send(response(msg, "Success", "Originate successfully queued"))
        else:

            def answer(success: bool) -> None:
                if success:
                    conn.send(response(msg, "Success", "Originate successfully queued"))
                else:
                    conn.send(response(msg, "Error", "Originate failed"))

            call.on_result = answer
        log.debug("originate %s to %s: %s", msg.action_id, mask(dest.number), plan.outcome)
        self._calls.spawn(self._run(call), f"sim-call-{seq}")

    def _originate_spy(self, conn: AmiConnection, msg: AmiMessage, dial: str) -> None:
        """A supervisor's phone into ChanSpy (see pbx.sim.chanspy)."""
        prefix, options = chanspy.parse_data(msg.get("Data") or "")
        cid_num, cid_name = parse_callerid(msg.get("CallerID") or "")
        uid = msg.get("ChannelId") or self.new_uniqueid()
        base = dial.split("/", 1)[-1] if dial.lower().startswith("local/") else dial
        spyer = Channel(self.channel_name(dial, local=True) + ";1", uid, uid, base, "s")
        spyer.cid_num = spyer.conn_num = cid_num or "<unknown>"
        spyer.cid_name = spyer.conn_name = cid_name or "<unknown>"
        spyer.application, spyer.appdata = "ChanSpy", msg.get("Data") or ""
        conn.send(response(msg, "Success", "Originate successfully queued"))
        self.emit(ev.newchannel(spyer))
        live = [ch for ch, _call in self._channels.values()]
        session = chanspy.SpySession(spyer, chanspy.find_spyee(prefix, live), options)
        self.spies.append(session)
        self.spy_channels[uid] = spyer
        self.emit(
            ev.originate_response(
                msg.action_id, True, spyer.name, "", "", 4, uid, cid_num, cid_name
            )
        )

        def hang_up(ch: Channel) -> None:
            ch.hung_up = True
            self.emit(ev.hangup(ch, 16))
            self.spy_channels.pop(ch.uniqueid, None)

        self._calls.spawn(
            chanspy.run_spy(session, self.emit, self.sleep, hang_up), f"sim-spy-{uid}"
        )

    async def _run(self, call: SimCall) -> None:
        try:
            await run_call(self, call)
        finally:
            one = call.one
            self.calls_finished.append(
                CallRecord(
                    call.action_id,
                    one.uniqueid if one else "",
                    call.dest.number,
                    call.plan.outcome.value,
                    call.result,
                    call.answered,
                )
            )

    def _find(self, key: str) -> tuple[Channel, SimCall] | None:
        if key in self._channels:
            return self._channels[key]
        for ch, call in self._channels.values():
            if ch.uniqueid == key:
                return ch, call
        return None

    def _hangup(self, conn: AmiConnection, msg: AmiMessage) -> None:
        found = self._find(msg.get("Channel") or "")
        if found is None:
            conn.send(response(msg, "Error", "No such channel"))
            return
        ch, call = found
        conn.send(response(msg, "Success", "Channel Hungup"))
        if call.answered and ch is not call.one and ch is not call.two:
            return  # an agent leg: the sim's agents end their calls themselves
        if call.answered and ch is call.two and not call.callee_gone.is_set():
            callee_hangs_up(self, call)
        call.abort.set()

    def _core_show_channels(self, conn: AmiConnection, msg: AmiMessage) -> None:
        aid = msg.action_id
        conn.send(
            response(
                msg, "Success", None, ("EventList", "start"), ("Message", "Channels will follow")
            )
        )
        items = [ch for ch, _ in self._channels.values()]
        for ch in items:
            conn.send(ev.core_show_channel(aid, ch, self.clock()))
        tail: list[tuple[str, str]] = [("Event", "CoreShowChannelsComplete")]
        if aid is not None:
            tail.append(("ActionID", aid))
        tail += [("EventList", "Complete"), ("ListItems", str(len(items)))]
        conn.send(tuple(tail))

    def _queue_status(self, conn: AmiConnection, msg: AmiMessage) -> None:
        wanted = msg.get("Queue")
        conn.send(
            response(
                msg,
                "Success",
                None,
                ("EventList", "start"),
                ("Message", "Queue status will follow"),
            )
        )
        events = (
            []
            if wanted and wanted != self._queue.name
            else self._queue.status_events(msg.action_id)
        )
        for headers in events:
            conn.send(headers)
        conn.send(queue_status_complete(msg.action_id, len(events)))

    def _queue_pause(self, conn: AmiConnection, msg: AmiMessage) -> None:
        interface = msg.get("Interface") or ""
        paused = (msg.get("Paused") or "").lower() in ("true", "yes", "1", "on")
        if not interface or not msg.get("Paused"):
            conn.send(response(msg, "Error", "Need 'Interface' and 'Paused' parameters."))
        elif self._queue.board.by_interface(interface) is None:
            conn.send(response(msg, "Error", "Interface not found"))
        else:
            word = "paused" if paused else "unpaused"
            conn.send(response(msg, "Success", f"Interface {word} successfully"))
            self._queue.set_paused(interface, paused, msg.get("Reason") or "")

    def _get_config(self, conn: AmiConnection, msg: AmiMessage) -> None:
        """``GetConfig queues.conf`` as Asterisk serves it (``queue_getconfig.txt``)."""
        if (msg.get("Filename") or "") != "queues.conf":
            conn.send(response(msg, "Error", "Config file has invalid format"))
            return
        wanted = msg.get("Category")
        if wanted and wanted != self._queue.name:
            conn.send(response(msg, "Error", "No categories found"))
            return
        lines = [
            *queue_config_lines(self.config.agents.wrapuptime),
            *(
                f"member=Local/{a.exten}@{self.config.agents.context},0,{a.exten}"
                for a in self._queue.board.agents
            ),
        ]
        extra = [("Category-000000", self._queue.name)]
        extra += [(f"Line-000000-{i:06d}", line) for i, line in enumerate(lines)]
        conn.send(response(msg, "Success", None, *extra))

    def _core_settings(self, conn: AmiConnection, msg: AmiMessage) -> None:
        conn.send(
            response(
                msg,
                "Success",
                None,
                ("AMIversion", "9.0.0"),
                ("AsteriskVersion", "20.20.1"),
                ("SystemName", ""),
                ("CoreMaxCalls", "0"),
                ("CoreMaxLoadAvg", "0.000000"),
                ("CoreRunUser", ""),
                ("CoreRunGroup", ""),
                ("CoreMaxFilehandles", "0"),
                ("CoreRealTimeEnabled", "No"),
                ("CoreCDRenabled", "No"),
                ("CoreHTTPenabled", "No"),
                ("SoundsSearchCustomDir", "No"),
            )
        )

    def _module_check(self, conn: AmiConnection, msg: AmiMessage) -> None:
        if module_loaded(self.config.admin, msg.get("Module") or ""):
            conn.send(response(msg, "Success", None, ("Version", "")))
        else:
            conn.send(response(msg, "Error", "Module not loaded"))

    def _db_get(self, conn: AmiConnection, msg: AmiMessage) -> None:
        """``DBGet``: a list answer (DBGetResponse, DBGetComplete), or Error when absent."""
        family, key = msg.get("Family") or "", msg.get("Key") or ""
        value = self.astdb.get(f"{family}/{key}")
        if value is None:
            conn.send(response(msg, "Error", "Database entry not found"))
            return
        listed = (("EventList", "start"), ("Message", "Result will follow"))
        conn.send(response(msg, "Success", None, *listed))
        aid = (("ActionID", msg.action_id),) if msg.action_id else ()
        event = ("Event", "DBGetResponse")
        conn.send((event, *aid, ("Family", family), ("Key", key), ("Val", value)))
        complete = (("Event", "DBGetComplete"), *aid, ("EventList", "Complete"))
        conn.send((*complete, ("ListItems", "1")))

    def _db_del(self, conn: AmiConnection, msg: AmiMessage) -> None:
        found = self.astdb.pop(f"{msg.get('Family') or ''}/{msg.get('Key') or ''}", None)
        if found is None:
            conn.send(response(msg, "Error", "Database entry not found"))
        else:
            conn.send(response(msg, "Success", "Key deleted successfully"))

    def _show_dialplan(self, conn: AmiConnection, msg: AmiMessage) -> None:
        context = msg.get("Context") or ""
        if context not in self.config.dialplan:
            conn.send(response(msg, "Error", f"Did not find context {context}"))
            return
        conn.send(
            response(msg, "Success", None, ("EventList", "start"), ("Message", "DialPlan list"))
        )
        aid = (("ActionID", msg.action_id),) if msg.action_id else ()
        conn.send(
            (
                ("Event", "ListDialplan"),
                *aid,
                ("Context", context),
                ("Extension", "s"),
                ("Priority", "1"),
                ("Application", "AGI"),
                ("AppData", self.config.dialplan[context]),
            )
        )
        conn.send(
            (
                ("Event", "ShowDialPlanComplete"),
                *aid,
                ("EventList", "Complete"),
                ("ListItems", "1"),
                ("ListExtensions", "1"),
                ("ListPriorities", "1"),
                ("ListContexts", "1"),
            )
        )

    def _core_status(self, conn: AmiConnection, msg: AmiMessage) -> None:
        started = time.localtime(self._ami.started_at)
        conn.send(
            response(
                msg,
                "Success",
                None,
                ("CoreStartupDate", time.strftime("%Y-%m-%d", started)),
                ("CoreStartupTime", time.strftime("%H:%M:%S", started)),
                ("CoreReloadDate", time.strftime("%Y-%m-%d", started)),
                ("CoreReloadTime", time.strftime("%H:%M:%S", started)),
                ("CoreCurrentCalls", str(len(self._calls))),
                ("CoreProcessedCalls", str(len(self.calls_finished) + len(self._calls))),
            )
        )
