"""FreeSwitchDriver: the pbx.driver.PbxDriver protocol over inbound ESL.

Originate is ``bgapi originate {origination_uuid=<call id>,...}<dial string> <target>`` with
``Job-UUID = call id``, so the channel, the background job and our attempt share one id. Channel
events become call-model events in :class:`~pbx.freeswitch.tracker.CallTracker`. After a
reconnect the driver ends every call whose channel vanished while the link was down
(``show channels as json``, whose answer is applied in order with the event stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from pbx.driver_events import DriverEvent, EventOutbox, stop_task
from pbx.freeswitch.callcenter import (
    CALLCENTER_SUBCLASS,
    AgentTracker,
    parse_agent_rows,
    qualified_queue,
)
from pbx.freeswitch.client import (
    ApiResult,
    EslClient,
    EslCommandError,
    EslError,
    EslLinkLost,
    LinkDown,
    LinkUp,
    parse_show_channels,
)
from pbx.freeswitch.esl import EslEvent
from pbx.freeswitch.tracker import CallTracker
from pbx.model import (
    DROPPED_REALM,
    AgentConnected,
    AgentEvent,
    AgentState,
    Answered,
    CallEvent,
    CallRequest,
    Hangup,
    OriginateFailed,
    PbxActionRefused,
)

log = logging.getLogger(__name__)

_RECONCILE_TAG = "pacedial-reconcile"
_AGENTS_TAG = "pacedial-agents"


def mask_number(number: str) -> str:
    """A phone number with all but its last 4 digits masked, for logs."""
    return "*" * max(0, len(number) - 4) + number[-4:]


def _var(value: str) -> str:
    # Commas split the {...} block and braces/quotes end it: refuse rather than mis-dial.
    if any(c in value for c in ",{}'\"\n\r") or " " in value:
        raise ValueError(f"originate variable value not allowed in a {{...}} block: {value!r}")
    return value


class FreeSwitchDriver:
    """Drive FreeSWITCH through one inbound ESL connection (see docs/freeswitch.md)."""

    def __init__(
        self,
        client: EslClient | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 8021,
        password: str = "ClueCon",
        dial_template: str = "sofia/gateway/carrier/{number}",
        target: str = "dialer-answered XML dialer",
        queues: tuple[str, ...] = (),
        number_format: Callable[[str], str] = lambda e164: e164.lstrip("+"),
        wall_clock: Callable[[], float] = time.time,
        wrapup_tick: float = 0.25,
    ) -> None:
        self.client = client or EslClient(host, port, password)
        self.wrapup_tick = wrapup_tick  # real seconds between checks for ended wrap-ups
        self.dial_template = dial_template
        self.target = target
        self.queues = queues
        self.number_format = number_format
        self.tracker = CallTracker()
        self.agent_tracker = AgentTracker(queues)
        self.wall_clock = wall_clock  # epoch seconds, as mod_callcenter's times are
        self._out = EventOutbox()
        self._pump: asyncio.Task[None] | None = None
        self._wrapups: asyncio.Task[None] | None = None
        self._snapshots: dict[str, frozenset[str]] = {}  # echo tag -> calls to reconcile
        self._snapshot_seq = 0
        self._agent_lists: dict[str, str] = {}  # echo tag -> queue whose agent list it is
        self._tasks: set[asyncio.Task[None]] = set()
        self._sending: set[asyncio.Future[str]] = set()  # originates awaiting their +OK
        self._link_of: dict[str, int] = {}  # call id -> client.connects when originated
        self._backoff = 0.0
        self._backoff_until = 0.0  # the event loop's clock: no originate before

    @property
    def ready(self) -> bool:
        """Whether originates may be sent: the ESL link is up (FreeSWITCH opens its port only
        once every module is loaded, ``startup_reconnect.txt``) and no originate was refused
        lately (a shutdown refuses them with no channel, ``shutdown_*.txt``: back-off from
        0.5 s doubling to 30 s, reset by the next call that gets a channel)."""
        return self.client.connected and asyncio.get_running_loop().time() >= self._backoff_until

    async def connect(self) -> None:
        """Log in to ESL and start mapping its events."""
        await self.client.connect()
        if self._pump is None:
            self._pump = asyncio.create_task(self._run_pump(), name="freeswitch-driver-pump")
        if self._wrapups is None:
            self._wrapups = asyncio.create_task(self._end_wrapups(), name="freeswitch-wrapups")

    def originate_command(self, request: CallRequest) -> str:
        """The ``originate`` argument string for a request (without ``bgapi``)."""
        variables = {
            "origination_uuid": request.call_id,
            "origination_caller_id_number": request.caller_id,
            "originate_timeout": str(max(1, round(request.ring_timeout))),
            "ignore_early_media": "true",
            "pacedial_call_id": request.call_id,
        }
        if request.campaign:
            variables["pacedial_campaign"] = request.campaign
        for key, value in request.variables.items():
            if not key.replace("_", "").isalnum():
                raise ValueError(f"originate variable name not allowed: {key!r}")
            variables.setdefault(key, value)
        block = ",".join(f"{k}={_var(v)}" for k, v in variables.items())
        dial = self.dial_template.format(number=self.number_format(request.destination))
        return f"originate {{{block}}}{dial} {self.target}"

    async def originate(self, request: CallRequest) -> None:
        """Send the originate once as bgapi; the outcome arrives as events (never re-sent).

        Returns once the command is on its way, not when FreeSWITCH's ``+OK`` comes back: a
        launch batch goes out back to back (replies are matched in order by the client); a
        refusal or a link lost before sending comes later as ``OriginateFailed``."""
        call_id = request.call_id
        command = self.originate_command(request)
        self.tracker.track(call_id)
        self._link_of[call_id] = self.client.connects
        log.info("call %s: originate to %s", call_id, mask_number(request.destination))
        sending = asyncio.ensure_future(self.client.bgapi(command, job_uuid=call_id))
        self._sending.add(sending)
        sending.add_done_callback(lambda done: self._originate_answered(call_id, done))

    def _originate_answered(self, call_id: str, done: asyncio.Future[str]) -> None:
        self._sending.discard(done)
        exc = None if done.cancelled() else done.exception()
        if isinstance(exc, EslCommandError):
            self._forget(call_id)
            self._emit([OriginateFailed(call_id, exc.reply)])
        elif isinstance(exc, EslLinkLost) and not exc.sent:
            self._forget(call_id)
            self._out.put(OriginateFailed(call_id, f"ESL link down, not sent: {exc}"))
        elif exc is not None and not isinstance(exc, EslLinkLost):
            log.warning("call %s: originate: %r", call_id, exc)
        # A sent originate whose link dropped may exist: the reconnect's reconciliation settles it.

    async def hangup(self, call_id: str) -> None:
        """Hang up a call we placed (``bgapi uuid_kill``; a vanished channel is not an error)."""
        try:
            await self.client.bgapi(f"uuid_kill {call_id} NORMAL_CLEARING", job_uuid="")
        except EslCommandError as exc:
            log.info("call %s: uuid_kill refused: %s", call_id, exc.reply)

    def events(self) -> AsyncIterator[DriverEvent]:
        """Call and agent events in PBX order; ends after close()."""
        return self._out.stream()

    async def live_calls(self) -> set[str]:
        """Uuids of all channels FreeSWITCH has (our call ids are channel uuids).

        The caller intersects this with its own in-flight attempts; after a process restart
        the tracker is empty, so the raw uuids are the only truth.
        """
        return {row["uuid"] for row in await self.client.show_channels() if row.get("uuid")}

    async def dropped_while_down(self, call_id: str) -> float | None:
        """When the shipped dialplan's fallback (our outbound socket unreachable: the drop
        message played) recorded ``call_id`` with mod_db (``db
        insert/pacedial_dropped/<id>/${strepoch()}``): that epoch, and the entry is deleted;
        None when there is none."""
        key = f"{DROPPED_REALM}/{call_id}"
        if (await self.client.api(f"db exists/{key}")).strip() != "true":
            return None
        value = (await self.client.api(f"db select/{key}")).strip()
        await self.client.api(f"db delete/{key}")
        try:
            return float(value)
        except ValueError:
            return 0.0

    async def amd_missing(self) -> str:
        """'' when mod_amd (the third-party module giving ``amd_result``) is loaded, else why:
        FreeSWITCH 1.10 ships no AMD, and its ``execute amd`` hangs the call up
        (DESTINATION_OUT_OF_ORDER, ``outbound_execute_missing_app.txt``)."""
        if (await self.client.api("module_exists mod_amd")).strip() == "true":
            return ""
        return (
            "FreeSWITCH has no mod_amd (1.10 ships no answering-machine detector; its execute "
            "amd would hang up every answered call): build and load the third-party mod_amd"
        )

    async def agents(self) -> list[AgentState]:
        """mod_callcenter agents of the configured queues (``callcenter_config`` api).

        Wrap-up (``ready_time`` or ``last_bridge_end + wrap_up_time`` still ahead) is judged
        against the wall clock; the list also teaches the agent tracker queue membership.
        """
        out: list[AgentState] = []
        for queue in self.queues:
            body = await self.client.api(
                f"callcenter_config queue list agents {qualified_queue(queue)}"
            )
            rows = parse_agent_rows(body, queue, where=self.client.peer)
            out.extend(self.agent_tracker.learn(rows, self.wall_clock()))
        return out

    async def set_agent_paused(self, agent: str, paused: bool, reason: str) -> None:
        """mod_callcenter status: ``On Break`` while paused, else ``Available``."""
        status = "'On Break'" if paused else "Available"
        command = f"callcenter_config agent set status {agent} {status}"
        try:
            reply = await self.client.api(command)
        except EslError as exc:
            raise PbxActionRefused(f"{self.client.peer}: {command}: {exc}") from exc
        if not reply.startswith("+OK"):
            raise PbxActionRefused(f"{self.client.peer}: {command}: {reply.strip()}")

    async def spy(self, spy_id: str, phone: str, agent: str, call_id: str, mode: str) -> None:
        """Originate ``phone`` into ``eavesdrop`` on our call's channel; whisper talks to the
        agent's leg only, barge to both."""
        variables = f"origination_uuid={spy_id},origination_caller_id_name=listen"
        if mode == "whisper":
            variables += ",eavesdrop_whisper_bleg=true"
        elif mode == "barge":
            variables += ",eavesdrop_whisper_aleg=true,eavesdrop_whisper_bleg=true"
        command = f"originate {{{variables}}}{phone} &eavesdrop({call_id})"
        try:
            await self.client.bgapi(command, job_uuid=spy_id)
        except EslError as exc:
            raise PbxActionRefused(f"{self.client.peer}: eavesdrop originate: {exc}") from exc

    async def close(self) -> None:
        """Say exit, stop the event pump and end events()."""
        await self.client.close()
        await stop_task(self._pump)
        await stop_task(self._wrapups)
        self._pump = self._wrapups = None
        for task in self._tasks:
            task.cancel()
        self._out.end()

    # --- internals -----------------------------------------------------------------------

    def _forget(self, call_id: str) -> None:
        self.tracker.forget(call_id)
        self._link_of.pop(call_id, None)

    def _emit(self, items: list[CallEvent] | list[AgentEvent | AgentConnected]) -> None:
        for item in items:
            if isinstance(item, Hangup | OriginateFailed):
                self._link_of.pop(item.call_id, None)
            if isinstance(item, OriginateFailed):
                self._refused(item.reason)
            elif isinstance(item, Answered) or (
                isinstance(item, Hangup) and item.cause_text != "SYSTEM_SHUTDOWN"
            ):
                # A channel existed: FreeSWITCH takes calls. Not a live call the shutdown ends
                # (shutdown_sigterm.txt: it comes between the refusals).
                self._backoff = 0.0
            self._out.put(item)

    def _refused(self, reason: str) -> None:
        self._backoff = min(30.0, max(0.5, self._backoff * 2))
        self._backoff_until = asyncio.get_running_loop().time() + self._backoff
        log.warning(
            "FreeSWITCH %s: %s: holding new calls for %.1fs",
            self.client.peer,
            reason,
            self._backoff,
        )

    async def _run_pump(self) -> None:
        async for item in self.client.events():
            if isinstance(item, EslEvent):
                if item.get("Event-Subclass") == CALLCENTER_SUBCLASS:
                    self._emit(
                        self.agent_tracker.on_event(item, self.wall_clock(), self.tracker.tracks)
                    )
                    self._relist_if_due()
                else:
                    self._emit(self.tracker.on_event(item))
            elif isinstance(item, LinkUp) and item.reconnected:
                self._snapshot_seq += 1
                tag = f"{_RECONCILE_TAG}-{self._snapshot_seq}"
                # Only calls sent on an earlier link: a newer one may not have its channel yet.
                now = self.client.connects
                self._snapshots[tag] = frozenset(
                    c for c in self.tracker.in_flight() if self._link_of.get(c, 0) < now
                )
                self._tasks.add(asyncio.create_task(self._request_snapshot(tag)))
                self._tasks = {t for t in self._tasks if not t.done()}
            elif isinstance(item, ApiResult) and item.tag in self._snapshots:
                self._reconcile(item.body, self._snapshots.pop(item.tag))
            elif isinstance(item, ApiResult) and item.tag in self._agent_lists:
                self._relisted(item.body, self._agent_lists.pop(item.tag))
            elif isinstance(item, LinkDown):
                log.warning("FreeSWITCH %s: link down (%s)", self.client.peer, item.reason)

    async def _request_snapshot(self, tag: str) -> None:
        # The answer is echoed into the event stream right after the events FreeSWITCH sent
        # before it, so a hang-up already on its way is applied first, never doubled.
        try:
            await self.client.api("show channels as json", echo=tag)
        except EslError as exc:
            self._snapshots.pop(tag, None)
            log.warning("FreeSWITCH %s: reconciliation failed: %s", self.client.peer, exc)
            return
        with contextlib.suppress(EslError):
            for agent in await self.agents():
                self._out.put(AgentEvent(agent))

    async def _end_wrapups(self) -> None:
        # mod_callcenter sends no event when a timed wrap-up ends: the tracker's timers do.
        while True:
            await asyncio.sleep(self.wrapup_tick)
            self._emit(self.agent_tracker.due(self.wall_clock()))
            self._relist_if_due()  # an unlisted agent seen while the last read was recent

    def _relist_if_due(self) -> None:
        """Read the agent lists again when an event named an agent they did not show (added
        after the last read); rate-limited by the tracker."""
        if self.client.connected and self.agent_tracker.relist(self.wall_clock()):
            self._tasks.add(asyncio.create_task(self._request_agent_lists()))
            self._tasks = {t for t in self._tasks if not t.done()}

    async def _request_agent_lists(self) -> None:
        # Echoed into the event stream at its place: events sent after the list apply after it.
        for queue in self.queues:
            self._snapshot_seq += 1
            tag = f"{_AGENTS_TAG}-{self._snapshot_seq}"
            self._agent_lists[tag] = queue
            try:
                await self.client.api(
                    f"callcenter_config queue list agents {qualified_queue(queue)}", echo=tag
                )
            except EslError as exc:
                self._agent_lists.pop(tag, None)
                log.warning("FreeSWITCH %s: agent list not read: %s", self.client.peer, exc)
                return

    def _relisted(self, body: str, queue: str) -> None:
        try:
            rows = parse_agent_rows(body, queue, where=self.client.peer)
        except EslError as exc:
            log.warning("%s", exc)
            return
        states = self.agent_tracker.learn(rows, self.wall_clock(), queue)
        self._emit([AgentEvent(state) for state in states])

    def _reconcile(self, body: str, candidates: frozenset[str]) -> None:
        try:
            rows = parse_show_channels(body, self.client.peer)
        except EslError as exc:
            log.warning("%s", exc)
            return
        live = {row["uuid"] for row in rows if row.get("uuid")}
        ended = self.tracker.reconcile(live, candidates)
        for item in ended:
            log.info("call %s: channel gone after reconnect, ended as lost", item.call_id)
        self._emit(ended)
