"""The dialplan's ``socket host:port async full``: the sim connects to the dialer's server.

As FreeSWITCH 1.10 does (tests/fixtures/freeswitch/outbound): ``connect`` gets the channel data
as URL-encoded headers, ``myevents [json]`` / ``linger`` are acknowledged, each ``sendmsg``
``call-command: execute`` is answered ``+OK`` at once and its application runs in order,
reported by CHANNEL_EXECUTE / CHANNEL_EXECUTE_COMPLETE (``Application-Response``). When the
``-a`` leg goes down: CHANNEL_HANGUP, the running application's EXECUTE_COMPLETE (``PLAYBACK
ERROR`` for a playback), CHANNEL_UNPARK, the ``socket`` application's EXECUTE_COMPLETE,
CHANNEL_STATE twice, CHANNEL_HANGUP_COMPLETE; the linger notice follows CHANNEL_HANGUP when the
callee hung up and CHANNEL_HANGUP_COMPLETE when our side did. Without linger the disconnect
notice follows CHANNEL_HANGUP and the socket closes.

Supported applications: answer, playback, play_and_get_digits, set, callcenter (the sim's agent
queue), sleep, hangup, record_session (writes a short WAV) and amd (mod_amd's ``amd_result``). Every
sound file lasts ``prompt_seconds`` (simulated); any other application hangs the call up with
DESTINATION_OUT_OF_ORDER, as FreeSWITCH does for an invalid application.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid as uuidlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from pbx.freeswitch.esl import EslCommandParser, EslMessage, EslProtocolError, command_line
from pbx.sim.admin import AdminConfig, module_loaded, sound_found
from pbx.sim.calls import wait_for
from pbx.sim.esl_calls import EslCall
from pbx.sim.esl_channels import EventFactory
from pbx.sim.esl_wire import (
    FsEvent,
    encode_api_response,
    encode_connect_reply,
    encode_disconnect_notice,
    encode_linger_notice,
    encode_reply,
)
from pbx.sim.queue import QueueResult, SimQueue
from pbx.sim.recording import write_recording

__all__ = ["OutboundLeg", "parse_socket_action"]

DEFAULT_RECORDINGS_DIR = "/usr/local/freeswitch/recordings"  # a source build's, as captured

log = logging.getLogger(__name__)


def parse_socket_action(action: str) -> tuple[str, int]:
    """``socket 127.0.0.1:8084 async full`` → (host, port); ValueError names the action."""
    words = action.split()
    if len(words) < 2 or words[0] != "socket" or ":" not in words[1]:
        raise ValueError(f"dialplan action {action!r}: expected 'socket host:port async full'")
    host, _, port = words[1].rpartition(":")
    if not port.isdigit():
        raise ValueError(f"dialplan action {action!r}: port {port!r} is not a number")
    return host, int(port)


@dataclass
class _Running:
    app: str
    data: str
    app_uuid: str
    started: float = 0.0  # the switch's clock (simulated seconds)
    done: bool = False


class OutboundLeg:
    """One outbound-socket session for one answered call (FreeSWITCH connects to us)."""

    def __init__(
        self,
        call: EslCall,
        action: str,
        *,
        factory: EventFactory,
        publish: Callable[[FsEvent], None],
        scaled: Callable[[float], float],
        queue: SimQueue,
        prompt_seconds: float,
        amd_seconds: float = 2.5,
        recordings_dir: str = "",
        admin: AdminConfig | None = None,
    ) -> None:
        self.admin = admin or AdminConfig()
        self.call = call
        self.action = action
        self.recordings_dir = recordings_dir
        self.host, self.port = parse_socket_action(action)
        self._f = factory
        self._publish = publish
        self._scaled = scaled
        self.queue = queue
        self.prompt_seconds = prompt_seconds
        self.amd_seconds = amd_seconds
        self.recordings: list[str] = []  # record_session paths (nothing is recorded)
        self.events_format: str | None = None  # after myevents
        self.linger = False
        self.commands: list[str] = []  # command lines received, for tests
        self._writer: asyncio.StreamWriter | None = None
        self._apps: deque[tuple[str, str]] = deque()
        self._app_ready = asyncio.Event()
        self._current: _Running | None = None
        self._last_response = "_none_"
        self._stop = asyncio.Event()  # uuid_break or hangup: the running application ends
        self._queue_dead: asyncio.Event | None = None
        self._agent_answered: asyncio.Event | None = None  # set while callcenter waits
        self._queue_talk: asyncio.Task[QueueResult] | None = None
        self._socket_done = False
        self._closed = False

    # --- life cycle ------------------------------------------------------------------------

    async def run(self) -> bool:
        """Connect, serve commands until ``exit``, EOF or a hang-up without linger; False when
        the dialer's server could not be reached."""
        a = self.call.a
        a.application, a.application_data = "socket", self.action.partition(" ")[2]
        a.variables["current_application_data"] = a.application_data
        a.variables["current_application"] = "socket"
        a.variables["socket_host"] = self.host
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), 5.0
            )
        except (OSError, TimeoutError) as exc:
            log.warning("call %s: outbound socket %s unreachable: %s", a.uuid, self.action, exc)
            return False
        self._writer = writer
        self.call.on_a_hangup.append(self._on_a_hangup)
        runner = asyncio.create_task(self._run_apps(), name=f"sim-esl-apps-{a.uuid}")
        parser = EslCommandParser()
        try:
            while not self._closed:
                data = await reader.read(65536)
                if not data:
                    break
                parser.feed(data)
                while not self._closed and (msg := parser.next_message()) is not None:
                    self._command(msg)
        except (EslProtocolError, ConnectionError) as exc:
            log.info("call %s: outbound socket ended: %s", a.uuid, exc)
        finally:
            self._closed = True
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            writer.close()
        return True

    def deliver(self, event: FsEvent) -> None:
        """Hub callback: this channel's events (after ``myevents``), plus the notices."""
        if self._closed or event.unique_id != self.call.uuid:
            return
        if self.events_format is not None:
            self._write(event.encoded(self.events_format))
        a = self.call.a
        if event.name == "CHANNEL_HANGUP":
            if not self.linger:
                self._write(encode_disconnect_notice(a.uuid))
                self._close()
            elif self.call.callee_gone.is_set():
                self._write(encode_linger_notice(a.uuid, a.name))
        elif event.name == "CHANNEL_HANGUP_COMPLETE" and not self.call.callee_gone.is_set():
            self._write(encode_linger_notice(a.uuid, a.name))

    def bridged(self, agent_uuid: str, agent: str) -> None:
        """An agent of the queue picked up. As captured (outbound_callcenter_agent.txt):
        callcenter completes (``cc_agent_bridged=true``), mod_callcenter's ``uuid_bridge``
        takes the channel from the socket application (UNPARK, EXECUTE_COMPLETE ``socket``),
        then CHANNEL_BRIDGE; the conversation goes on outside the socket's applications."""
        running, answered = self._current, self._agent_answered
        if running is not None and running.app == "callcenter" and answered is not None:
            a = self.call.a
            a.variables.update(
                cc_cause="answered", cc_agent_bridged="true", cc_agent=agent,
                cc_agent_uuid=agent_uuid, cc_queue_answered_epoch=str(int(self._f.clock())),
            )  # fmt: skip
            answered.set()
            self._complete(running, "_none_")
            self._socket_complete()
        self._bridge_event("CHANNEL_BRIDGE", agent_uuid, agent)

    def unbridged(self, agent_uuid: str, agent: str) -> None:
        """The agent conversation ended: CHANNEL_UNBRIDGE."""
        self._bridge_event("CHANNEL_UNBRIDGE", agent_uuid, agent)

    # --- commands --------------------------------------------------------------------------

    def cut(self) -> None:
        """Abort the outbound socket as a dying FreeSWITCH does: no hangup event, no notice."""
        if self._writer is not None:
            self._writer.transport.abort()

    def _write(self, data: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    def _close(self) -> None:
        self._closed = True
        if self._writer is not None:
            self._writer.close()

    def _command(self, msg: EslMessage) -> None:
        line = command_line(msg).strip()
        self.commands.append(line)
        verb, _, rest = line.partition(" ")
        a = self.call.a
        if verb == "connect":
            self._write(encode_connect_reply(self._f.channel_data(a)))
        elif verb == "myevents":
            self.events_format = "json" if "json" in rest.split() else "plain"
            self._write(encode_reply("+OK Events Enabled"))
        elif verb == "event":
            self.events_format = "json" if rest.startswith("json") else "plain"
            self._write(encode_reply(f"+OK event listener enabled {self.events_format}"))
        elif verb == "linger":
            self.linger = True
            self._write(encode_reply("+OK will linger"))
        elif verb == "nolinger":
            self.linger = False
            self._write(encode_reply("+OK will not linger"))
        elif verb == "sendmsg":
            self._sendmsg(msg)
        elif verb == "api":
            self._write(encode_api_response(self._api(rest)))
        elif verb == "exit":
            self._write(encode_reply("+OK bye"))
            self._write(encode_disconnect_notice(a.uuid))
            self._close()
        elif verb in ("resume", "filter", "divert_events"):
            self._write(encode_reply("+OK"))
        else:
            self._write(encode_reply("-ERR command not found"))

    def _sendmsg(self, msg: EslMessage) -> None:
        fields = {k.lower(): v for k, v in msg.headers[1:]}
        if self.call.a.hung_up:
            self._write(encode_reply(f"-ERR invalid session id [{self.call.uuid}]"))
            return
        what = fields.get("call-command", "")
        if what == "execute":
            self._write(encode_reply("+OK"))
            self._apps.append(
                (fields.get("execute-app-name", ""), fields.get("execute-app-arg", ""))
            )
            self._app_ready.set()
        elif what == "hangup":
            self._write(encode_reply("+OK"))
            if self._agent_answered is None:  # callcenter's wait loop discards it
                self.call.request_hangup(fields.get("hangup-cause", "NORMAL_CLEARING"))
        else:
            self._write(encode_reply(f"-ERR unknown call-command {what!r}"))

    def _api(self, command: str) -> str:
        words = command.split()
        verb = words[0] if words else ""
        if verb == "uuid_break" and len(words) > 1 and words[1] == self.call.uuid:
            if self._agent_answered is not None:
                return "+OK\n"  # callcenter restarts its hold music: nothing else happens
            if len(words) > 2 and words[2] == "all":
                self._apps.clear()
            self._stop.set()
            return "+OK\n"
        if verb == "uuid_recv_dtmf" and len(words) > 2 and words[1] == self.call.uuid:
            self._received_dtmf(words[2])
            return f"+OK {self.call.uuid} received DTMF {words[2]}.\n"
        if verb == "uuid_getvar" and len(words) > 2 and words[1] == self.call.uuid:
            return self.call.a.variables.get(words[2], "_undef_")
        if verb == "uuid_kill" and len(words) > 1 and words[1] == self.call.uuid:
            self.call.request_hangup(words[2] if len(words) > 2 else "NORMAL_CLEARING")
            return "+OK\n"
        if words == ["global_getvar", "recordings_dir"]:
            return self.recordings_dir or DEFAULT_RECORDINGS_DIR
        if verb in ("uuid_break", "uuid_getvar", "uuid_kill", "uuid_recv_dtmf"):
            return "-ERR No such channel!\n"
        return f"-ERR {verb} Command not found!\n"

    # --- applications ----------------------------------------------------------------------

    async def _run_apps(self) -> None:
        while True:
            while not self._apps:
                self._app_ready.clear()
                await self._app_ready.wait()
            app, data = self._apps.popleft()
            if self.call.a_down.is_set():
                continue
            await self._execute(app, data)

    async def _execute(self, app: str, data: str) -> None:
        a = self.call.a
        handler = {
            "answer": self._answer,
            "playback": self._playback,
            "play_and_get_digits": self._play_and_get_digits,
            "set": self._set,
            "callcenter": self._callcenter,
            "sleep": self._sleep,
            "hangup": self._hangup,
            "record_session": self._record_session,
            "amd": self._amd,
        }.get(app)
        if app == "amd" and not module_loaded(self.admin, "mod_amd"):
            handler = None  # FreeSWITCH 1.10 ships no amd (outbound_execute_missing_app.txt)
        if handler is None:
            # switch_core_session_execute_application: "Invalid Application" hangs up.
            log.warning("call %s: invalid application %r", a.uuid, app)
            self.call.request_hangup("DESTINATION_OUT_OF_ORDER")
            return
        self._stop.clear()
        running = _Running(app, data, str(uuidlib.uuid4()), self._f.clock())
        self._current = running
        a.application, a.application_data = app, data
        a.variables["current_application"] = app
        if data:
            a.variables["current_application_data"] = data
        self._publish(self._f.channel_event("CHANNEL_EXECUTE", a, *self._app_fields(running)))
        response = await handler(data)
        self._complete(running, response)

    def _app_fields(self, running: _Running, response: str | None = None) -> list[tuple[str, str]]:
        out = [("Application", running.app)]
        if running.data:
            out.append(("Application-Data", running.data))
        if response is not None:
            out.append(("Application-Response", response))
        out.append(("Application-UUID", running.app_uuid))
        return out

    def _complete(self, running: _Running, response: str) -> None:
        if running.done:
            return
        running.done = True
        self._last_response = response
        a = self.call.a
        a.variables["current_application_response"] = response
        fields = self._app_fields(running, response)
        self._publish(self._f.channel_event("CHANNEL_EXECUTE_COMPLETE", a, *fields))

    def _on_a_hangup(self) -> None:
        """Called between CHANNEL_HANGUP and the CHANNEL_STATE events of the ``-a`` leg."""
        self._stop.set()
        if self._queue_dead is not None:
            self._queue_dead.set()
        running = self._current
        if running is not None and not running.done:
            if running.app == "playback":
                self._played(running.started)
            if running.app == "callcenter":  # a queued caller hung up: BREAK_OUT, as captured
                self.call.a.variables["cc_cause"] = "cancel"
                self.call.a.variables.setdefault("cc_cancel_reason", "BREAK_OUT")
            self._complete(running, "PLAYBACK ERROR" if running.app == "playback" else "_none_")
        self._socket_complete()

    def _socket_complete(self) -> None:
        """CHANNEL_UNPARK and the ``socket`` application's EXECUTE_COMPLETE (once)."""
        if self._socket_done:
            return
        self._socket_done = True
        a = self.call.a
        self._publish(self._f.channel_event("CHANNEL_UNPARK", a))
        socket = _Running("socket", self.action.partition(" ")[2], str(uuidlib.uuid4()))
        fields = self._app_fields(socket, self._last_response)
        self._publish(self._f.channel_event("CHANNEL_EXECUTE_COMPLETE", a, *fields))

    async def _pause(self, seconds: float) -> bool:
        """Wait ``seconds`` simulated; True if the application was stopped (break, hangup)."""
        return await wait_for(self._stop, self._scaled(seconds))

    async def _answer(self, data: str) -> str:
        return "_none_"

    async def _set(self, data: str) -> str:
        name, sep, value = data.partition("=")
        if sep and name.strip():
            self.call.a.variables[name.strip()] = value
        return "_none_"

    async def _record_session(self, data: str) -> str:
        """An absolute path is used as given (the sim writes it when it is in its recordings
        directory); a relative name lands under ``sound_prefix``, never in the recordings
        directory (``outbound_record_session_paths.txt``)."""
        self.recordings.append(data)
        folder = data.rpartition("/")[0]
        if data.startswith("/") and folder == (self.recordings_dir or "").rstrip("/"):
            write_recording(self.recordings_dir, data)
        return "_none_"

    async def _amd(self, data: str) -> str:
        """mod_amd: ``amd_result`` HUMAN or MACHINE (from the callee model) after listening."""
        if await self._pause(self.amd_seconds):
            return "_none_"
        status = self.call.plan.amd_status
        self.queue.timeline.note(self.call.sim_call, "amd", self._f.clock(), status)
        self.queue.timeline.verdict(self.call.sim_call, status)
        self.call.a.variables["amd_result"] = status
        self.call.a.variables["amd_cause"] = "HUMAN" if status == "HUMAN" else "LONGGREETING"
        return "_none_"

    async def _sleep(self, data: str) -> str:
        ms = float(data) if data.replace(".", "", 1).isdigit() else 0.0
        await self._pause(ms / 1000)
        return "_none_"

    async def _hangup(self, data: str) -> str:
        self.call.request_hangup(data.strip() or "NORMAL_CLEARING")
        await self._pause(30.0)
        return "_none_"

    async def _playback(self, data: str) -> str:
        if not sound_found(self.admin, data.strip().split("@@")[0]):
            return "FILE NOT FOUND"
        a = self.call.a
        a.variables.pop("playback_terminator_used", None)
        terminators = a.variables.get("playback_terminators", "")
        key = ""
        if terminators and terminators != "none":
            key = self.call.sim_call.next_dtmf(terminators)
        delay = self.call.plan.dtmf_delay
        pressed = bool(key) and delay < self.prompt_seconds
        started = self._f.clock()
        self.queue.timeline.note(self.call.sim_call, "play", started, data)
        stopped = await self._pause(delay if pressed else self.prompt_seconds)
        self._played(started)
        if stopped:
            return "PLAYBACK ERROR"
        if pressed:
            self._dtmf(key[0])
            a.variables["playback_terminator_used"] = key[0]
        return "FILE PLAYED"

    def _played(self, started: float) -> None:
        """The playback_* variables FreeSWITCH sets when a playback ends (simulated time)."""
        played = min(self._f.clock() - started, self.prompt_seconds)
        ms = int(played * 1000)
        v = self.call.a.variables
        v["playback_last_offset_pos"] = str(ms * 8)
        v["playback_seconds"] = str(ms // 1000)
        v["playback_ms"] = str(ms)
        v["playback_samples"] = str(ms * 8)

    async def _play_and_get_digits(self, data: str) -> str:
        # min max tries timeout_ms terminators file invalid_file var regexp [digit_timeout]
        words = data.split(" ")
        try:
            max_digits, tries, timeout = int(words[1]), int(words[2]), int(words[3]) / 1000
            var = words[7]
        except (IndexError, ValueError):
            log.warning("call %s: play_and_get_digits: bad arguments %r", self.call.uuid, data)
            return "_none_"
        key = self.call.sim_call.next_dtmf()
        delay = self.call.plan.dtmf_delay
        if key and delay <= self.prompt_seconds + timeout:
            if await self._pause(delay):
                return "_none_"
            digits = key.split("#", 1)[0][:max_digits]
            for digit in digits:
                self._dtmf(digit)
            self.call.a.variables[var] = digits
            return "_none_"
        await self._pause((self.prompt_seconds + timeout) * max(tries, 1))
        return "_none_"

    async def _callcenter(self, data: str) -> str:
        a = self.call.a
        name = data.strip().partition("@")[0]
        a.variables["cc_queue"] = data.strip()
        if name != self.queue.name:
            log.warning("call %s: callcenter: no queue %r in the sim", a.uuid, data)
            a.variables["cc_cause"] = "cancel"
            return "_none_"
        member = dataclasses.replace(self.call.sim_call, dead=asyncio.Event())
        self._queue_dead = member.dead
        answered = self._agent_answered = asyncio.Event()
        if self._stop.is_set():
            member.dead.set()
        talk = self._queue_talk = asyncio.ensure_future(self.queue.enqueue(member, 0))
        waiter = asyncio.ensure_future(answered.wait())
        try:
            await asyncio.wait({talk, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            self._agent_answered = None
        if answered.is_set():
            # Completed by bridged(); the conversation goes on. When the agent hangs up, the
            # bridged caller is hung up too (callcenter_events_agent_call.txt).
            talk.add_done_callback(self._agent_hung_up)
            return "_none_"
        self._queue_dead = None
        a.variables["cc_cause"] = "cancel"
        a.variables.setdefault("cc_cancel_reason", "BREAK_OUT")
        return "_none_"

    def _agent_hung_up(self, talk: asyncio.Future[QueueResult]) -> None:
        connected = not talk.cancelled() and talk.result() is QueueResult.CONNECTED
        if connected and not self.call.a.hung_up:
            self.call.request_hangup("NORMAL_CLEARING")

    def _received_dtmf(self, digits: str) -> None:
        """``uuid_recv_dtmf``: a DTMF event; a ``cc_exit_keys`` digit takes the caller out of
        the queue (``EXIT_WITH_KEY``), a ringing agent is cancelled."""
        for digit in digits:
            self._dtmf(digit)
            exit_keys = self.call.a.variables.get("cc_exit_keys", "")
            if self._agent_answered is not None and digit in exit_keys:
                self.call.a.variables["cc_exit_key"] = digit
                self.call.a.variables["cc_cancel_reason"] = "EXIT_WITH_KEY"
                if self._queue_dead is not None:
                    self._queue_dead.set()

    def _dtmf(self, digit: str) -> None:
        extra = (("DTMF-Digit", digit), ("DTMF-Duration", "2000"), ("DTMF-Source", "RTP"))
        self._publish(self._f.channel_event("DTMF", self.call.a, *extra))

    def _bridge_event(self, name: str, agent_uuid: str, agent: str) -> None:
        a = self.call.a
        if a.hung_up:
            return
        if name == "CHANNEL_BRIDGE":
            a.variables["cc_agent"] = agent
        extra = (
            ("Bridge-A-Unique-ID", a.uuid),
            ("Bridge-B-Unique-ID", agent_uuid),
            ("Other-Type", "originatee"),
            ("Other-Leg-Unique-ID", agent_uuid),
            ("Other-Leg-Channel-Name", f"loopback/{agent}-b"),
        )
        self._publish(self._f.channel_event(name, a, *extra))
