"""The simulated PBX's recordings: a real (short) WAV file per recorded call."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 8000  # what Asterisk's MixMonitor and FreeSWITCH's record_session write for telephony
SECONDS = 1.0  # a short tone: enough for the pipeline (duration, checksum) to be real


def write_recording(directory: str, name: str) -> Path | None:
    """Write ``name`` (a bare file name; directories are not honoured) into ``directory``.

    Returns the path, or None when the sim has no recordings directory configured.
    """
    if not directory:
        return None
    path = Path(directory) / Path(name.split(",", 1)[0].strip()).name
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / RATE)))
        for i in range(int(RATE * SECONDS))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(frames)
    return path
