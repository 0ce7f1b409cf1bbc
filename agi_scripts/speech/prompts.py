"""Prompt text → a sound file the PBX can play, rendered once and cached by content hash.

Files are 8 kHz mono 16-bit WAV, named ``<sha256(engine, voice, text)>.wav`` in the sound
directory; the PBX is given the path without extension (Asterisk's STREAM FILE / GET DATA add
it). A recorded human prompt configured for a prompt key replaces the rendered one.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol

from agi_scripts.speech.engines import SpeechSetupError, TtsEngine, require_tool, run_tool

PBX_RATE = 8000
_Producer = Callable[[Path], Awaitable[None]]  # writes a source WAV at the given path


class PromptSource(Protocol):
    """What the robot asks for each prompt it speaks."""

    async def sound_for(self, key: str, text: str) -> str:
        """Sound name (no extension) the PBX plays for prompt ``key`` saying ``text``."""


def cache_stem(engine_id: str, voice: str, text: str) -> str:
    """Content hash naming a rendered prompt: same engine, voice and text → same file."""
    return hashlib.sha256(f"{engine_id}\0{voice}\0{text}".encode()).hexdigest()


def check_engine(engine: TtsEngine, voices: Iterable[str]) -> None:
    """Start-up check: raise ``SpeechSetupError`` if sox, the engine or a voice is missing."""
    require_tool("sox", "sox")
    engine.check(tuple(voices))


class TtsPromptSource:
    """Renders prompts with a TTS engine into ``sound_dir``; recorded prompts win by key.

    ``pbx_sound_dir`` is the same directory as the PBX sees it (if it is mounted elsewhere).
    At most ``max_parallel`` renders run at once, and concurrent requests for the same text
    share one render.
    """

    def __init__(
        self,
        engine: TtsEngine,
        sound_dir: Path,
        voice: str,
        recordings: Mapping[str, Path] | None = None,
        pbx_sound_dir: str | None = None,
        max_parallel: int = 4,
    ) -> None:
        self.engine = engine
        self.sound_dir = Path(sound_dir)
        self.voice = voice
        self.recordings = dict(recordings or {})
        self.pbx_sound_dir = (pbx_sound_dir or str(self.sound_dir)).rstrip("/")
        self.renders = 0  # how many files this source produced (cache misses)
        self._limit = asyncio.Semaphore(max_parallel)
        self._inflight: dict[str, asyncio.Future[None]] = {}
        self._recorded_stems: dict[str, str] = {}
        self.sound_dir.mkdir(parents=True, exist_ok=True)

    async def sound_for(self, key: str, text: str) -> str:
        recorded = self.recordings.get(key)
        if recorded is not None:
            stem = self._recorded_stems.get(key)
            if stem is None:
                stem = "rec-" + hashlib.sha256(Path(recorded).read_bytes()).hexdigest()
                self._recorded_stems[key] = stem
            await self._ensure(stem, lambda tmp: _copy(Path(recorded), tmp))
        else:
            stem = cache_stem(self.engine.engine_id, self.voice, text)
            await self._ensure(stem, lambda tmp: self.engine.synthesize(text, self.voice, tmp))
        return f"{self.pbx_sound_dir}/{stem}"

    async def prerender(self, prompts: Iterable[tuple[str, str]]) -> int:
        """Render fixed ``(key, text)`` prompts ahead of a campaign; return how many."""
        items = list(prompts)
        await asyncio.gather(*(self.sound_for(key, text) for key, text in items))
        return len(items)

    def path_for(self, sound: str) -> Path:
        """The local WAV file behind a sound name returned by ``sound_for``."""
        return self.sound_dir / (sound.rsplit("/", 1)[-1] + ".wav")

    async def _ensure(self, stem: str, produce: _Producer) -> None:
        final = self.sound_dir / f"{stem}.wav"
        if final.exists():
            return
        pending = self._inflight.get(stem)
        if pending is not None:
            await asyncio.shield(pending)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight[stem] = future
        try:
            async with self._limit:
                await self._render(final, produce)
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._inflight[stem]

    async def _render(self, final: Path, produce: _Producer) -> None:
        with tempfile.TemporaryDirectory(dir=self.sound_dir, prefix=".render-") as tmpdir:
            source = Path(tmpdir) / "source.wav"
            converted = Path(tmpdir) / "pbx.wav"
            await produce(source)
            await run_tool(
                [
                    "sox",
                    "-V1",
                    str(source),
                    "-r",
                    str(PBX_RATE),
                    "-c",
                    "1",
                    "-b",
                    "16",
                    "-e",
                    "signed-integer",
                    str(converted),
                    "norm",
                    "-3",
                ],
                f"sox converting {final.name}",
            )
            os.chmod(converted, 0o644)  # the PBX runs as another user
            os.replace(converted, final)  # atomic: a concurrent process never sees half a file
        self.renders += 1


async def _copy(source: Path, target: Path) -> None:
    target.write_bytes(source.read_bytes())


__all__ = ["PromptSource", "TtsPromptSource", "cache_stem", "check_engine", "SpeechSetupError"]
