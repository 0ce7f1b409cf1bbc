"""Runs one FastAGI session against the dialer's FastAGI server, as Asterisk's AGI() does.

Connects to ``agi://host:port/script``, writes the ``agi_*`` block, then executes each command
against the simulated call: prompts take ``prompt_seconds``, the callee presses its planned
DTMF, ``EXEC Queue`` hands the call to the simulated queue. When the callee hangs up, the
command in progress answers ``-1``, a bare ``HANGUP`` line follows, and commands that need the
channel answer 511 (agi_callee_hangup.txt).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from pbx.sim import channels as ev
from pbx.sim.admin import AdminConfig, sound_found
from pbx.sim.agi_client import (
    DEAD_511,
    HANGUP_NOTICE,
    AgiClient,
    AgiClientError,
    AgiCommand,
    env_block,
)
from pbx.sim.calls import CallContext, SimCall, wait_for
from pbx.sim.queue import QueueResult, SimQueue
from pbx.sim.recording import write_recording

MONITOR_DIR = "/var/spool/asterisk/monitor"  # Asterisk's default; the sim's recordings_dir wins

__all__ = ["AgiTarget", "AgiRunner", "parse_agi_target"]

log = logging.getLogger(__name__)

RATE = 8000  # samples per second, for STREAM FILE endpos
DEFAULT_ARGS = ("${PACEDIAL_CALL_ID}",)
_VAR = re.compile(r"\$\{([^}]*)\}")
# Commands res_agi allows on a dead channel (the rest answer 511).
_DEAD_OK = {"VERBOSE", "GET VARIABLE", "GET FULL VARIABLE", "SET VARIABLE", "NOOP", "EXEC"}


@dataclass(frozen=True)
class AgiTarget:
    """``agi://host:port/script`` plus the AGI() arguments (``${VAR}`` expanded per call)."""

    url: str
    host: str
    port: int
    script: str
    args: tuple[str, ...]


def parse_agi_target(data: str) -> AgiTarget:
    """Parse ``agi://127.0.0.1:4573/router,${PACEDIAL_CALL_ID}`` (no args → the call id)."""
    url, *args = data.split(",")
    parts = urlsplit(url.strip())
    if parts.scheme != "agi" or not parts.hostname:
        raise ValueError(f"dialplan AGI target {data!r}: expected agi://host[:port]/script[,args]")
    return AgiTarget(
        url.strip(),
        parts.hostname,
        parts.port or 4573,
        parts.path.lstrip("/"),
        tuple(args) if args else DEFAULT_ARGS,
    )


def expand(text: str, call: SimCall) -> str:
    """Substitute ``${VAR}`` with the ;1 channel's variables and built-ins."""
    one = call.one
    assert one is not None
    builtins = {
        "CHANNEL": one.name,
        "UNIQUEID": one.uniqueid,
        "CONTEXT": one.context,
        "EXTEN": one.exten,
        "CALLERID(num)": one.cid_num,
        "CALLERID(name)": one.cid_name,
    }
    return _VAR.sub(lambda m: one.variables.get(m.group(1), builtins.get(m.group(1), "")), text)


class AgiRunner:
    """One FastAGI session for one answered call."""

    def __init__(
        self,
        ctx: CallContext,
        call: SimCall,
        target: AgiTarget,
        queue: SimQueue,
        *,
        prompt_seconds: float,
        amd_seconds: float,
        dead_timeout: float,
        mixmonitor_log: list[str],
        recordings_dir: str = "",
        admin: AdminConfig | None = None,
    ) -> None:
        self.admin = admin or AdminConfig()
        self.ctx = ctx
        self.call = call
        self.target = target
        self.queue = queue
        self.prompt_seconds = prompt_seconds
        self.amd_seconds = amd_seconds
        self.dead_timeout = dead_timeout
        self.mixmonitor_log = mixmonitor_log
        self.recordings_dir = recordings_dir
        self.client = AgiClient()
        self._writer: asyncio.StreamWriter | None = None
        self._busy = False
        self._notified = False

    def environment(self) -> list[tuple[str, str]]:
        one = self.call.one
        assert one is not None
        tech = one.name.split("/", 1)[0]
        env = [
            ("agi_network", "yes"),
            ("agi_network_script", self.target.script),
            ("agi_request", self.target.url),
            ("agi_channel", one.name),
            ("agi_language", one.language),
            ("agi_type", tech),
            ("agi_uniqueid", one.uniqueid),
            ("agi_version", "20.20.1"),
            ("agi_callerid", one.cid_num),
            ("agi_calleridname", one.cid_name),
            ("agi_callingpres", "0"),
            ("agi_callingani2", "0"),
            ("agi_callington", "0"),
            ("agi_callingtns", "0"),
            ("agi_dnid", "unknown"),
            ("agi_rdnis", "unknown"),
            ("agi_context", one.context),
            ("agi_extension", one.exten),
            ("agi_priority", str(one.priority)),
            ("agi_enhanced", "0.0"),
            ("agi_accountcode", one.accountcode),
            ("agi_threadid", str(140270386000000 + self.call.seq)),
        ]
        env += [(f"agi_arg_{i}", expand(a, self.call)) for i, a in enumerate(self.target.args, 1)]
        return env

    async def run(self) -> bool:
        """Run the session to its end; False if the FastAGI server could not be reached."""
        one = self.call.one
        assert one is not None
        one.application, one.appdata = "AGI", ",".join((self.target.url, *self.target.args))
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.target.host, self.target.port), 5.0
            )
        except (OSError, TimeoutError) as exc:
            log.warning("call %s: FastAGI %s unreachable: %s", one.uniqueid, self.target.url, exc)
            self._set_var("AGISTATUS", "FAILURE")
            return False
        self._writer = writer
        watcher = asyncio.create_task(self._watch_hangup())
        try:
            writer.write(env_block(self.environment()))
            await self._loop(reader)
        except (ConnectionError, AgiClientError) as exc:
            log.info("call %s: FastAGI session ended: %s", one.uniqueid, exc)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        status = "HANGUP" if self.call.callee_gone.is_set() else "SUCCESS"
        if self.call.agi_hangup:
            status = "FAILURE"  # as captured after the script's own HANGUP (originate_answered)
        self._set_var("AGISTATUS", status)
        return True

    async def _loop(self, reader: asyncio.StreamReader) -> None:
        while True:
            cmd = self.client.next_command()
            if cmd is None:
                limit = self.dead_timeout if self.call.dead.is_set() else None
                try:
                    data = await asyncio.wait_for(reader.read(65536), limit)
                except TimeoutError:
                    return  # a script that never leaves after hangup: Asterisk would hang up too
                if not data:
                    return
                self.client.receive_data(data)
                continue
            self._busy = True
            try:
                line = await self._execute(cmd)
                self._write(AgiClient.reply(line))
                if self.call.dead.is_set():
                    self._notify_hangup()
            finally:
                self._busy = False

    def cut(self) -> None:
        """Abort the FastAGI socket as a dying Asterisk does: no HANGUP line, no reply."""
        if self._writer is not None:
            self._writer.transport.abort()

    def _write(self, data: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    def _notify_hangup(self) -> None:
        if not self._notified:
            self._notified = True
            self._write(HANGUP_NOTICE)

    async def _watch_hangup(self) -> None:
        await self.call.dead.wait()
        if not self._busy:
            self._notify_hangup()

    def _set_var(self, name: str, value: str) -> None:
        one = self.call.one
        assert one is not None
        one.variables[name] = value
        self.ctx.emit(ev.varset(one, name, value))

    async def _pause(self, seconds: float) -> tuple[bool, float]:
        """Wait ``seconds`` simulated; (hung up?, simulated seconds elapsed)."""
        start = self.ctx.clock()
        gone = await wait_for(self.call.dead, self.ctx.scaled(seconds))
        elapsed = self.ctx.clock() - start
        return gone, min(elapsed, seconds)

    # --- commands -----------------------------------------------------------------------------
    async def _execute(self, cmd: AgiCommand) -> str:
        name, args = cmd.name, cmd.args
        if not name:
            return "510 Invalid or unknown command"
        if self.call.dead.is_set() and name not in _DEAD_OK:
            return DEAD_511
        one = self.call.one
        assert one is not None
        match name:
            case "ANSWER" | "NOOP":
                return "200 result=0"
            case "VERBOSE":
                return "200 result=1"
            case "CHANNEL STATUS":
                return f"200 result={one.state}"
            case "SET VARIABLE":
                if len(args) < 2:
                    return "520 Invalid command syntax.  Proper usage not available."
                self._set_var(args[0], args[1])
                return "200 result=1"
            case "GET VARIABLE":
                if not args:
                    return "520 Invalid command syntax.  Proper usage not available."
                value = one.variables.get(args[0])
                if value is None and args[0] in ("CHANNEL", "UNIQUEID"):
                    value = expand("${" + args[0] + "}", self.call)
                return "200 result=0" if value is None else f"200 result=1 ({value})"
            case "GET FULL VARIABLE":
                return f"200 result=1 ({expand(args[0] if args else '', self.call)})"
            case "HANGUP":
                return self._hangup()
            case "STREAM FILE":
                return await self._stream_file(args)
            case "GET DATA":
                return await self._get_data(args)
            case "WAIT FOR DIGIT":
                return await self._wait_for_digit(args)
            case "EXEC":
                return await self._exec(args)
        return "510 Invalid or unknown command"

    def _hangup(self) -> str:
        one = self.call.one
        assert one is not None
        self.call.agi_hangup = True
        self.ctx.emit(ev.soft_hangup_request(one, 32))
        self.call.dead.set()
        return "200 result=1"

    async def _stream_file(self, args: tuple[str, ...]) -> str:
        if args and not sound_found(self.admin, args[0]):
            offset = args[2] if len(args) > 2 and args[2].isdigit() else "0"
            return f"200 result=-1 endpos={offset}"  # res_agi: the file did not open
        self.queue.timeline.note(self.call, "play", self.ctx.clock(), args[0] if args else "")
        escape = args[1] if len(args) > 1 else ""
        key = self.call.next_dtmf(escape) if escape else ""
        delay = self.call.plan.dtmf_delay
        if key and delay < self.prompt_seconds:
            gone, elapsed = await self._pause(delay)
            if not gone:
                return f"200 result={ord(key[0])} endpos={int(elapsed * RATE)}"
        else:
            gone, elapsed = await self._pause(self.prompt_seconds)
            if not gone:
                self._set_var("PLAYBACKSTATUS", "SUCCESS")
                return f"200 result=0 endpos={int(self.prompt_seconds * RATE)}"
        return f"200 result=-1 endpos={int(elapsed * RATE)}"

    async def _get_data(self, args: tuple[str, ...]) -> str:
        timeout = _number(args[1], 5000) / 1000 if len(args) > 1 else 5.0
        max_digits = int(_number(args[2], 1024)) if len(args) > 2 else 1024
        key = self.call.next_dtmf()
        delay = self.call.plan.dtmf_delay
        if key and delay <= self.prompt_seconds + timeout:
            gone, _ = await self._pause(delay)
            if gone:
                return "200 result=-1"
            digits = key.split("#", 1)[0][:max_digits]
            return f"200 result={digits}"
        gone, _ = await self._pause(self.prompt_seconds + timeout)
        return "200 result=-1" if gone else "200 result= (timeout)"

    async def _wait_for_digit(self, args: tuple[str, ...]) -> str:
        ms = _number(args[0], -1) if args else -1
        limit = float("inf") if ms < 0 else ms / 1000
        key = self.call.next_dtmf()
        delay = self.call.plan.dtmf_delay
        if key and delay <= limit:
            gone, _ = await self._pause(delay)
            return "200 result=-1" if gone else f"200 result={ord(key[0])}"
        if limit == float("inf"):
            await self.call.dead.wait()
            return "200 result=-1"
        gone, _ = await self._pause(limit)
        return "200 result=-1" if gone else "200 result=0"

    async def _exec(self, args: tuple[str, ...]) -> str:
        if not args:
            return "520 Invalid command syntax.  Proper usage not available."
        app = args[0].lower()
        data = " ".join(args[1:])
        one = self.call.one
        assert one is not None
        dead = self.call.dead.is_set()
        if app in ("noop", "verbose", "log"):
            return "200 result=0"
        if app == "set":
            name, _, value = data.partition("=")
            self._set_var(name.strip(), value)
            return "200 result=0"
        if dead:
            return "200 result=-1"
        match app:
            case "answer":
                return "200 result=0"
            case "wait":
                gone, _ = await self._pause(_number(data, 0))
                return "200 result=-1" if gone else "200 result=0"
            case "playback":
                self.queue.timeline.note(self.call, "play", self.ctx.clock(), data)
                files = [f for f in data.split(",", 1)[0].split("&") if f]
                gone, _ = await self._pause(self.prompt_seconds * max(len(files), 1))
                self._set_var("PLAYBACKSTATUS", "FAILED" if gone else "SUCCESS")
                return "200 result=-1" if gone else "200 result=0"
            case "mixmonitor":
                # As captured (mixmonitor_events.txt): VarSet MIXMONITOR_FILENAME = the path
                # written (a bare name lands in the monitor directory), then MixMonitorStart.
                self.mixmonitor_log.append(f"{one.uniqueid} {data}")
                write_recording(self.recordings_dir, data)
                name = data.split(",", 1)[0].strip()
                folder = (self.recordings_dir or MONITOR_DIR).rstrip("/")
                path = name if name.startswith("/") else f"{folder}/{name.rsplit('/', 1)[-1]}"
                self._set_var("MIXMONITOR_FILENAME", path)
                self.ctx.emit(ev.mixmonitor("MixMonitorStart", one))
                return "200 result=0"
            case "stopmixmonitor":
                self.ctx.emit(ev.mixmonitor("MixMonitorStop", one))
                return "200 result=0"
            case "amd":
                gone, _ = await self._pause(self.amd_seconds)
                if gone:
                    self._set_var("AMDSTATUS", "HANGUP")
                    return "200 result=-1"
                status = self.call.plan.amd_status
                self.queue.timeline.note(self.call, "amd", self.ctx.clock(), status)
                self.queue.timeline.verdict(self.call, status)
                self._set_var("AMDSTATUS", status)
                self._set_var(
                    "AMDCAUSE", "HUMAN-300-1000" if status == "HUMAN" else "LONGGREETING-1500-1500"
                )
                return "200 result=0"
            case "queue":
                return await self._queue(data)
            case "hangup":
                self._hangup()
                return "200 result=-1"
        return "200 result=-2"

    async def _queue(self, data: str) -> str:
        fields = data.split(",")
        if fields[0] != self.queue.name:
            self._set_var("QUEUESTATUS", "JOINEMPTY")  # the sim serves exactly one queue
            return "200 result=0"
        timeout = _number(fields[4], 0) if len(fields) > 4 and fields[4] else 0.0
        result = await self.queue.enqueue(self.call, timeout)
        return "200 result=-1" if result is QueueResult.CALLER_HUNG_UP else "200 result=0"


def _number(text: str, default: float) -> float:
    try:
        return float(text)
    except ValueError:
        return default
