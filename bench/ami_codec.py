"""Benchmark: AMI parsing throughput of pbx.asterisk.ami.AmiParser vs a naive str parser.

The input is Asterisk's side of every recorded AMI transcript (tests/fixtures/asterisk/ami),
concatenated and repeated to about 100,000 messages, fed in 4 KiB reads like a socket would
deliver them. The baseline, measured in the same run, is the common hand-written approach:
decode each read, append to a str buffer, split on the blank line, split lines on ": ".

AmiParser splits a message's header lines only when they are first read, so two rows are
printed for it: messages framed and decoded (what the baseline's loop structure does before
its header split), and the same plus ``msg.headers`` read for every message (the full work the
baseline does; our client reads every message's ActionID, so this is the path that runs live).

Run: ``python bench/ami_codec.py``. Prints a Markdown table and one JSON line.
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

from pbx.asterisk.ami import AmiMessage, AmiParser  # noqa: E402

BANNER = b"Asterisk Call Manager/9.0.0\r\n"
TARGET_MESSAGES = 100_000
READ_SIZE = 4096
ROUNDS = 3


def build_input() -> tuple[bytes, int]:
    """The fixture S streams without their banners, repeated to ~TARGET_MESSAGES messages."""
    body = b"".join(stream(p, "S").removeprefix(BANNER) for p in files("asterisk/ami"))
    per_copy = body.count(b"\r\n\r\n")
    copies = max(1, round(TARGET_MESSAGES / per_copy))
    return BANNER + body * copies, per_copy * copies


def run_ours(data: bytes) -> int:
    parser = AmiParser()
    count = -1  # the banner is not a message
    for i in range(0, len(data), READ_SIZE):
        parser.feed(data[i : i + READ_SIZE])
        while parser.next_message() is not None:
            count += 1
    return count


def run_ours_headers(data: bytes) -> int:
    """As run_ours, and every message's headers are split (read once)."""
    parser = AmiParser()
    count = -1
    for i in range(0, len(data), READ_SIZE):
        parser.feed(data[i : i + READ_SIZE])
        while (msg := parser.next_message()) is not None:
            count += 1
            if isinstance(msg, AmiMessage):
                msg.headers  # noqa: B018 - the read is the work measured
    return count


def run_naive(data: bytes) -> int:
    """Decode every read on its own and split with str operations (panoramisk-style)."""
    buffer = ""
    count = 0
    banner_seen = False
    for i in range(0, len(data), READ_SIZE):
        buffer += data[i : i + READ_SIZE].decode("utf-8", "ignore")
        if not banner_seen and "\r\n" in buffer:
            _, buffer = buffer.split("\r\n", 1)
            banner_seen = True
        while "\r\n\r\n" in buffer:
            raw, buffer = buffer.split("\r\n\r\n", 1)
            headers = []
            for line in raw.split("\r\n"):
                key, _, value = line.partition(": ")
                headers.append((key, value))
            count += 1
    return count


def best_rates(fns: list[Callable[[bytes], int]], data: bytes, expected: int) -> list[float]:
    """Messages/s of each function, best of ROUNDS; rounds interleave the functions so that
    load from other processes drifting during the run hits all of them alike."""
    best = [float("inf")] * len(fns)
    for _ in range(ROUNDS):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            got = fn(data)
            best[i] = min(best[i], time.perf_counter() - start)
            if got != expected:
                raise SystemExit(f"{fn.__name__}: parsed {got} messages, expected {expected}")
    return [expected / t for t in best]


def main() -> None:
    data, messages = build_input()
    ours, ours_headers, naive = best_rates([run_ours, run_ours_headers, run_naive], data, messages)
    print("| parser | messages/s |")
    print("|---|---:|")
    print(f"| pbx.asterisk.ami.AmiParser | {ours:,.0f} |")
    print(f"| pbx.asterisk.ami.AmiParser, headers read | {ours_headers:,.0f} |")
    print(f"| naive str split (baseline) | {naive:,.0f} |")
    print(f"| ratio ours / baseline | {ours / naive:.2f} |")
    print(f"| ratio ours, headers read / baseline | {ours_headers / naive:.2f} |")
    print()
    print(
        f"{messages:,} messages, {len(data) / 1e6:.1f} MB, {READ_SIZE}-byte reads, best of {ROUNDS}"
    )
    print(
        json.dumps(
            {
                "bench": "ami_codec",
                "messages": messages,
                "bytes": len(data),
                "read_size": READ_SIZE,
                "ours_msgs_per_s": round(ours),
                "ours_headers_read_msgs_per_s": round(ours_headers),
                "baseline_msgs_per_s": round(naive),
                "ratio": round(ours / naive, 3),
                "ratio_headers_read": round(ours_headers / naive, 3),
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
