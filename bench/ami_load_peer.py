"""A load-capable AMI peer for benchmarks: plays recorded Asterisk call sequences per Originate.

Each Originate it receives is answered ``Response: Success`` and then played as one of the
recorded single-call transcripts of ``tests/fixtures/asterisk/ami`` (answered, no answer, busy,
congestion, unallocated), every message as Asterisk wrote it, with the ActionID, the Uniqueids
(= the Originate's ChannelId / OtherChannelId, as Asterisk does) and the Local channel names
substituted, and the recording's timeline stretched so that the call lasts ``hold`` seconds
(±50 %). Messages due together are written in one socket write. ``Hangup`` actions
fast-forward a call to its end; ``CoreShowChannels`` lists the live calls; ``QueueStatus``
lists no member (robot campaigns); ``Ping`` answers Pong; anything else Success.

It counts what a benchmark needs, from the PBX's side of the wire: Originates, duplicate
ActionIDs, messages written, live channels, and for every Originate that follows a freed
channel the time since that channel's last Hangup was written (freed channel → next Originate).

Run it in its own process (``PeerProcess``) so that its CPU is not the controller's.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import multiprocessing
import random
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from transcripts import load  # noqa: E402

from pbx.asterisk.ami import AmiMessage, AmiParser, encode  # noqa: E402

BANNER = b"Asterisk Call Manager/9.0.0\r\n"
# (fixture, weight): the outcome mix of a collection campaign's calls.
MIX = (
    ("originate_answered_callee_hangup", 30),
    ("originate_noanswer", 30),
    ("originate_busy_channelid", 25),
    ("originate_congestion", 10),
    ("originate_unallocated", 5),
)
_A, _U1, _U2, _CH = b"@@A@@", b"@@U1@@", b"@@U2@@", b"@@CH@@"


@dataclass
class Template:
    """One recorded call: message groups (relative time, bytes with tokens) in order."""

    name: str
    groups: list[tuple[float, bytes]]
    span: float
    last_hangup: int  # index of the group holding the call's last Hangup event


def _template(name: str) -> Template:
    chunks = load(f"asterisk/ami/{name}.txt")
    c_side = AmiParser(expect_banner=False).messages(
        b"".join(c.data for c in chunks if c.direction == "C")
    )
    (orig,) = [m for m in c_side if isinstance(m, AmiMessage) and m.action == "Originate"]
    aid = orig.action_id or ""
    parser = AmiParser()
    timed: list[tuple[float, AmiMessage]] = []
    for chunk in chunks:
        if chunk.direction == "S":
            timed += [
                (chunk.t, m) for m in parser.messages(chunk.data) if isinstance(m, AmiMessage)
            ]
    start = next(i for i, (_, m) in enumerate(timed) if m.action_id == aid and m.response)
    call = [(t, m) for t, m in timed[start:] if m.response is None or m.action_id == aid]
    # Asterisk names a Local channel's legs after the ChannelId / OtherChannelId it was given.
    legs = [m for _, m in call if m.event == "Newchannel"]
    uids = {legs[0]["Uniqueid"]: _U1, legs[1]["Uniqueid"]: _U2}
    base = legs[0]["Channel"][:-2]  # "Local/5551245@sim-callee-0000000c"
    t0 = call[0][0]
    groups: list[tuple[float, bytes]] = []
    last_hangup = 0
    for t, m in call:
        data = _tokenize(m, aid, uids, base)
        if groups and abs(groups[-1][0] - (t - t0)) < 1e-9:
            groups[-1] = (groups[-1][0], groups[-1][1] + data)
        else:
            groups.append((t - t0, data))
        if m.event == "Hangup":
            last_hangup = len(groups) - 1
    return Template(name, groups, max(groups[-1][0], 0.05), last_hangup)


def _tokenize(msg: AmiMessage, aid: str, uids: dict[str, bytes], base: str) -> bytes:
    out = []
    for key, value in msg.headers:
        raw = value.encode()
        if value == aid:
            raw = _A
        elif value in uids:
            raw = uids[value]
        elif base in value:
            raw = raw.replace(base.encode(), _CH)
        out.append(key.encode() + b": " + raw + b"\r\n")
    return b"".join(out) + b"\r\n"


@dataclass(eq=False)
class Call:
    action_id: bytes
    u1: bytes
    u2: bytes
    channel: bytes
    template: Template
    starts: float
    stretch: float
    gen: int = 0
    next_group: int = 0
    ended: bool = False

    def blob(self, i: int) -> bytes:
        data = self.template.groups[i][1]
        return (
            data.replace(_A, self.action_id)
            .replace(_U1, self.u1)
            .replace(_U2, self.u2)
            .replace(_CH, self.channel)
        )


@dataclass
class Counters:
    """What the peer saw since the last mark."""

    since: float = field(default_factory=time.perf_counter)
    cpu_since: float = field(default_factory=time.process_time)
    originates: int = 0
    duplicates: int = 0
    messages: int = 0
    hangup_actions: int = 0
    latencies: list[float] = field(default_factory=list)
    live_samples: list[int] = field(default_factory=list)


class LoadPeer:
    """The AMI server; one client connection at a time is enough for a benchmark."""

    def __init__(self, hold: float, seed: int = 1) -> None:
        self.hold = hold
        self.rng = random.Random(seed)
        self.templates = [_template(name) for name, _ in MIX]
        self.weights = [w for _, w in MIX]
        self.calls: dict[bytes, Call] = {}  # by Uniqueid of ;1 (= ChannelId = call id)
        self.by_channel: dict[bytes, Call] = {}
        self.seen: set[str] = set()
        self.lifetime_originates = 0
        self.freed: deque[float] = deque()
        self.count = Counters()
        self._heap: list[tuple[float, int, Call, int, int]] = []
        self._seq = itertools.count()
        self._chan = itertools.count(1)
        self._wake = asyncio.Event()
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def start(self) -> None:
        server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        asyncio.create_task(self._player())
        asyncio.create_task(self._sample_live())

    def mark(self) -> None:
        self.count = Counters()
        self.freed.clear()

    def report(self) -> dict:
        c = self.count
        wall = time.perf_counter() - c.since
        lat = sorted(c.latencies)

        def pct(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None

        return {
            "seconds": round(wall, 2),
            "originates": c.originates,
            "originates_lifetime": self.lifetime_originates,
            "duplicates": c.duplicates,
            "messages": c.messages,
            "hangup_actions": c.hangup_actions,
            "live_mean": round(sum(c.live_samples) / len(c.live_samples)) if c.live_samples else 0,
            "live_now": sum(1 for call in self.calls.values() if not call.ended),
            "freed_to_originate_p50_ms": pct(0.50),
            "freed_to_originate_p99_ms": pct(0.99),
            "freed_to_originate_samples": len(lat),
            "peer_cpu_s": round(time.process_time() - c.cpu_since, 2),
        }

    # --- wire -------------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        self._writers.append(writer)
        parser = AmiParser(expect_banner=False)
        try:
            while data := await reader.read(262144):
                parser.feed(data)
                while (msg := parser.next_message()) is not None:
                    assert isinstance(msg, AmiMessage)
                    self._action(msg, writer)
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.remove(writer)
            writer.close()

    def _reply(self, writer: asyncio.StreamWriter, aid: str | None, **headers: str) -> None:
        pairs = [("Response", headers.pop("Response", "Success"))]
        if aid is not None:
            pairs.append(("ActionID", aid))
        writer.write(encode([*pairs, *headers.items()]))

    def _action(self, msg: AmiMessage, writer: asyncio.StreamWriter) -> None:
        action = (msg.action or "").lower()
        aid = msg.action_id
        if action == "originate":
            self._originate(msg, writer)
        elif action == "login":  # as login_ping.txt: FullyBooted follows the login's answer
            self._reply(writer, aid, Message="Authentication accepted")
            writer.write(
                encode(
                    [
                        ("Event", "FullyBooted"),
                        ("Privilege", "system,all"),
                        ("Uptime", "6"),
                        ("LastReload", "6"),
                        ("Status", "Fully Booted"),
                    ]
                )
            )
        elif action == "ping":
            self._reply(writer, aid, Ping="Pong", Timestamp=f"{time.time():.6f}")
        elif action == "logoff":
            self._reply(writer, aid, Response="Goodbye", Message="Thanks for all the fish.")
        elif action == "hangup":
            self._hangup(msg.get("Channel") or "", writer, aid)
        elif action == "coreshowchannels":
            self._reply(writer, aid, EventList="start", Message="Channels will follow")
            live = [c for c in self.calls.values() if not c.ended]
            for call in live:
                writer.write(
                    encode(
                        [
                            ("Event", "CoreShowChannel"),
                            ("ActionID", aid or ""),
                            ("Channel", call.channel.decode() + ";1"),
                            ("Uniqueid", call.u1.decode()),
                            ("Linkedid", call.u1.decode()),
                            ("ChannelStateDesc", "Up"),
                        ]
                    )
                )
            writer.write(
                encode(
                    [
                        ("Event", "CoreShowChannelsComplete"),
                        ("ActionID", aid or ""),
                        ("ListItems", str(len(live))),
                    ]
                )
            )
        elif action == "queuestatus":
            self._reply(writer, aid, EventList="start", Message="Queue status will follow")
            writer.write(encode([("Event", "QueueStatusComplete"), ("ActionID", aid or "")]))
        else:
            self._reply(writer, aid)

    def _originate(self, msg: AmiMessage, writer: asyncio.StreamWriter) -> None:
        c = self.count
        c.originates += 1
        self.lifetime_originates += 1
        aid = msg.action_id or ""
        if aid in self.seen:
            c.duplicates += 1
        self.seen.add(aid)
        now = time.perf_counter()
        if self.freed:
            c.latencies.append(now - self.freed.popleft())
        template = self.rng.choices(self.templates, self.weights)[0]
        number = (msg.get("Channel") or "Local/0@x").split("/", 1)[1].split("@", 1)[0]
        channel = f"Local/{number}@sim-callee-{next(self._chan):08x}".encode()
        u1 = (msg.get("ChannelId") or aid).encode()
        u2 = (msg.get("OtherChannelId") or f"{aid}-2").encode()
        target = self.hold * self.rng.uniform(0.5, 1.5)
        call = Call(aid.encode(), u1, u2, channel, template, now, target / template.span)
        self.calls[u1] = call
        self.by_channel[channel + b";1"] = call
        for i, (t, _) in enumerate(template.groups):
            heapq.heappush(self._heap, (now + t * call.stretch, next(self._seq), call, i, 0))
        self._wake.set()

    def _hangup(self, channel: str, writer: asyncio.StreamWriter, aid: str | None) -> None:
        self.count.hangup_actions += 1
        key = channel.encode()
        call = self.by_channel.get(key) or self.calls.get(key)
        if call is None or call.ended:
            self._reply(writer, aid, Response="Error", Message="No such channel")
            return
        self._reply(writer, aid, Message="Channel Hungup")
        call.gen += 1  # what was scheduled is stale: the rest plays now
        now = time.perf_counter()
        for i in range(call.next_group, len(call.template.groups)):
            heapq.heappush(self._heap, (now, next(self._seq), call, i, call.gen))
        self._wake.set()

    # --- playing ----------------------------------------------------------------------------

    async def _player(self) -> None:
        heap = self._heap
        while True:
            if not heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            now = time.perf_counter()
            due = heap[0][0]
            if due > now:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), min(due - now, 0.01))
                except TimeoutError:
                    pass
                continue
            out: list[bytes] = []
            n = 0
            while heap and heap[0][0] <= now:
                _, _, call, i, gen = heapq.heappop(heap)
                if gen != call.gen or i < call.next_group:
                    continue
                call.next_group = i + 1
                out.append(call.blob(i))
                n += call.template.groups[i][1].count(b"\r\n\r\n")
                if i == call.template.last_hangup and not call.ended:
                    call.ended = True
                    self.freed.append(now)
                if call.next_group >= len(call.template.groups):
                    self.calls.pop(call.u1, None)
                    self.by_channel.pop(call.channel + b";1", None)
            self.count.messages += n
            data = b"".join(out)
            for writer in self._writers:
                writer.write(data)
            if self._writers and self._writers[0].transport.get_write_buffer_size() > 1 << 24:
                await self._writers[0].drain()
            await asyncio.sleep(0)

    async def _sample_live(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self.count.live_samples.append(sum(1 for c in self.calls.values() if not c.ended))


def _serve(hold: float, pipe: Connection) -> None:
    async def main() -> None:
        peer = LoadPeer(hold)
        await peer.start()
        pipe.send(peer.port)
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        def command() -> None:
            what = pipe.recv()
            if what == "mark":
                peer.mark()
                pipe.send(True)
            elif what == "report":
                pipe.send(peer.report())
            else:
                done.set()

        loop.add_reader(pipe.fileno(), command)
        await done.wait()

    asyncio.run(main())


class PeerProcess:
    """The peer in a child process: ``port``, then ``mark()`` / ``report()`` / ``stop()``."""

    def __init__(self, hold: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._pipe, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(hold, child), daemon=True)
        self._proc.start()
        self.port: int = self._pipe.recv()

    def mark(self) -> None:
        self._pipe.send("mark")
        self._pipe.recv()

    def report(self) -> dict:
        self._pipe.send("report")
        return self._pipe.recv()

    def stop(self) -> None:
        self._pipe.send("stop")
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
