"""The simulated PBX opens FastAGI sessions as Asterisk does and runs its queue of agents.

A tiny asyncio FastAGI server in the test plays the dialer's role; AMI is read over a real
socket at the same time.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable

from transcripts import stream
from virtual_time import in_virtual_time

from pbx.asterisk.ami import AmiMessage, AmiParser, encode
from pbx.sim import AgentConfig, SimConfig, SimPbx

FAST = 20.0
DEAD = "511 Command Not Permitted on a dead channel or intercept routine"


class AgiScriptSession:
    """The FastAGI server side of one connection, as raw lines."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.env: list[tuple[str, str]] = []
        self.hangup_lines = 0
        self.transcript: list[str] = []

    async def read_env(self) -> None:
        while True:
            line = (await asyncio.wait_for(self.reader.readline(), 5)).decode().rstrip("\n")
            if not line:
                return
            key, _, value = line.partition(": ")
            self.env.append((key, value))

    async def cmd(self, line: str) -> str:
        """Send a command; return its reply (a bare HANGUP line before it is counted)."""
        self.transcript.append(f"C> {line}")
        self.writer.write(line.encode() + b"\n")
        while True:
            reply = (await asyncio.wait_for(self.reader.readline(), 5)).decode().rstrip("\n")
            self.transcript.append(f"S> {reply}")
            if reply == "HANGUP":
                self.hangup_lines += 1
                continue
            return reply

    async def expect_hangup_line(self) -> None:
        if self.hangup_lines:
            return
        line = (await asyncio.wait_for(self.reader.readline(), 5)).decode().rstrip("\n")
        assert line == "HANGUP"
        self.hangup_lines += 1


Script = Callable[[AgiScriptSession], Awaitable[None]]


class FastAgiServer:
    """Runs ``script`` for every connection and keeps each finished session."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.sessions: list[AgiScriptSession] = []
        self.errors: list[BaseException] = []
        self.done = asyncio.Queue()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader, writer) -> None:
        session = AgiScriptSession(reader, writer)
        self.sessions.append(session)
        try:
            await session.read_env()
            await self.script(session)
        except BaseException as exc:  # reported by the test, not swallowed
            self.errors.append(exc)
        finally:
            writer.close()
            await self.done.put(session)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


class AmiReader:
    """Logs in and collects every AMI message in the background."""

    def __init__(self) -> None:
        self.messages: list[AmiMessage] = []
        self.task: asyncio.Task | None = None

    async def start(self, port: int) -> AmiReader:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(
            encode([("Action", "Login"), ("Username", "pacedial"), ("Secret", "pacedial")])
        )
        parser = AmiParser()

        async def pump() -> None:
            while data := await reader.read(65536):
                self.messages.extend(m for m in parser.messages(data) if isinstance(m, AmiMessage))

        self.task = asyncio.create_task(pump())
        return self

    def send(self, *headers: tuple[str, str]) -> None:
        self.writer.write(encode(headers))

    async def wait_for(self, pred, timeout: float = 5.0) -> AmiMessage:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            for m in self.messages:
                if pred(m):
                    return m
            await asyncio.sleep(0.01)
        raise AssertionError(f"no such AMI message; events: {[m.event for m in self.messages]}")

    def events(self, name: str) -> list[AmiMessage]:
        return [m for m in self.messages if m.event == name]

    def close(self) -> None:
        self.writer.close()
        if self.task:
            self.task.cancel()


def originate(ami: AmiReader, aid: str, number: str, *variables: str, ctx="pacedial-answered"):
    ami.send(
        ("Action", "Originate"),
        ("ActionID", aid),
        ("Channel", f"Local/{number}@sim-callee"),
        ("Context", ctx),
        ("Exten", "s"),
        ("Priority", "1"),
        ("Timeout", "30000"),
        ("CallerID", '"Pacedial" <5550100>'),
        ("Async", "true"),
        ("ChannelId", f"{aid}-a"),
        ("Variable", f"PACEDIAL_CALL_ID={aid}"),
        *(("Variable", v) for v in variables),
    )


async def start_pair(script: Script, agents: int = 1, wrapuptime: float = 2, talk: float = 10000):
    agi = FastAgiServer(script)
    port = await agi.start()
    sim = SimPbx(
        SimConfig(
            behaviour="last_digit",
            time_scale=FAST,
            prompt_seconds=2.0,
            agents=AgentConfig(count=agents, talk_mean=talk, talk_cv=0, wrapuptime=wrapuptime),
        )
    )
    await sim.start()
    sim.set_dialplan("pacedial-answered", f"agi://127.0.0.1:{port}/router")
    ami = await AmiReader().start(sim.ami_port)
    await ami.wait_for(lambda m: m.event == "FullyBooted")
    return agi, sim, ami


async def stop_pair(agi: FastAgiServer, sim: SimPbx, ami: AmiReader) -> None:
    ami.close()
    await sim.close()
    await agi.close()


@in_virtual_time
async def test_agi_block_like_asterisk_and_callee_hangup_gives_hangup_then_511():
    async def script(s: AgiScriptSession) -> None:
        assert await s.cmd("ANSWER") == "200 result=0"
        assert await s.cmd('SET VARIABLE DIALER_RESULT "human"') == "200 result=1"
        assert await s.cmd("GET VARIABLE PACEDIAL_CALL_ID") == "200 result=1 (agi-1)"
        assert await s.cmd("GET VARIABLE NO_SUCH_VAR") == "200 result=0"
        full = await s.cmd("GET FULL VARIABLE ${CHANNEL}")
        assert full.startswith("200 result=1 (Local/5551230@sim-callee-") and full.endswith(";1)")
        assert await s.cmd("GET DATA press-1 5000 1") == "200 result=1"
        assert await s.cmd("CHANNEL STATUS") == "200 result=6"
        assert await s.cmd("FROB THE CHANNEL") == "510 Invalid or unknown command"
        # The callee hangs up (SIM_TALK=6 s) while prompts play: -1, then HANGUP, then 511.
        for _ in range(20):
            reply = await s.cmd('STREAM FILE hello "#"')
            if reply.startswith("200 result=-1"):
                break
            assert reply == "200 result=0 endpos=16000"
        assert reply.startswith("200 result=-1 endpos=")
        await s.expect_hangup_line()
        assert await s.cmd("WAIT FOR DIGIT 1000") == DEAD
        assert await s.cmd("GET VARIABLE DIALER_RESULT") == "200 result=1 (human)"
        assert await s.cmd('STREAM FILE hello ""') == DEAD
        assert await s.cmd("HANGUP") == DEAD

    agi, sim, ami = await start_pair(script)
    try:
        originate(ami, "agi-1", "5551230", "SIM_RING=1", "SIM_TALK=6", "SIM_DTMF=1")
        session = await asyncio.wait_for(agi.done.get(), 10)
        assert not agi.errors, agi.errors
        assert session.hangup_lines == 1
        env = dict(session.env)
        wanted = stream("asterisk/agi/agi_robot_session.txt", "S").decode().split("\n\n")[0]
        fixture_keys = [line.partition(": ")[0] for line in wanted.split("\n")]
        assert [k for k, _ in session.env] == [k for k in fixture_keys if k != "agi_arg_2"]
        assert env["agi_network_script"] == "router"
        assert (
            env["agi_request"] == f"agi://127.0.0.1:{agi.server.sockets[0].getsockname()[1]}/router"
        )
        assert env["agi_channel"].endswith(";1") and env["agi_type"] == "Local"
        assert env["agi_uniqueid"] == "agi-1-a"
        assert env["agi_arg_1"] == "agi-1"
        assert (env["agi_context"], env["agi_extension"], env["agi_callerid"]) == (
            "pacedial-answered",
            "s",
            "5550100",
        )
        await ami.wait_for(lambda m: m.event == "Hangup" and m.get("Channel", "").endswith(";1"))
        hangups = [(m.get("Channel")[-2:], m.get("Cause")) for m in ami.events("Hangup")]
        assert hangups == [(";2", "16"), (";1", "16")]
        assert any(m.get("Variable") == "DIALER_RESULT" for m in ami.events("VarSet"))
    finally:
        await stop_pair(agi, sim, ami)


@in_virtual_time
async def test_script_hangup_answers_1_then_hangup_line_and_amd_reports_the_callee():
    async def script(s: AgiScriptSession) -> None:
        assert await s.cmd("EXEC AMD") == "200 result=0"
        assert await s.cmd("GET VARIABLE AMDSTATUS") == "200 result=1 (HUMAN)"
        assert await s.cmd("EXEC MixMonitor rec.wav") == "200 result=0"
        assert await s.cmd("EXEC NoSuchApp") == "200 result=-2"
        assert await s.cmd("HANGUP") == "200 result=1"
        await s.expect_hangup_line()
        assert await s.cmd("CHANNEL STATUS") == DEAD
        assert await s.cmd('VERBOSE "after hangup" 1') == "200 result=1"

    agi, sim, ami = await start_pair(script)
    try:
        originate(ami, "agi-2", "5551231", "SIM_RING=1", "SIM_TALK=100")
        await asyncio.wait_for(agi.done.get(), 10)
        assert not agi.errors, agi.errors
        await ami.wait_for(lambda m: m.event == "Hangup" and m.get("Channel", "").endswith(";2"))
        soft = [m.get("Cause") for m in ami.events("SoftHangupRequest")]
        assert soft[0] == "32"  # AGI HANGUP, as captured
        assert [m.get("Cause") for m in ami.events("Hangup")] == ["0", "0"]
        assert len(sim.mixmonitor_log) == 1 and sim.mixmonitor_log[0].endswith("rec.wav")
    finally:
        await stop_pair(agi, sim, ami)


@in_virtual_time
async def test_queue_with_one_agent_second_caller_times_out_while_first_talks():
    results: dict[str, list[str]] = collections.defaultdict(list)

    async def script(s: AgiScriptSession) -> None:
        call = dict(s.env)["agi_arg_1"]
        results[call].append(await s.cmd("EXEC Queue collectors,,,,2"))
        results[call].append(await s.cmd("GET VARIABLE QUEUESTATUS"))
        results[call].append(await s.cmd("GET VARIABLE MEMBERINTERFACE"))

    agi, sim, ami = await start_pair(script, agents=1)
    try:
        ami.send(("Action", "QueueStatus"), ("ActionID", "qs-1"), ("Queue", "collectors"))
        done = await ami.wait_for(lambda m: m.event == "QueueStatusComplete")
        members = [m for m in ami.events("QueueMember") if m.action_id == "qs-1"]
        assert [(m.get("Location"), m.get("Status"), m.get("Paused")) for m in members] == [
            ("Local/agent1@sim-agents/n", "1", "0")
        ]
        assert done.get("ListItems") == "2"
        originate(ami, "q-1", "5551231", "SIM_RING=1", "SIM_TALK=40")
        await ami.wait_for(lambda m: m.event == "AgentConnect")
        originate(ami, "q-2", "5551232", "SIM_RING=1", "SIM_TALK=40")
        await asyncio.wait_for(agi.done.get(), 10)  # q-2 gives up after its 2 s
        assert results["q-2"] == ["200 result=0", "200 result=1 (TIMEOUT)", "200 result=0"]
        await asyncio.wait_for(agi.done.get(), 10)  # q-1 talks until the callee hangs up
        assert not agi.errors, agi.errors
        assert results["q-1"] == [
            "200 result=-1",
            "200 result=0",  # QUEUESTATUS unset: an agent took the call
            "200 result=1 (Local/agent1@sim-agents/n)",
        ]
        joins = [m.get("Uniqueid") for m in ami.events("QueueCallerJoin")]
        assert joins == ["q-1-a", "q-2-a"]
        assert [m.get("Uniqueid") for m in ami.events("AgentConnect")] == ["q-1-a"]
        complete = await ami.wait_for(lambda m: m.event == "AgentComplete")
        assert complete.get("Reason") == "caller" and complete.get("Uniqueid") == "q-1-a"
        assert int(complete.get("TalkTime")) >= 30
        leaves = [(m.get("Uniqueid"), m.get("Count")) for m in ami.events("QueueCallerLeave")]
        assert ("q-2-a", "0") in leaves and ("q-1-a", "0") in leaves
        statuses = [m.get("Status") for m in ami.events("QueueMemberStatus")]
        assert statuses[:2] == ["2", "1"]
        # Wrap-up as app_queue shows it (queue_wrapup.txt): "not in use", not paused, LastCall
        # set, and nothing at all when it ends.
        after = await ami.wait_for(
            lambda m: m.event == "QueueMemberStatus" and m.get("CallsTaken") == "1"
        )
        assert (after.get("Status"), after.get("InCall"), after.get("Paused")) == ("1", "0", "0")
        assert after.get("PausedReason") == "" and int(after.get("LastCall") or 0) > 0
        await asyncio.sleep(3 / FAST)  # past the 2 s wrap-up
        assert ami.events("QueueMemberPause") == []
    finally:
        await stop_pair(agi, sim, ami)


@in_virtual_time
async def test_unreachable_fastagi_server_hangs_up_the_answered_call():
    sim = SimPbx(SimConfig(behaviour="last_digit", time_scale=FAST))
    await sim.start()
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    sim.set_dialplan("pacedial-answered", f"agi://127.0.0.1:{port}/router")
    ami = await AmiReader().start(sim.ami_port)
    try:
        await ami.wait_for(lambda m: m.event == "FullyBooted")
        originate(ami, "agi-x", "5551230", "SIM_RING=1", "SIM_TALK=100")
        await ami.wait_for(lambda m: m.event == "Hangup" and m.get("Channel", "").endswith(";2"))
        status = [m.get("Value") for m in ami.events("VarSet") if m.get("Variable") == "AGISTATUS"]
        assert status == ["FAILURE"]
        assert sim.calls_finished[0].answered
    finally:
        ami.close()
        await sim.close()


@in_virtual_time
async def test_a_caller_joining_during_wrap_up_waits_until_lastcall_plus_wrapuptime():
    """queue_wrapup.txt: the member looks idle during its 30 s wrap-up, yet the caller who joins
    then gets AgentCalled only 30 s after the previous AgentComplete."""
    queued: dict[str, str] = {}

    async def script(s: AgiScriptSession) -> None:
        queued[dict(s.env)["agi_arg_1"]] = await s.cmd("EXEC Queue collectors,,,,120")

    agi, sim, ami = await start_pair(script, agents=1, wrapuptime=30, talk=10)
    loop = asyncio.get_running_loop()
    try:
        originate(ami, "w-a", "5551230", "SIM_RING=1", "SIM_TALK=100")
        complete = await ami.wait_for(lambda m: m.event == "AgentComplete", 20)
        completed_at = loop.time()
        idle = await ami.wait_for(
            lambda m: m.event == "QueueMemberStatus" and m.get("CallsTaken") == "1"
        )
        assert (idle.get("Status"), idle.get("Paused")) == ("1", "0")
        assert complete.get("Reason") == "agent"
        originate(ami, "w-c", "5551231", "SIM_RING=1", "SIM_TALK=100")
        await ami.wait_for(lambda m: m.event == "QueueCallerJoin" and m.get("Uniqueid") == "w-c-a")
        called = await ami.wait_for(
            lambda m: m.event == "AgentCalled" and m.get("Uniqueid") == "w-c-a", 20
        )
        waited = (loop.time() - completed_at) * FAST
        assert waited >= 30 - 0.5, waited  # simulated seconds after AgentComplete
        assert called.get("Interface") == "Local/agent1@sim-agents/n"
        assert ami.events("QueueMemberPause") == []
    finally:
        await stop_pair(agi, sim, ami)


def _caller_queue_events(msgs: list[AmiMessage]) -> list[tuple]:
    """(Event, Position, OriginalPosition, Count, header names) of the QueueCaller* events."""
    return [
        (
            m.event,
            m.get("Position"),
            m.get("OriginalPosition"),
            m.get("Count"),
            [k for k, _ in m.headers],
        )
        for m in msgs
        if (m.event or "").startswith("QueueCaller")
    ]


@in_virtual_time
async def test_queue_timeout_and_caller_hangup_emit_the_events_of_queue_caller_abandon_txt():
    """queue_caller_abandon.txt: a Queue() that times out (2 s) and one the caller leaves by
    hanging up both give QueueCallerJoin, QueueCallerAbandon (HoldTime), QueueCallerLeave, with
    the capture's fields in its order."""
    msgs = AmiParser().messages(stream("asterisk/ami/queue_caller_abandon.txt", "S"))
    captured = [m for m in msgs if isinstance(m, AmiMessage)]

    async def script(s: AgiScriptSession) -> None:
        await s.cmd("EXEC Queue collectors,,,,2")
        await s.cmd("EXEC Queue collectors,,,,60")

    agi, sim, ami = await start_pair(script, agents=1)
    try:
        ami.send(("Action", "QueuePause"), ("Interface", "Local/agent1@sim-agents/n"),
                 ("Paused", "true"), ("Reason", "rig"))  # fmt: skip
        await ami.wait_for(lambda m: m.event == "QueueMemberPause")
        originate(ami, "pd-aq-1", "5551230", "SIM_RING=2", "SIM_TALK=10")
        await asyncio.wait_for(agi.done.get(), 30)
        await ami.wait_for(lambda m: m.event == "Hangup" and m.get("Uniqueid") == "pd-aq-1-a")
        assert not agi.errors, agi.errors
        assert _caller_queue_events(ami.messages) == _caller_queue_events(captured)
        holds = [m.get("HoldTime") for m in ami.events("QueueCallerAbandon")]
        assert holds[0] == "2" and 7 <= int(holds[1]) <= 10  # capture: 2, then 9
    finally:
        await stop_pair(agi, sim, ami)


def _mixmonitor_events(msgs: list[AmiMessage]) -> list[tuple]:
    """(Event, file name written, header names) of the MixMonitor events and their VarSet."""
    return [
        (m.event, m.get("Value"), [k for k, _ in m.headers])
        for m in msgs
        if (m.event or "").startswith("MixMonitor")
        or (m.event == "VarSet" and m.get("Variable") == "MIXMONITOR_FILENAME")
    ]


@in_virtual_time
async def test_mixmonitor_events_like_mixmonitor_events_txt():
    """mixmonitor_events.txt: ``EXEC MixMonitor`` gives VarSet MIXMONITOR_FILENAME (the
    absolute path in the monitor directory) then MixMonitorStart; StopMixMonitor gives
    MixMonitorStop; the hang-up with a recording running gives none."""
    msgs = AmiParser().messages(stream("asterisk/ami/mixmonitor_events.txt", "S"))
    captured = _mixmonitor_events([m for m in msgs if isinstance(m, AmiMessage)])

    async def script(s: AgiScriptSession) -> None:
        await s.cmd("EXEC MixMonitor pd-mix-1.wav")
        await s.cmd("EXEC StopMixMonitor")
        await s.cmd("EXEC MixMonitor pd-mix-1-b.wav,b")
        await s.cmd("EXEC Wait 30")

    agi, sim, ami = await start_pair(script, agents=0)
    try:
        originate(ami, "pd-mix-1", "5551230", "SIM_RING=2", "SIM_TALK=10")
        await asyncio.wait_for(agi.done.get(), 30)
        await ami.wait_for(lambda m: m.event == "Hangup" and m.get("Uniqueid") == "pd-mix-1-a")
        assert not agi.errors, agi.errors
        assert _mixmonitor_events(ami.messages) == captured
    finally:
        await stop_pair(agi, sim, ami)
