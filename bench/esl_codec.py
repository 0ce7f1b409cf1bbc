"""Benchmark: events parsed per second by pbx.freeswitch.esl, ``event json`` beside ``event plain``.

The input is every event FreeSWITCH 1.10.12 sent in the recorded inbound captures
(tests/fixtures/freeswitch/inbound: CHANNEL_CREATE ... CHANNEL_HANGUP_COMPLETE with 130-150
headers, BACKGROUND_JOB, HEARTBEAT). The same events are written a second time as
``text/event-plain`` (URL-encoded header lines, the inner Content-Length block of a background
job) with the simulated PBX's encoder, so both formats carry exactly the same events. Each
stream is repeated to about 30,000 events and fed in 64 KiB reads, as a socket delivers them;
an event counts once it is framed *and* decoded into an ``EslEvent`` (``message.event``), which
is what the inbound client does for every event.

Target (issue 6): at least 30,000 ``event json`` events per second on one core.

Run: ``python bench/esl_codec.py``. Prints a Markdown table and one JSON line.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from transcripts import files, stream  # noqa: E402

from pbx.freeswitch.esl import EslParser  # noqa: E402
from pbx.sim.esl_wire import encode_event  # noqa: E402

TARGET_EVENTS = 30_000
READ_SIZE = 65536
ROUNDS = 3
TARGET_RATE = 30_000


def recorded_events() -> list[tuple[tuple[tuple[str, str], ...], str, bytes]]:
    """(header pairs in wire order, inner body, the framed json message) of every event."""
    out = []
    for path in files("freeswitch/inbound"):
        parser = EslParser()
        parser.feed(stream(path, "S"))
        while (msg := parser.next_message()) is not None:
            if msg.content_type != "text/event-json":
                continue
            pairs = json.loads(msg.body, object_pairs_hook=lambda p: p)
            headers = tuple((k, str(v)) for k, v in pairs if k not in ("_body", "Content-Length"))
            body = next((v for k, v in pairs if k == "_body"), "")
            framed = f"Content-Length: {len(msg.body)}\nContent-Type: text/event-json\n\n"
            out.append((headers, body, framed.encode() + msg.body))
    return out


def build_inputs() -> tuple[bytes, bytes, int]:
    """The json and plain streams (same events), repeated to about TARGET_EVENTS events."""
    events = recorded_events()
    as_json = b"".join(framed for _, _, framed in events)
    as_plain = b"".join(encode_event(h, body, "plain") for h, body, _ in events)
    copies = max(1, round(TARGET_EVENTS / len(events)))
    return as_json * copies, as_plain * copies, len(events) * copies


def parse_events(data: bytes) -> int:
    """Frame and decode every event; the number of events."""
    parser = EslParser()
    count = 0
    for i in range(0, len(data), READ_SIZE):
        parser.feed(data[i : i + READ_SIZE])
        while (msg := parser.next_message()) is not None:
            if msg.event is not None:
                count += 1
    return count


def best_rates(runs: list[tuple[Callable[[bytes], int], bytes]], expected: int) -> list[float]:
    """Events/s of each run, best of ROUNDS; rounds interleave so drifting load hits all alike."""
    best = [float("inf")] * len(runs)
    for _ in range(ROUNDS):
        for i, (fn, data) in enumerate(runs):
            start = time.perf_counter()
            got = fn(data)
            best[i] = min(best[i], time.perf_counter() - start)
            if got != expected:
                raise SystemExit(f"run {i}: parsed {got} events, expected {expected}")
    return [expected / t for t in best]


def main() -> None:
    as_json, as_plain, events = build_inputs()
    rate_json, rate_plain = best_rates([(parse_events, as_json), (parse_events, as_plain)], events)
    print("| format | events/s | MB/s |")
    print("|---|---:|---:|")
    json_mb = len(as_json) / 1e6 * rate_json / events
    plain_mb = len(as_plain) / 1e6 * rate_plain / events
    print(f"| event json | {rate_json:,.0f} | {json_mb:.1f} |")
    print(f"| event plain | {rate_plain:,.0f} | {plain_mb:.1f} |")
    print(f"| ratio json / plain | {rate_json / rate_plain:.2f} | |")
    verdict = "met" if rate_json >= TARGET_RATE else "MISSED"
    print()
    print(
        f"{events:,} events per format ({len(as_json) / 1e6:.1f} MB json, "
        f"{len(as_plain) / 1e6:.1f} MB plain), {READ_SIZE}-byte reads, best of {ROUNDS}; "
        f"target {TARGET_RATE:,} json events/s: {verdict}"
    )
    print(
        json.dumps(
            {
                "bench": "esl_codec",
                "events": events,
                "json_bytes": len(as_json),
                "plain_bytes": len(as_plain),
                "read_size": READ_SIZE,
                "json_events_per_s": round(rate_json),
                "plain_events_per_s": round(rate_plain),
                "ratio_json_plain": round(rate_json / rate_plain, 3),
                "target_json_events_per_s": TARGET_RATE,
                "target_met": rate_json >= TARGET_RATE,
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
