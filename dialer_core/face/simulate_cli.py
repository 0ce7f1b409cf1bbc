"""``pacedial simulate``: run a campaign's pacing through a scenario in virtual time.

``--campaign`` reads the file as ``pacedial run`` would (every table it knows, types and keys
checked; an unknown table or key is an error, exit 2 with ``file: key: expected ...``) and
simulates its ``[pacing]``. A file holding only some tables is checked as a campaign named
after the file. The answered-call tables (routing, robot, amd, recording) are left to
``pacedial campaign check``, which renders their sounds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dialer_core.campaign.config import parse_campaign
from dialer_core.config_errors import ConfigError, read_toml
from dialer_core.face.campaign_cli import TABLES
from dialer_core.pacing.config import PacingConfig, PacingConfigError
from dialer_core.simulate.metrics import SimResult
from dialer_core.simulate.plot import render_html
from dialer_core.simulate.runner import POLICY_ALIASES, effective_config, run_simulation
from dialer_core.simulate.scenario import ScenarioError, load_scenario

_ROWS = (
    ("calls", "calls", "{:d}"),
    ("human answers", "human_answers", "{:d}"),
    ("abandoned", "abandoned", "{:d}"),
    ("abandon rate (overall)", "abandon_rate", "{:.2%}"),
    ("abandon rate (worst rolling hour)", "worst_hour_rate", "{:.2%}"),
    ("talk utilization (of available time)", "talk_utilization", "{:.1%}"),
    ("physical limit talk / (talk + wrap-up)", "physical_limit", "{:.1%}"),
    ("talk + wrap-up utilization", "busy_utilization", "{:.1%}"),
    ("AMD false positives (people hung up on)", "amd_false_positives", "{:d}"),
    ("machines taken by agents (AMD off)", "machines_to_agents", "{:d}"),
    ("hours over target", "hours_over_target", "{:d}"),
    ("decisions without budget (progressive)", "fallback_share", "{:.1%}"),
    ("connects per agent-hour", "connects_per_agent_hour", "{:.1f}"),
    ("agent idle gap mean (s)", "idle_gap_mean", "{:.1f}"),
    ("agent idle gap p95 (s)", "idle_gap_p95", "{:.1f}"),
    ("mean connect wait (s)", "connect_wait_mean", "{:.2f}"),
    ("simulation wall time (s)", "wall_seconds", "{:.2f}"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pacedial simulate", description="Simulate a shift in virtual time."
    )
    parser.add_argument("--campaign", type=Path, help="campaign TOML with a [pacing] table")
    parser.add_argument("--scenario", type=Path, required=True, help="scenario TOML")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--compare",
        help="comma-separated policies side by side: " + ",".join(POLICY_ALIASES),
    )
    parser.add_argument("--plot", type=Path, help="write abandonment/utilization HTML here")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a run breaks the target or alarms"
    )
    return parser


def load_campaign_pacing(path: Path) -> PacingConfig:
    """The ``[pacing]`` of a campaign file, once the whole file is checked (see above)."""
    doc = read_toml(path, "the campaign file")
    unknown = sorted(set(doc) - set(TABLES))
    if unknown:
        raise ConfigError(str(path), unknown[0], "one of the tables " + ", ".join(TABLES))
    named = doc if "campaign" in doc else {**doc, "campaign": {"name": path.stem}}
    return parse_campaign(named, str(path)).pacing


def verdict(result: SimResult, target: float) -> tuple[bool, str]:
    """(passed, one line): hours over target, fallback share, utilization vs physical limit."""
    ok = result.worst_hour_rate <= target + 1e-12 and not result.alarm
    ratio = result.talk_utilization / result.physical_limit if result.physical_limit else 0.0
    line = (
        f"verdict {result.policy}: {'OK' if ok else 'OVER TARGET'}: "
        f"worst rolling hour {result.worst_hour_rate:.2%} vs target {target:.2%}, "
        f"over target in {result.hours_over_target} h; shift {result.abandon_rate:.2%}; "
        f"no budget (progressive) on {result.fallback_share:.0%} of decisions; "
        f"talk utilization {result.talk_utilization:.1%} = {ratio:.2f}× the physical limit "
        f"{result.physical_limit:.1%}"
    )
    if result.alarm:
        line += f"; brake alarm: {result.alarm}"
    return ok, line


def format_table(results: list[SimResult]) -> str:
    """Markdown table: one column per result."""
    head = "| metric | " + " | ".join(r.policy for r in results) + " |"
    lines = [head, "|---" * (len(results) + 1) + "|"]
    for label, attr, fmt in _ROWS:
        cells = " | ".join(fmt.format(getattr(r, attr)) for r in results)
        lines.append(f"| {label} | {cells} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status (2 = bad input file)."""
    args = build_parser().parse_args(argv)
    try:
        campaign = load_campaign_pacing(args.campaign) if args.campaign else PacingConfig()
        scenario = load_scenario(args.scenario)
        names = args.compare.split(",") if args.compare else [None]
        for name in names:
            if name is not None and name not in POLICY_ALIASES:
                raise ValueError(
                    f"--compare: unknown policy {name!r}; expected one of "
                    + ", ".join(POLICY_ALIASES)
                )
        results = [run_simulation(campaign, scenario, name, args.seed) for name in names]
    except (ConfigError, PacingConfigError, ScenarioError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        payload = [r.to_json() for r in results]
        print(json.dumps(payload[0] if len(payload) == 1 else payload, indent=1))
    else:
        print(f"scenario {scenario.name}, seed {args.seed}")
        print(format_table(results))
    target = effective_config(campaign, scenario).target_abandon_rate
    judged = [verdict(r, target) for r in results]
    if not args.json:
        for _, line in judged:
            print(line)
    if args.plot:
        args.plot.write_text(render_html(results, campaign.target_abandon_rate), encoding="utf-8")
    # --check judges the campaign's own policy (every run when no --compare names it)
    own = [ok for (ok, _), r in zip(judged, results, strict=True) if r.policy == campaign.mode]
    checked = own if args.compare and own else [ok for ok, _ in judged]
    return 1 if args.check and not all(checked) else 0


if __name__ == "__main__":
    sys.exit(main())
