"""``pacedial campaign check FILE...``: validate a campaign file completely, without a PBX.

Every section as ``pacedial run`` reads it: the campaign, dialing, queue, pacing, compliance
(preset rules, holidays), caller-ID pools, SMS reminders, and the answered-call sections —
routing, the robot scripts it names (loaded and checked) and their sounds (rendered with the
campaign's speech engine into a scratch folder, so a missing espeak-ng or voice shows here).
An unknown top-level table is an error too (a typo would otherwise be ignored). The first
problem exits 2 with ``file: key: expected ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from agi_scripts.handling import build_call_handling
from agi_scripts.speech.engines import SpeechRenderError, SpeechSetupError
from dialer_core.campaign.config import parse_campaign
from dialer_core.config_errors import ConfigError, read_toml
from dialer_core.sms.config import sms_config_for

TABLES = (
    "campaign",
    "dialing",
    "queue",
    "pacing",
    "compliance",
    "callerid",
    "sms",
    "routing",
    "robot",
    "amd",
    "recording",
)


async def check_campaign(path: Path) -> str:
    """One line describing a valid campaign file; raises ConfigError at the first problem."""
    source = str(path)
    doc = read_toml(path, "the campaign file")
    unknown = sorted(set(doc) - set(TABLES))
    if unknown:
        raise ConfigError(source, unknown[0], "one of the tables " + ", ".join(TABLES))
    campaign = parse_campaign(doc, source)
    sms = sms_config_for(campaign, base_dir=path.parent)
    with tempfile.TemporaryDirectory(prefix="pacedial-check-") as scratch:
        try:
            handling = await build_call_handling(doc, source, sound_dir=Path(scratch))
        except (SpeechSetupError, SpeechRenderError) as exc:
            raise ConfigError(
                source, "robot.engine", f"a speech engine that works ({exc})"
            ) from exc
    scripts = sorted(handling.prompts) or ["none"]
    return (
        f"{path}: ok — campaign {campaign.name!r}, {campaign.mode} pacing, queue "
        f"{campaign.queue!r}, compliance {campaign.compliance.preset or 'custom'}, robot "
        f"scripts {', '.join(scripts)}, SMS {'on' if sms else 'off'}"
    )


def main(argv: list[str], out=sys.stdout) -> int:  # noqa: ANN001 - a text stream
    """Entry point for ``pacedial campaign``."""
    parser = argparse.ArgumentParser(prog="pacedial campaign", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate campaign files (no PBX needed)")
    check.add_argument("files", nargs="+")
    args = parser.parse_args(argv)

    async def run() -> None:
        for name in args.files:
            print(await check_campaign(Path(name)), file=out)

    asyncio.run(run())
    return 0
