"""The ``pacedial`` command."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import signal
import sys

from dialer_core.config_errors import InputError
from dialer_core.operator_errors import EXIT_INPUT, OperatorError
from pbx.sim.config import SimConfigError


def _setup_logging(verbose: bool, json_logs: bool) -> None:
    """Plain or JSON lines on stderr; either way phone numbers are masked by a filter and
    repeated warnings are rate-limited with a count."""
    from dialer_core.log_limits import RepeatLimitFilter
    from dialer_core.logs import PhoneMaskFilter, setup_json_logging

    level = logging.INFO if verbose else logging.WARNING
    if json_logs:
        setup_json_logging(level)
        return
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RepeatLimitFilter())  # repeated warnings: a few, then a count
        handler.addFilter(PhoneMaskFilter())


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            continue  # no signal handlers here (e.g. not the main thread)


async def _cmd_import(args: argparse.Namespace) -> int:
    from dialer_core.face.import_cli import run_import

    return await run_import(
        args.csv,
        args.campaign,
        country=args.country,
        encoding=args.encoding,
        strict=args.strict,
        out=sys.stdout,  # the streams of now, not of import time (main called in a process)
        err=sys.stderr,
    )


async def _cmd_db(args: argparse.Namespace) -> int:
    from dialer_core.face.db_cli import run_db

    return await run_db(args.db_command, sys.stdout)


async def _cmd_run(args: argparse.Namespace) -> int:
    from dialer_core.face.live import run_live

    stop = asyncio.Event()
    _stop_on_signals(stop)
    return await run_live(
        args.site, args.campaign, stop, duration=args.duration, metrics_port=args.metrics_port
    )


async def _cmd_demo(args: argparse.Namespace) -> int:
    from dialer_core.face.demo import run_demo

    stop = asyncio.Event()
    _stop_on_signals(stop)
    return await run_demo(
        duration=args.duration,
        agents=args.agents,
        cases=args.cases,
        seed=args.seed,
        time_scale=args.time_scale,
        stop=stop,
        port=args.port,
        pbx=args.pbx,
    )


async def _cmd_serve(args: argparse.Namespace) -> int:
    from dialer_core.face.serve import run_serve

    stop = asyncio.Event()
    _stop_on_signals(stop)
    return await run_serve(args.site, stop)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pacedial", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument(
        "--log-json", action="store_true", help="structured JSON log lines (with the call id)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run a campaign against the simulated PBX (no setup)")
    demo.add_argument("--duration", type=float, default=60.0, help="seconds to dial (60)")
    demo.add_argument("--agents", type=int, default=10, help="simulated agents (10)")
    demo.add_argument("--cases", type=int, default=2000, help="generated cases (2000)")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument(
        "--time-scale", type=float, default=20.0, help="simulated seconds per real second (20)"
    )
    demo.add_argument(
        "--port", type=int, default=8080, help="dashboard port on 127.0.0.1 (8080, else any)"
    )
    demo.add_argument(
        "--pbx",
        choices=["asterisk", "freeswitch"],
        default="asterisk",
        help="which face of the simulated PBX: asterisk (AMI + FastAGI) or freeswitch (ESL)",
    )

    serve = sub.add_parser("serve", help="HTTP API and dashboard for a site and its campaigns")
    serve.add_argument("--site", default=None, help="site TOML (default: embedded database)")

    imp = sub.add_parser("import", help="import a CSV of overdue cases into a campaign")
    imp.add_argument("csv")
    imp.add_argument("--campaign", required=True)
    imp.add_argument("--country", default="CN", help="country of numbers without +CC (CN)")
    imp.add_argument("--encoding", default="auto", help="auto (UTF-8 or GBK), utf-8, gbk")
    imp.add_argument(
        "--strict", action="store_true", help="import nothing if any row is rejected (exit 3)"
    )

    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("db_command", choices=["migrate", "status", "stop"])

    run = sub.add_parser("run", help="run a campaign against a real PBX")
    run.add_argument(
        "--site", required=True, help="site TOML ([pbx] kind, [asterisk] or [freeswitch], database)"
    )
    run.add_argument("--campaign", required=True, help="campaign TOML")
    run.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    run.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics at http://127.0.0.1:PORT/metrics (0: any free port)",
    )

    sim = sub.add_parser("simulate", help="virtual-time day simulator for pacing", add_help=False)
    sim.add_argument("rest", nargs=argparse.REMAINDER)
    sub.add_parser("audit", help="replay a campaign's calls against its rules", add_help=False)
    sub.add_parser("report", help="cycle report (HTML + CSV) for a campaign", add_help=False)
    sub.add_parser(
        "cases", help="case allocation to account managers, follow-up tasks", add_help=False
    )
    sub.add_parser("users", help="people who log in (agents, supervisors)", add_help=False)
    sub.add_parser(
        "pbx", help="render the PBX's snippets and sounds, check the live PBX", add_help=False
    )
    sub.add_parser(
        "init", help="write a commented site.toml and campaigns (init DIR)", add_help=False
    )
    sub.add_parser(
        "campaign", help="campaign check FILE...: validate without a PBX", add_help=False
    )
    robot = sub.add_parser("robot", help="robot scripts (robot check script.toml)", add_help=False)
    robot.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


SUB_TOOLS = {  # sub-commands with their own argument parsers: module with a main(argv)
    "simulate": "dialer_core.face.simulate_cli",
    "report": "dialer_core.face.report_cli",
    "cases": "dialer_core.face.cases_cli",
    "audit": "dialer_core.face.audit_cli",
    "robot": "dialer_core.face.robot_cli",
    "users": "dialer_core.face.users_cli",
    "pbx": "dialer_core.face.pbx_cli",
    "init": "dialer_core.face.init_cli",
    "campaign": "dialer_core.face.campaign_cli",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] and argv[0] in SUB_TOOLS:
            return importlib.import_module(SUB_TOOLS[argv[0]]).main(argv[1:])
        args = build_parser().parse_args(argv)
        _setup_logging(args.verbose, args.log_json)
        handlers = {
            "import": _cmd_import,
            "db": _cmd_db,
            "run": _cmd_run,
            "demo": _cmd_demo,
            "serve": _cmd_serve,
        }
        return asyncio.run(handlers[args.command](args))
    except OperatorError as exc:  # one line: what, where, what to do
        print(f"pacedial: {exc}", file=sys.stderr)
        return exc.exit_code
    except (InputError, SimConfigError) as exc:  # bad input: say where and what, no traceback
        print(f"pacedial: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
