"""``pacedial robot check script.toml [...]``: validate robot scripts before a campaign."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agi_scripts.robot.check import check_script


def main(argv: Sequence[str] | None = None) -> int:
    """Run the robot subcommand; return 0 if every script is clean, 1 if any has problems."""
    parser = argparse.ArgumentParser(prog="pacedial robot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate robot script files")
    check.add_argument("scripts", nargs="+", help="script TOML files")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.scripts:
        problems = check_script(path)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            failed += 1
        else:
            print(f"{path}: ok")
    if failed:
        print(f"{failed} of {len(args.scripts)} script(s) have problems", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
