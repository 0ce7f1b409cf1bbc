"""``pacedial pbx render|check --site SITE [--campaign FILE ...]``.

``render --out DIR`` writes the snippets and sounds the site's PBX needs (docs/deploy.md says
where each goes); ``check`` prints the live PBX's checklist and exits 11 (EXIT_CHECK_FAILED)
when an item fails.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from dialer_core.campaign.config import load_campaign
from dialer_core.face.pbx_check import CheckInput, run_checks
from dialer_core.face.pbx_render import DEFAULT_DROP, RenderPlan, render
from dialer_core.face.site import load_site
from dialer_core.operator_errors import EXIT_CHECK_FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pacedial pbx", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("render", "write the PBX snippets and sounds"), ("check", "check the PBX")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--site", required=True, help="site TOML")
        cmd.add_argument(
            "--campaign", action="append", default=[], help="campaign TOML (repeatable)"
        )
    render_cmd = sub.choices["render"]
    render_cmd.add_argument("--out", required=True, help="directory to write into")
    render_cmd.add_argument(
        "--dialer-host",
        default=None,
        help="address the PBX reaches pacedial at (default: [fastagi] host, else 127.0.0.1)",
    )
    render_cmd.add_argument("--drop-message", default=None, help="text of the drop message")
    render_cmd.add_argument("--voice", default="zh", help="espeak-ng voice (zh)")
    sub.choices["check"].add_argument(
        "--sounds", default=None, help="the PBX's sound directory as this host sees it"
    )
    return parser


async def _run(args: argparse.Namespace, out) -> int:  # noqa: ANN001 - a text stream
    site = load_site(args.site)
    campaigns = tuple(load_campaign(path) for path in args.campaign)
    if args.command == "render":
        host = args.dialer_host
        if host is None:
            listen = (
                site.freeswitch.outbound_host if site.pbx == "freeswitch" else site.fastagi_host
            )
            host = "127.0.0.1" if listen in ("0.0.0.0", "::", "") else listen
        text = args.drop_message or DEFAULT_DROP.get(args.voice.split("-")[0], DEFAULT_DROP["en"])
        plan = RenderPlan(site, campaigns, host, text, args.voice)
        for path in await render(plan, Path(args.out)):
            print(path, file=out)
        return 0
    sounds = Path(args.sounds) if args.sounds else None
    checks = await run_checks(CheckInput(site, campaigns, sounds))
    for check in checks:
        print(check.line(), file=out)
    failed = sum(1 for c in checks if c.ok is False)
    print(f"{len(checks) - failed} of {len(checks)} items ok, {failed} failed", file=out)
    return EXIT_CHECK_FAILED if failed else 0


def main(argv: list[str], out=sys.stdout) -> int:  # noqa: ANN001 - a text stream
    """Entry point for ``pacedial pbx``."""
    return asyncio.run(_run(build_parser().parse_args(argv), out))
