"""Fuzz bench: a million mutated frames each through the AMI, FastAGI and ESL codecs.

Frames come from the recorded Asterisk 20 / FreeSWITCH 1.10 captures in tests/fixtures and are
mutated by tests/frame_fuzz.py (bit flips, cuts, duplicated runs, and hostile tokens: JSON
nested 5,000 deep, 5,000-digit integers, NUL bytes, floods of empty lines, lying
Content-Length). A crash is any exception other than the codec's documented protocol error.

It also measures what a flood of empty AMI lines costs against the same number of bytes of
real AMI events (the baseline, in the same run).

Target: 0 crashes in 1,000,000 frames per codec; empty lines no dearer than real events.

Run: ``python bench/fuzz.py [--frames N] [--seed S]``. Prints a Markdown table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from frame_fuzz import fuzz  # noqa: E402

from pbx.asterisk.ami import AmiParser  # noqa: E402

READ = 65536
EVENT = b"Event: Newstate\r\nChannel: PJSIP/trunk-00000001\r\nUniqueid: 1764000000.1\r\n\r\n"


def ami_flood_cost(reads: int = 200) -> dict[str, float]:
    """Milliseconds per 64 KiB read: empty lines (CRLF, LF) beside real events."""
    out: dict[str, float] = {}
    streams = {
        "events": (EVENT * (READ // len(EVENT) + 1))[:READ],
        "empty_crlf": b"\r\n" * (READ // 2),
        "empty_lf": b"\n" * READ,
    }
    for name, blob in streams.items():
        parser = AmiParser(expect_banner=False)
        start = time.perf_counter()
        for _ in range(reads):
            parser.feed(blob)
            parser.messages()
        out[name] = (time.perf_counter() - start) / reads * 1000
    return out


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--frames", type=int, default=1_000_000)
    args.add_argument("--seed", type=int, default=1)
    opts = args.parse_args(argv)
    rows = []
    for kind in ("ami", "agi", "esl"):
        start = time.perf_counter()
        counts = fuzz(kind, opts.frames, opts.seed)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "codec": kind,
                "frames": counts.frames,
                "messages": counts.messages,
                "protocol_errors": counts.protocol_errors,
                "crashes": counts.crashes,
                "seconds": round(seconds, 1),
            }
        )
        for example in counts.examples:
            print(example, file=sys.stderr)
    flood = ami_flood_cost()
    print("| codec | frames | messages | protocol errors | crashes | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['codec']} | {r['frames']:,} | {r['messages']:,} | {r['protocol_errors']:,} "
            f"| {r['crashes']} | {r['seconds']} |"
        )
    print()
    print("| AMI 64 KiB read of | ms | × real events |")
    print("|---|---:|---:|")
    for name, ms in flood.items():
        print(f"| {name} | {ms:.3f} | {ms / flood['events']:.2f} |")
    print(
        json.dumps(
            {
                "bench": "fuzz",
                "python": platform.python_version(),
                "seed": opts.seed,
                "codecs": rows,
                "ami_flood_ms_per_64k": {k: round(v, 4) for k, v in flood.items()},
                "crashes_total": sum(r["crashes"] for r in rows),
            }
        )
    )
    return 1 if any(r["crashes"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
