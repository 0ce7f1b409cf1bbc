"""Text-to-speech engines: espeak-ng (default) and a center's own HTTP TTS service.

An engine writes a WAV file in whatever format it produces; ``PromptSource`` converts it to the
PBX's format with sox. Engines run external processes or HTTP requests, never in the event loop.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp

ENGINE_TIMEOUT = 30.0  # seconds one synthesis may take before it is abandoned


class SpeechSetupError(RuntimeError):
    """A speech tool or voice is missing or misconfigured (raised at start-up)."""


class SpeechRenderError(RuntimeError):
    """Rendering one prompt failed; the message names the engine, the voice and the cause."""


class TtsEngine(Protocol):
    """Something that turns text into a WAV file."""

    @property
    def engine_id(self) -> str:
        """Stable identity of the engine (part of the cache key: same id → same audio)."""

    def check(self, voices: tuple[str, ...]) -> None:
        """Raise ``SpeechSetupError`` naming what is missing if ``voices`` cannot be rendered."""

    async def synthesize(self, text: str, voice: str, out: Path) -> None:
        """Write ``text`` spoken with ``voice`` as a WAV file at ``out``."""


async def run_tool(argv: list[str], what: str, timeout: float = ENGINE_TIMEOUT) -> bytes:
    """Run an external tool; return stdout or raise ``SpeechRenderError`` with its stderr."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except FileNotFoundError as exc:
        raise SpeechRenderError(f"{what}: {argv[0]} not found on PATH") from exc
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise SpeechRenderError(f"{what}: {argv[0]} took longer than {timeout:g} s") from None
    if proc.returncode != 0:
        detail = err.decode("utf-8", "replace").strip()[:300]
        raise SpeechRenderError(f"{what}: {argv[0]} exited {proc.returncode}: {detail}")
    return out


def require_tool(name: str, package: str) -> str:
    """Path of an executable, or ``SpeechSetupError`` telling which package provides it."""
    found = shutil.which(name)
    if not found:
        raise SpeechSetupError(
            f"{name} not found on PATH: install the {package} package "
            f"(Debian/Ubuntu: apt-get install {package})"
        )
    return found


class EspeakEngine:
    """espeak-ng: offline, robotic but intelligible; voices ``cmn`` (Mandarin) and ``en``."""

    def __init__(self, executable: str = "espeak-ng", speed: int = 150) -> None:
        self.executable = executable
        self.speed = speed

    @property
    def engine_id(self) -> str:
        return f"espeak-ng:s{self.speed}"

    def check(self, voices: tuple[str, ...]) -> None:
        exe = require_tool(self.executable, "espeak-ng")
        for voice in voices:
            probe = subprocess.run(
                [exe, "-q", "-v", voice, "x"], capture_output=True, text=True, timeout=10
            )
            if probe.returncode != 0:
                raise SpeechSetupError(
                    f"espeak-ng has no voice {voice!r} ({probe.stderr.strip()}); "
                    "see `espeak-ng --voices` for the installed ones"
                )

    async def synthesize(self, text: str, voice: str, out: Path) -> None:
        argv = [self.executable, "-v", voice, "-s", str(self.speed), "-w", str(out), "--", text]
        await run_tool(argv, f"espeak-ng voice {voice}")


class HttpTtsEngine:
    """A center's own TTS service: POST ``{"text", "voice"}`` as JSON, receive ``audio/wav``."""

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = ENGINE_TIMEOUT,
    ) -> None:
        self.url = url
        self._headers = dict(headers or {})  # may carry a token: never logged or put in errors
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def engine_id(self) -> str:
        return f"http:{self.url}"

    def check(self, voices: tuple[str, ...]) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SpeechSetupError(f"HTTP TTS url: expected http(s)://host/path, got {self.url!r}")

    async def synthesize(self, text: str, voice: str, out: Path) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        what = f"HTTP TTS {self.url} voice {voice}"
        try:
            async with self._session.post(
                self.url, json={"text": text, "voice": voice}, headers=self._headers
            ) as resp:
                body = await resp.read()
                if resp.status != 200:
                    snippet = body[:200].decode("utf-8", "replace")
                    raise SpeechRenderError(f"{what}: HTTP {resp.status}: {snippet}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SpeechRenderError(f"{what}: {exc.__class__.__name__}: {exc}") from exc
        if body[:4] != b"RIFF" or body[8:12] != b"WAVE":
            raise SpeechRenderError(f"{what}: response is not a WAV file (starts {body[:12]!r})")
        out.write_bytes(body)

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None
