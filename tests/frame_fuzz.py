"""Mutated PBX frames for the codecs: recorded AMI, FastAGI and ESL frames, broken on purpose.

Each frame from tests/fixtures is mutated (bit flips, cuts, duplicated runs, hostile tokens:
deep JSON nesting, 5,000-digit integers, NUL bytes, floods of blank lines, lying
Content-Length headers...) and fed to a fresh codec the way a client reads it, touching every
field a client reads. A codec may return messages or raise its documented protocol error;
anything else is a crash. ESL bodies are re-framed with a correct Content-Length half the time
so that mutated JSON really reaches the JSON decoder.

Used by tests/test_codec_fuzz.py (thousands of frames) and bench/fuzz.py (a million each).
"""

from __future__ import annotations

import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from transcripts import files, load

from pbx.asterisk.agi import NEED_DATA, AgiConnection, AgiProtocolError
from pbx.asterisk.ami import AmiMessage, AmiParser, AmiProtocolError
from pbx.freeswitch.esl import EslParser, EslProtocolError

COMMON = [b"\x00", b"\xff\xfe", b"\r", b"\n", b"\n\n", b"\r\n\r\n", "张".encode(), b"%", b"%ZZ"]
ESL_TOKENS = [
    b"[" * 5000,
    b'{"a":' * 3000,
    b"[" * 40 + b"]" * 40,
    b"9" * 5000,
    b"-" + b"9" * 400,
    b"1e999999",
    b"NaN",
    b"Infinity",
    b'"\\ud800"',
    b'"\\u0000"',
    b"Content-Length: 99999999999\n",
    b"Content-Length: -1\n",
    b"Content-Length: 5\n",
    b"Content-Type: text/event-json\n",
    b"Content-Type: text/event-plain\n",
    b'{"Event-Name": {"x": [1, 2, {"y": null}]}}',
]
AMI_TOKENS = [b"\r\n" * 2000, b"\n" * 2000, b":" * 100, b"Key:\r\n", b"ActionID: " + b"9" * 5000]
AGI_TOKENS = [
    b"200 result=" + b"9" * 5000 + b"\n",
    b"HANGUP\n",
    b"520-Invalid command syntax.\n",
    b"520 End of proper usage.\n",
    b"511 Command Not Permitted\n",
    b"200 result=1 (" + b"x" * 3000 + b") endpos=" + b"9" * 500 + b"\n",
    b"agi_" + b"x" * 200 + b": y\n",
]


def _esl_frames() -> list[bytes]:
    out: list[bytes] = []
    for path in [*files("freeswitch/inbound"), *files("freeswitch/outbound")]:
        parser = EslParser()
        parser.feed(b"".join(c.data for c in load(path) if c.direction == "S"))
        while (msg := parser.next_message()) is not None:
            head = b"".join(f"{k}: {v}\n".encode() for k, v in msg.headers)
            out.append(head + b"\n" + msg.body)
    return out


def _ami_frames() -> list[bytes]:
    out: list[bytes] = []
    for path in files("asterisk/ami"):
        parser = AmiParser()
        parser.feed(b"".join(c.data for c in load(path) if c.direction == "S"))
        for msg in parser:
            if isinstance(msg, AmiMessage):
                out.append(b"".join(f"{k}: {v}\r\n".encode() for k, v in msg.headers) + b"\r\n")
    return out


def _agi_frames() -> list[tuple[str, bytes]]:
    """("env", agi_ block) or (command, Asterisk's bytes after it)."""
    out: list[tuple[str, bytes]] = []
    for path in files("asterisk/agi"):
        command = "env"
        run = bytearray()
        for chunk in load(path):
            if chunk.direction == "C":
                if run:
                    out.append((command, bytes(run)))
                    run.clear()
                command = chunk.data.decode().rstrip("\n")
            else:
                run += chunk.data
        if run:
            out.append((command, bytes(run)))
    return out


def _reframe_esl(frame: bytes, body: bytes) -> bytes:
    head = frame.split(b"\n\n", 1)[0]
    lines = [ln for ln in head.split(b"\n") if not ln.startswith(b"Content-Length:")]
    return b"\n".join([*lines, b"Content-Length: %d" % len(body)]) + b"\n\n" + body


class Mutator:
    """Seeded mutations of one frame with a protocol's hostile tokens."""

    def __init__(self, seed: int, tokens: list[bytes]) -> None:
        self.rng = random.Random(seed)
        self.tokens = [*COMMON, *tokens]

    def mutate(self, data: bytes) -> bytes:
        rng = self.rng
        buf = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            op = rng.randrange(6)
            pos = rng.randint(0, len(buf))
            if op == 0 and buf:  # flip bits in one byte
                i = rng.randrange(len(buf))
                buf[i] ^= 1 << rng.randrange(8)
            elif op == 1:  # a hostile token
                buf[pos:pos] = rng.choice(self.tokens)
            elif op == 2:  # cut a run
                del buf[pos : pos + rng.randint(1, 64)]
            elif op == 3 and buf:  # duplicate a run
                start = rng.randrange(len(buf))
                buf[pos:pos] = buf[start : start + rng.randint(1, 256)]
            elif op == 4:  # truncate
                del buf[pos:]
            else:  # replace a value (after ": ") with a token
                at = buf.find(b": ", pos)
                if at >= 0:
                    buf[at + 2 : at + 2] = rng.choice(self.tokens)
        return bytes(buf)

    def poison_value(self, data: bytes) -> bytes:
        """A hostile token in place of the start of one value (after a ``": "``)."""
        at = data.find(b": ", self.rng.randint(0, len(data)))
        if at < 0:
            at = data.find(b": ")
        if at < 0:
            return self.mutate(data)
        return data[: at + 2] + self.rng.choice(self.tokens) + data[at + 2 :]


def feed_esl(data: bytes) -> int:
    parser = EslParser()
    parser.feed(data)
    seen = 0
    while (msg := parser.next_message()) is not None:
        _ = msg.event, msg.reply_text, msg.ok, msg.text, msg.content_type
        if msg.is_connect_reply:
            _ = dict(msg.channel_data)
        seen += 1
    return seen


def feed_ami(data: bytes) -> int:
    parser = AmiParser(expect_banner=False)
    parser.feed(data)
    seen = 0
    while (msg := parser.next_message()) is not None:
        if isinstance(msg, AmiMessage):
            _ = msg.headers, msg.event, msg.action_id, msg.get("Cause"), msg.summary()
        seen += 1
    return seen


def feed_agi(command: str, data: bytes) -> int:
    conn = AgiConnection()
    if command != "env":
        conn.receive_data(b"agi_network: yes\nagi_uniqueid: 1\n\n")
        conn.next_event()
        conn.send_command(command)
    conn.receive_data(data)
    seen = 0
    while conn.next_event() is not NEED_DATA:
        seen += 1
        if conn.pending_command is None and not conn.hung_up and conn.environment is not None:
            conn.send_command("ANSWER")
    return seen


@dataclass
class Counts:
    """What a fuzz run saw: frames fed, messages out, protocol errors, crashes (with examples)."""

    kind: str
    frames: int = 0
    messages: int = 0
    protocol_errors: int = 0
    crashes: int = 0
    examples: list[str] = field(default_factory=list)


def fuzz(kind: str, frames: int, seed: int = 1) -> Counts:
    """Feed ``frames`` mutated frames of ``kind`` (ami, agi, esl); count what happened."""
    counts = Counts(kind)
    if kind == "esl":
        base_esl = _esl_frames()
        mut = Mutator(seed, ESL_TOKENS)

        def one(i: int) -> int:
            frame = base_esl[i % len(base_esl)]
            draw = mut.rng.random()
            if draw < 0.5 and b"\n\n" in frame:
                body = frame.split(b"\n\n", 1)[1]
                body = mut.poison_value(body) if draw < 0.25 else mut.mutate(body)
                return feed_esl(_reframe_esl(frame, body))
            return feed_esl(mut.mutate(frame))

        expected: tuple[type[Exception], ...] = (EslProtocolError,)
    elif kind == "ami":
        base_ami = _ami_frames()
        mut = Mutator(seed, AMI_TOKENS)

        def one(i: int) -> int:
            return feed_ami(mut.mutate(base_ami[i % len(base_ami)]))

        expected = (AmiProtocolError,)
    elif kind == "agi":
        base_agi = _agi_frames()
        mut = Mutator(seed, AGI_TOKENS)

        def one(i: int) -> int:
            command, data = base_agi[i % len(base_agi)]
            return feed_agi(command, mut.mutate(data))

        expected = (AgiProtocolError,)
    else:
        raise ValueError(f"kind must be ami, agi or esl, got {kind!r}")
    run(one, frames, expected, counts)
    return counts


def run(
    one: Callable[[int], int], frames: int, expected: tuple[type[Exception], ...], c: Counts
) -> None:
    for i in range(frames):
        c.frames += 1
        try:
            c.messages += one(i)
        except expected:
            c.protocol_errors += 1
        except Exception:  # a crash: what the codec must never do
            c.crashes += 1
            if len(c.examples) < 5:
                c.examples.append(f"frame {i}: {traceback.format_exc(limit=3)}")
