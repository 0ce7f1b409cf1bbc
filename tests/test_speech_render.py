"""Prompt rendering: espeak-ng + sox to 8 kHz mono WAV, the cache, recordings, HTTP TTS."""

from __future__ import annotations

import asyncio
import io
import math
import struct
import subprocess
import wave
from pathlib import Path

import pytest
from aiohttp import web

from agi_scripts.speech import (
    EspeakEngine,
    HttpTtsEngine,
    SpeechRenderError,
    SpeechSetupError,
    TtsPromptSource,
    cache_stem,
    check_engine,
)


def soxi(path: Path, flag: str) -> str:
    return subprocess.run(["soxi", flag, str(path)], capture_output=True, text=True,
                          check=True, timeout=10).stdout.strip()  # fmt: skip


def tone_wav(rate: int = 16000, channels: int = 2, seconds: float = 0.3) -> bytes:
    frames = bytearray()
    for i in range(int(rate * seconds)):
        sample = int(8000 * math.sin(2 * math.pi * 440 * i / rate))
        frames += struct.pack("<h", sample) * channels
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return buf.getvalue()


def test_check_engine_passes_with_espeak_and_sox():
    check_engine(EspeakEngine(), ["cmn", "en"])


def test_check_engine_names_what_is_missing():
    with pytest.raises(SpeechSetupError, match="no-such-espeak not found on PATH.*espeak-ng"):
        check_engine(EspeakEngine(executable="no-such-espeak"), ["cmn"])
    with pytest.raises(SpeechSetupError, match="no voice 'qq'"):
        check_engine(EspeakEngine(), ["qq"])
    with pytest.raises(SpeechSetupError, match="expected http"):
        check_engine(HttpTtsEngine("ftp://tts"), [])


@pytest.mark.parametrize(("voice", "text"), [("cmn", "您的欠款三千二百五十元。"), ("en", "Hello.")])
async def test_espeak_renders_8khz_mono_16bit_wav(tmp_path, voice, text):
    source = TtsPromptSource(EspeakEngine(), tmp_path / "sounds", voice, pbx_sound_dir="/snd/pd")
    sound = await source.sound_for("greet.prompt", text)
    stem = cache_stem(EspeakEngine().engine_id, voice, text)
    assert sound == f"/snd/pd/{stem}"  # the PBX plays it without extension
    path = source.path_for(sound)
    assert path == tmp_path / "sounds" / f"{stem}.wav"
    assert (soxi(path, "-r"), soxi(path, "-c"), soxi(path, "-b")) == ("8000", "1", "16")
    assert float(soxi(path, "-D")) > 0.3
    assert not [p for p in (tmp_path / "sounds").iterdir() if p.name.startswith(".render")]


async def test_cache_hit_does_not_render_again(tmp_path):
    first = TtsPromptSource(EspeakEngine(), tmp_path, "cmn")
    name = await first.sound_for("a.prompt", "再见。")
    mtime = first.path_for(name).stat().st_mtime_ns
    assert await first.sound_for("b.prompt", "再见。") == name
    assert first.renders == 1
    # another process (a new source on the same directory) reuses the file too
    second = TtsPromptSource(EspeakEngine(), tmp_path, "cmn")
    assert await second.sound_for("a.prompt", "再见。") == name
    assert second.renders == 0 and first.path_for(name).stat().st_mtime_ns == mtime
    # a different voice or text is a different file
    assert await second.sound_for("a.prompt", "再见!") != name
    assert second.renders == 1


async def test_concurrent_requests_for_one_text_render_once(tmp_path):
    source = TtsPromptSource(EspeakEngine(), tmp_path, "en")
    names = await asyncio.gather(*(source.sound_for("k", "Same words.") for _ in range(10)))
    assert len(set(names)) == 1 and source.renders == 1


async def test_prerender_fixed_prompts(tmp_path):
    source = TtsPromptSource(EspeakEngine(), tmp_path, "en")
    count = await source.prerender([("a.prompt", "One."), ("b.prompt", "Two.")])
    assert count == 2 and source.renders == 2
    assert len(list(tmp_path.glob("*.wav"))) == 2


async def test_recorded_prompt_overrides_rendering(tmp_path):
    recording = tmp_path / "human_disclosure.wav"
    recording.write_bytes(tone_wav(rate=44100, channels=2))
    source = TtsPromptSource(EspeakEngine(), tmp_path / "snd", "cmn",
                             recordings={"disclosure.prompt": recording})  # fmt: skip
    name = await source.sound_for("disclosure.prompt", "本次通话将被录音。")
    assert name.rsplit("/", 1)[-1].startswith("rec-")
    path = source.path_for(name)
    assert (soxi(path, "-r"), soxi(path, "-c")) == ("8000", "1")
    assert abs(float(soxi(path, "-D")) - 0.3) < 0.01  # the recording, not synthesized speech
    other = await source.sound_for("greet.prompt", "您好。")
    assert not other.rsplit("/", 1)[-1].startswith("rec-")


async def test_espeak_failure_is_a_render_error(tmp_path):
    source = TtsPromptSource(EspeakEngine(), tmp_path, "qq")
    with pytest.raises(SpeechRenderError, match="espeak-ng voice qq.*exited"):
        await source.sound_for("k", "text")
    assert list(tmp_path.glob("*.wav")) == []


@pytest.fixture
async def tts_server():
    """A local stand-in for a center's TTS service on 127.0.0.1."""
    received: list[dict] = []

    async def speak(request: web.Request) -> web.Response:
        body = await request.json()
        received.append({"body": body, "auth": request.headers.get("Authorization")})
        return web.Response(body=tone_wav(), content_type="audio/wav")

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=503, text="engine overloaded")

    async def not_audio(request: web.Request) -> web.Response:
        return web.Response(text="<html>login</html>", content_type="text/html")

    app = web.Application()
    app.router.add_post("/tts", speak)
    app.router.add_post("/broken", broken)
    app.router.add_post("/html", not_audio)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", received
    await runner.cleanup()


async def test_http_engine_posts_text_and_converts_reply(tmp_path, tts_server):
    base, received = tts_server
    engine = HttpTtsEngine(f"{base}/tts", headers={"Authorization": "Bearer s3cret"})
    try:
        check_engine(engine, ["zh-female"])
        source = TtsPromptSource(engine, tmp_path, "zh-female")
        name = await source.sound_for("greet.prompt", "您好，张三。")
        again = await source.sound_for("greet.prompt", "您好，张三。")
    finally:
        await engine.close()
    assert name == again and len(received) == 1
    assert received[0] == {"body": {"text": "您好，张三。", "voice": "zh-female"},
                           "auth": "Bearer s3cret"}  # fmt: skip
    path = source.path_for(name)
    assert (soxi(path, "-r"), soxi(path, "-c"), soxi(path, "-b")) == ("8000", "1", "16")
    assert name.endswith(cache_stem(f"http:{base}/tts", "zh-female", "您好，张三。"))


@pytest.mark.parametrize(
    ("route", "message"), [("/broken", "HTTP 503: engine overloaded"), ("/html", "not a WAV file")]
)
async def test_http_engine_errors_name_the_url(tmp_path, tts_server, route, message):
    base, _ = tts_server
    engine = HttpTtsEngine(f"{base}{route}", headers={"Authorization": "Bearer s3cret"})
    source = TtsPromptSource(engine, tmp_path, "v")
    try:
        with pytest.raises(SpeechRenderError) as err:
            await source.sound_for("k", "hi")
    finally:
        await engine.close()
    assert f"HTTP TTS {base}{route} voice v" in str(err.value)
    assert message in str(err.value)
    assert "s3cret" not in str(err.value)


async def test_http_engine_unreachable_service(tmp_path):
    engine = HttpTtsEngine("http://127.0.0.1:9/tts", timeout=2)
    try:
        with pytest.raises(SpeechRenderError, match="HTTP TTS http://127.0.0.1:9/tts"):
            await TtsPromptSource(engine, tmp_path, "v").sound_for("k", "hi")
    finally:
        await engine.close()
