"""A campaign's answered-call settings, built once when the campaign starts.

``[routing]`` (robot or human queue), ``[robot]`` (scripts, speech), ``[amd]`` (answering
machine detection) and ``[recording]`` of the campaign TOML, validated, with the robot scripts
loaded and their fixed prompts rendered ahead of the first call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agi_scripts.robot import load_script_dir
from agi_scripts.robot.script import Script
from agi_scripts.router import RoutingStrategy, parse_strategy
from agi_scripts.speech.engines import EspeakEngine, HttpTtsEngine
from agi_scripts.speech.prompts import TtsPromptSource, check_engine
from dialer_core.config_errors import ConfigError, reject_unknown, take
from dialer_core.package_data import conf_path
from pbx.sounds import find_sound

AMD_ACTIONS = ("hangup", "message", "human")
# Channel variable the dialer sets on every Originate: "off" when the pacing policy turned AMD
# off for this call (pacing.amd_plan); the answered-call handler then sends it to an agent.
AMD_VARIABLE = "PACEDIAL_AMD"


@dataclass(frozen=True)
class AmdSettings:
    enabled: bool = False
    action: str = "hangup"  # on MACHINE: hangup | message (leave a message) | human (ignore)
    message_prompt: str = ""  # the sound played to a machine when action = "message"


@dataclass
class CallHandling:
    """Everything the answered-call handler needs for one campaign."""

    strategy: RoutingStrategy | None = None  # None: every answered call goes to the queue
    scripts: dict[str, Script] = field(default_factory=dict)
    prompts: dict[str, TtsPromptSource] = field(default_factory=dict)  # by script name
    repayment_channel: str = ""
    amd: AmdSettings = AmdSettings()
    record: bool = False
    retention_days: int | None = None  # recordings older than this are deleted (None: kept)
    sound_dir: Path | None = None  # pacedial's sounds (the drop message), as this host sees it
    pbx_sound_dir: str | None = None  # the same folder as the PBX sees it (if mounted elsewhere)

    def pbx_sound(self, name: str) -> str:
        """What the PBX must play for sound ``name``: its path in pacedial's sounds folder as
        the PBX sees it (no extension: the PBX picks the format) when the file is there, else
        ``name`` unchanged (a sound of the PBX's own)."""
        if self.sound_dir is None or find_sound(name, self.sound_dir) is None:
            return name
        folder = (self.pbx_sound_dir or str(self.sound_dir)).rstrip("/")
        return f"{folder}/{Path(name).name}" if not Path(name).is_absolute() else name

    async def close(self) -> None:
        engines = {id(p.engine): p.engine for p in self.prompts.values()}
        for engine in engines.values():
            close = getattr(engine, "close", None)
            if close is not None:
                await close()


def _engine(robot: dict[str, Any], source: str):
    kind = take(robot, "engine", str, "espeak", source, "robot.")
    if kind == "espeak":
        return EspeakEngine()
    if kind == "http":
        url = take(robot, "tts_url", str, "", source, "robot.")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(source, "robot.tts_url", "an http(s) URL of the TTS service", url)
        return HttpTtsEngine(url)
    raise ConfigError(source, "robot.engine", "espeak or http", kind)


async def build_call_handling(
    doc: dict[str, Any], source: str, *, sound_dir: Path | None = None
) -> CallHandling:
    """Validate the answered-call sections of a campaign document and prepare the robot."""
    robot = take(doc, "robot", dict, {}, source, "")
    reject_unknown(
        robot,
        {"scripts_dir", "sound_dir", "pbx_sound_dir", "engine", "tts_url", "repayment_channel"},
        source,
        "robot.",
    )
    amd_t = take(doc, "amd", dict, {}, source, "")
    reject_unknown(amd_t, {"enabled", "action", "message_prompt"}, source, "amd.")
    amd = AmdSettings(
        enabled=take(amd_t, "enabled", bool, False, source, "amd."),
        action=take(amd_t, "action", str, "hangup", source, "amd."),
        message_prompt=take(amd_t, "message_prompt", str, "", source, "amd."),
    )
    if amd.action not in AMD_ACTIONS:
        raise ConfigError(source, "amd.action", " | ".join(AMD_ACTIONS), amd.action)
    if amd.action == "message" and not amd.message_prompt:
        raise ConfigError(source, "amd.message_prompt", "a sound to play when action = message")
    rec_t = take(doc, "recording", dict, {}, source, "")
    reject_unknown(rec_t, {"enabled", "retention_days"}, source, "recording.")
    retention = take(rec_t, "retention_days", int, None, source, "recording.")
    if retention is not None and retention < 1:
        raise ConfigError(source, "recording.retention_days", "a number of days ≥ 1", retention)
    handling = CallHandling(
        retention_days=retention,
        amd=amd,
        record=take(rec_t, "enabled", bool, False, source, "recording."),
        repayment_channel=take(robot, "repayment_channel", str, "", source, "robot."),
        sound_dir=sound_dir,
        pbx_sound_dir=robot.get("pbx_sound_dir"),
    )
    routing = doc.get("routing")
    if routing is None:
        return handling
    scripts_dir = Path(take(robot, "scripts_dir", str, str(conf_path("robot")), source, "robot."))
    handling.scripts = load_script_dir(scripts_dir)
    handling.strategy = parse_strategy(routing, source, known_scripts=handling.scripts.keys())
    used = {r.decision.script for r in handling.strategy.rules if r.decision.script}
    if handling.strategy.default.script:
        used.add(handling.strategy.default.script)
    if not used:
        return handling
    engine = _engine(robot, source)
    check_engine(engine, {handling.scripts[name].voice for name in used})
    target = Path(
        take(
            robot, "sound_dir", str, str(sound_dir or "/var/lib/pacedial/sounds"), source, "robot."
        )
    )
    for name in sorted(used):
        script = handling.scripts[name]
        prompts = TtsPromptSource(
            engine,
            target,
            script.voice,
            recordings=script.recordings or None,
            pbx_sound_dir=robot.get("pbx_sound_dir"),
        )
        await prompts.prerender(script.fixed_prompts())
        handling.prompts[name] = prompts
    return handling
