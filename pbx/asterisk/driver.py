"""Asterisk driver: the PbxDriver protocol over AMI.

``AsteriskDriver`` sends Originate/Hangup/QueueStatus/CoreShowChannels through an
``AmiClient`` and turns AMI events into ``pbx.model`` events with an ``AmiCallTracker``
(``pbx.asterisk.tracker``). It reads the queues' ``wrapuptime`` with ``GetConfig queues.conf``
at login, after every reconnect and after every reload, and reports a member idle again only
when its wrap-up is over (``pbx.asterisk.wrapup``): app_queue sends nothing when it ends.

Readiness (``restart_reconnect.txt``, ``originate_during_shutdown.txt``): a Login succeeds
before Asterisk is fully booted, and an Originate then fails with "Extension does not exist.";
during a graceful shutdown every action fails with "Asterisk is shutting down", with no event.
So the driver is ``ready`` only after this link's ``FullyBooted`` (per login, or broadcast
later) and a successful queue read (retried with back-off), and any refused Originate puts it
in back-off (0.5 s doubling to 30 s) until an Originate is accepted again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

from pbx.asterisk.ami import AmiMessage
from pbx.asterisk.client import AmiClient, AmiError, AmiLinkLost
from pbx.asterisk.tracker import UNREAD_EVENTS, AmiCallTracker
from pbx.asterisk.wrapup import MemberAvailability, parse_queue_wrapuptimes
from pbx.driver_events import DriverEvent, EventOutbox, stop_task
from pbx.model import (
    DROPPED_REALM,
    AgentEvent,
    AgentState,
    CallRequest,
    OriginateFailed,
    PbxActionRefused,
)

log = logging.getLogger(__name__)

__all__ = ["SHUTTING_DOWN", "AsteriskDriver"]

SHUTTING_DOWN = "Asterisk is shutting down"  # every action's answer during a graceful stop


class AsteriskDriver:
    """The PbxDriver protocol over one AMI connection (see docs/asterisk.md)."""

    def __init__(
        self,
        client: AmiClient | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 5038,
        username: str = "",
        secret: str = "",
        dial_template: str = "Local/{number}@sim-callee",
        answered_context: str = "pacedial-answered",
        exten: str = "s",
        priority: int = 1,
        clock: Callable[[], float] = time.time,
        call_id_variable: str = "PACEDIAL_CALL_ID",
        max_penalty: int | None = None,
        wrapup_tick: float = 0.25,
    ) -> None:
        self.client = client or AmiClient(host, port, username, secret)
        # Nothing here reads them: the parser drops them before building a message.
        self.client.skip_events = self.client.skip_events | UNREAD_EVENTS
        self.dial_template = dial_template
        self.answered_context = answered_context
        self.exten = exten
        self.priority = priority
        self.call_id_variable = call_id_variable
        self.tracker = AmiCallTracker(
            clock,
            call_id_variable=call_id_variable,
            availability=MemberAvailability(max_penalty),
        )
        self.wrapup_tick = wrapup_tick  # real seconds between checks for ended wrap-ups
        self._out = EventOutbox()
        self._pump: asyncio.Task[None] | None = None
        self._wrapups: asyncio.Task[None] | None = None
        self._config_reads: set[asyncio.Task[None]] = set()
        self.config_refused = False  # GetConfig queues.conf was refused (not a shutdown)
        self._booted = False  # this link's FullyBooted was seen
        self._synced = False  # queue configuration and members read since that FullyBooted
        self._boot_sync: asyncio.Task[None] | None = None
        self._backoff = 0.0
        self._backoff_until = 0.0  # the event loop's clock: no originate before
        self.client.on_reconnect.append(self._resync)
        self.client.on_login.append(self._link_starting)

    @property
    def ready(self) -> bool:
        """Whether Originates may be sent: logged in, the PBX fully booted, its queues read,
        and not backing off after a refusal."""
        return (
            self.client.link_state == "connected"
            and self._booted
            and self._synced
            and asyncio.get_running_loop().time() >= self._backoff_until
        )

    def _link_starting(self) -> None:
        self._booted = self._synced = False

    def _refused(self, reason: str) -> None:
        self._backoff = min(30.0, max(0.5, self._backoff * 2))
        self._backoff_until = asyncio.get_running_loop().time() + self._backoff
        log.warning(
            "AMI %s: Originate refused (%s): holding new calls for %.1fs",
            self.client.peer,
            reason,
            self._backoff,
        )

    async def connect(self) -> None:
        """Log in to AMI and start mapping its events."""
        await self.client.connect()
        if self._pump is None:
            self._pump = asyncio.create_task(self._run_pump(), name="asterisk-driver-pump")
            self._wrapups = asyncio.create_task(self._end_wrapups(), name="asterisk-wrapups")

    async def read_queue_config(self) -> bool:
        """Learn every queue's ``wrapuptime`` from ``GetConfig queues.conf``; False on failure.

        Needs the AMI ``system`` or ``config`` write permission. On failure the previous
        values stay; a refusal other than a shutdown (no permission, no such file, a bad value)
        sets ``config_refused`` and is logged as an error naming the cause: availability then
        ignores wrap-up, which over-dials a queue that has one.
        """
        try:
            reply = await self.client.send_action(
                [("Action", "GetConfig"), ("Filename", "queues.conf")]
            )
        except AmiError as exc:
            log.warning("AMI %s: GetConfig queues.conf failed: %s", self.client.peer, exc)
            return False
        message = reply.get("Message") or ""
        if reply.response != "Success":
            if message != SHUTTING_DOWN:
                self.config_refused = True
                log.error(
                    "AMI %s: GetConfig queues.conf refused (%s): queue wrap-up times unknown, "
                    "agents in wrap-up will look free; give the AMI user write = system "
                    "(docs/asterisk.md)",
                    self.client.peer,
                    message,
                )
            return False
        try:
            times = parse_queue_wrapuptimes(reply)
        except ValueError as exc:
            self.config_refused = True
            log.error("AMI %s: %s", self.client.peer, exc)
            return False
        self.config_refused = False
        self.tracker.availability.set_wrapuptimes(times)
        log.info("AMI %s: queue wrap-up times %s", self.client.peer, times)
        return True

    def originate_headers(self, req: CallRequest) -> list[tuple[str, str]]:
        """The Originate action for a request (ActionID = ChannelId = call id)."""
        number = req.destination.lstrip("+")
        headers = [
            ("Action", "Originate"),
            ("ActionID", req.call_id),
            ("Channel", self.dial_template.format(number=number)),
            ("Context", self.answered_context),
            ("Exten", self.exten),
            ("Priority", str(self.priority)),
            ("Timeout", str(int(req.ring_timeout * 1000))),
            ("CallerID", req.caller_id),
            ("Async", "true"),
            ("ChannelId", req.call_id),
            ("OtherChannelId", f"{req.call_id}-2"),
            ("Variable", f"{self.call_id_variable}={req.call_id}"),
        ]
        headers += [("Variable", f"{k}={v}") for k, v in req.variables.items()]
        return headers

    async def originate(self, request: CallRequest) -> None:
        """Send the Originate once, without waiting for its Response (pipelined).

        The outcome arrives as events: a refusal (``Response: Error``) as ``OriginateFailed``
        when its Response comes in; an Originate never written (link down) at once. One sent
        before a link loss is never re-sent: the re-sync after the reconnect settles it.
        """
        headers = self.originate_headers(request)
        call_id = request.call_id
        self.tracker.expect(
            call_id,
            action_id=call_id,
            dial=headers[2][1],
            channel_ids=(call_id, f"{call_id}-2"),
        )
        try:
            reply = self.client.send_action_nowait(headers)
        except AmiLinkLost as exc:
            self.tracker.forget(call_id)
            self._out.put(OriginateFailed(call_id, f"AMI link down, not sent: {exc}"))
            return
        reply.add_done_callback(lambda done: self._originate_answered(call_id, done))

    def _originate_answered(self, call_id: str, done: asyncio.Future[AmiMessage]) -> None:
        if done.cancelled() or done.exception() is not None:
            return  # sent, then the link dropped: the call may exist; the re-sync decides
        reply = done.result()
        if reply.response != "Success":
            self.tracker.forget(call_id)
            reason = reply.get("Message") or f"Response: {reply.response}"
            log.warning("call %s: Originate refused by %s: %s", call_id, self.client.peer, reason)
            self._refused(reason)
            self._out.put(OriginateFailed(call_id, reason))
        else:
            self._backoff = 0.0

    async def hangup(self, call_id: str) -> None:
        """Hang up a call we placed (by channel name, else by its Uniqueid = call id)."""
        channel = self.tracker.channel_of(call_id) or call_id
        reply = await self.client.send_action(
            [("Action", "Hangup"), ("Channel", channel), ("Cause", "16")]
        )
        if reply.response != "Success":
            log.info("call %s: Hangup answered %s", call_id, reply.get("Message"))

    def events(self) -> AsyncIterator[DriverEvent]:
        """Call and agent events in PBX order; ends after close()."""
        return self._out.stream()

    async def live_calls(self) -> set[str]:
        """Call ids (or raw Uniqueid/Linkedid of unknown channels) of channels that exist.

        Our Uniqueid is the call id, so after a process restart the raw ids still name our
        calls; the caller intersects this set with its own in-flight attempts.
        """
        out: set[str] = set()
        for uid, linked, _state in await self._channels():
            out.add(self.tracker.call_id_for(uid) or uid)
            if linked:
                out.add(self.tracker.call_id_for(linked) or linked)
        return out

    async def dropped_while_down(self, call_id: str) -> float | None:
        """When the shipped dialplan's fallback (our FastAGI unreachable: the drop message
        played) recorded ``call_id`` in AstDB (``DB(pacedial_dropped/<id>)=${EPOCH}``): that
        epoch, and the entry is deleted; None when there is none."""
        key = [("Family", DROPPED_REALM), ("Key", call_id)]
        try:
            found = await self.client.send_action_list(
                [("Action", "DBGet"), *key], complete="DBGetComplete"
            )
        except AmiError:  # "Database entry not found"
            return None
        value = next((e.get("Val") for e in found if e.event == "DBGetResponse"), None)
        await self.client.send_action([("Action", "DBDel"), *key])
        return _epoch(value)

    async def amd_missing(self) -> str:
        """'' when app_amd (the ``AMD`` application) is loaded (``ModuleCheck``), else why."""
        reply = await self.client.send_action([("Action", "ModuleCheck"), ("Module", "app_amd")])
        if reply.response == "Success":
            return ""
        return (
            f"Asterisk {self.client.peer} has no app_amd loaded ({reply.get('Message') or ''}): "
            "asterisk -rx 'module load app_amd.so' (and keep it in modules.conf)"
        )

    async def agents(self) -> list[AgentState]:
        """Queue member states from QueueStatus."""
        members = await self.client.send_action_list(
            [("Action", "QueueStatus")], complete="QueueStatusComplete"
        )
        return [self.tracker.member_state(m) for m in members if m.event == "QueueMember"]

    async def set_agent_paused(self, agent: str, paused: bool, reason: str) -> None:
        """``QueuePause`` in every queue (needs the AMI ``agent`` write permission)."""
        headers = [("Action", "QueuePause"), ("Interface", agent)]
        headers += [("Paused", "true" if paused else "false")]
        if paused and reason:
            headers.append(("Reason", reason))
        await self._action(headers, f"QueuePause {agent}")

    async def spy(self, spy_id: str, phone: str, agent: str, call_id: str, mode: str) -> None:
        """Originate ``phone`` into ``ChanSpy`` on the agent's channel (q: quiet; E: end with
        the spied call; w: whisper; B: barge)."""
        flags = "qE" + {"listen": "", "whisper": "w", "barge": "B"}[mode]
        target = agent.removesuffix("/n")  # ChanSpy matches a channel-name prefix
        await self._action(
            [
                ("Action", "Originate"),
                ("ActionID", spy_id),
                ("Channel", phone),
                ("Application", "ChanSpy"),
                ("Data", f"{target},{flags}"),
                ("CallerID", f'"Listen {mode}" <{spy_id[:8]}>'),
                ("Async", "true"),
                ("ChannelId", spy_id),
                ("OtherChannelId", f"{spy_id}-2"),
            ],
            "ChanSpy Originate",
        )

    async def _action(self, headers: list[tuple[str, str]], what: str) -> None:
        try:
            reply = await self.client.send_action(headers)
        except AmiError as exc:
            raise PbxActionRefused(f"{self.client.peer}: {what}: {exc}") from exc
        if reply.response != "Success":
            raise PbxActionRefused(f"{self.client.peer}: {what}: {reply.get('Message')}")

    async def close(self) -> None:
        """Log off, stop the event pump and end events()."""
        await self.client.close()
        await stop_task(self._pump)
        await stop_task(self._wrapups)
        await stop_task(self._boot_sync)
        for task in list(self._config_reads):
            await stop_task(task)
        self._pump = self._wrapups = None
        self._out.end()

    async def _channels(self) -> list[tuple[str, str, str]]:
        items = await self.client.send_action_list(
            [("Action", "CoreShowChannels")], complete="CoreShowChannelsComplete"
        )
        return [
            (m.get("Uniqueid") or "", m.get("Linkedid") or "", m.get("ChannelStateDesc") or "")
            for m in items
            if m.event == "CoreShowChannel"
        ]

    async def _run_pump(self) -> None:
        async for msg in self.client.events():
            if msg.event == "FullyBooted" and not self._booted:
                self._booted = True
                self._boot_sync = asyncio.create_task(self._sync_after_boot())
            elif msg.event == "Reload":
                self._reread_config()
            self._out.put_all(self.tracker.handle(msg))

    async def _sync_after_boot(self) -> None:
        """Read the queues' wrap-up times and members, retrying until both succeed."""
        delay = 0.5
        while self._booted and not self._synced:
            try:
                configured = await self.read_queue_config()
                for agent in await self.agents():
                    self._out.put(AgentEvent(agent))
                if configured or self.config_refused:
                    self._synced = True
                    return
            except AmiError as exc:
                log.warning("AMI %s: queue read failed (%s), retrying", self.client.peer, exc)
            await asyncio.sleep(delay)
            delay = min(10.0, delay * 2)

    def _reread_config(self) -> None:
        task = asyncio.create_task(self.read_queue_config(), name="asterisk-queue-config")
        self._config_reads.add(task)
        task.add_done_callback(self._config_reads.discard)

    async def _end_wrapups(self) -> None:
        while True:
            await asyncio.sleep(self.wrapup_tick)
            self._out.put_all(self.tracker.wrapups_ended())

    async def _resync(self) -> None:
        """After a reconnect: end calls whose channels vanished (queues and agents are re-read
        once the PBX says it is fully booted)."""
        before = self.tracker.call_ids()
        try:
            live = {uid: state for uid, _linked, state in await self._channels()}
            self._out.put_all(self.tracker.reconcile(live, before))
        except AmiError as exc:
            log.warning("AMI re-sync with %s failed: %s", self.client.peer, exc)


def _epoch(value: str | None) -> float:
    """An epoch the dialplan wrote; 0.0 when it is not a number (the caller uses its clock)."""
    try:
        return float(value or "")
    except ValueError:
        return 0.0
