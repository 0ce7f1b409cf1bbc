"""Benchmark: concurrent robot sessions held by ONE process against the simulated PBX.

The measured process runs our FastAGI server (pbx.asterisk.agi_server.FastAgiServer) and the
robot (agi_scripts.robot.run_robot with conf/robot/reminder_zh.toml) and nothing else. The
simulated PBX runs in a child process (this file with ``--sim-child``): it originates the calls
to itself over AMI, and its FastAGI client connects to the measured process exactly as Asterisk
would. Callees follow personas (promiser .3, refuser .2, silent .2, wrong_party .1,
hang_up_mid_script .2) in real time (time_scale 1, prompts 2 s, key presses 1.5 s into a
request), so a session lasts 5-30 s and ~1,500 calls launched over 10 s overlap.

Speech is NOT measured: every prompt a bench call can speak (fixed and personalised: one case,
one promise date and amount) is rendered with espeak-ng + sox before the clock starts, and the
run checks that no render happened while measuring. CPU per call = user+system CPU of the
measured process during the run / sessions completed. Peak RSS = VmHWM of the measured process.

Run: ``python bench/robot.py`` (about 45 s). Prints a Markdown table and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agi_scripts.robot import CaseInfo, Script, case_values, load_script, run_robot  # noqa: E402
from agi_scripts.robot.template import render  # noqa: E402
from agi_scripts.speech import EspeakEngine, TtsPromptSource, amount_zh, date_zh  # noqa: E402
from pbx.asterisk.agi_server import FastAgiServer  # noqa: E402
from pbx.asterisk.agi_session import AgiSession  # noqa: E402
from pbx.asterisk.ami import encode  # noqa: E402
from pbx.sim import SimConfig, SimPbx  # noqa: E402

TODAY = dt.date(2025, 3, 10)
PROMISE_DAYS = 3
PROMISE_UNITS = 500
PERSONAS = {
    "promiser": 0.3,
    "refuser": 0.2,
    "silent": 0.2,
    "wrong_party": 0.1,
    "hang_up_mid_script": 0.2,
}
CASE = CaseInfo(
    case_id="C-1001",
    name="张伟",
    amount_owed_minor=325_000,
    due_date=dt.date(2025, 3, 1),
    repayment_channel="支付宝",
    product="消费贷",
    days_past_due=9,
)
TARGET_SESSIONS = 1000
TARGET_RSS_MB = 300.0


def status_kb(field: str) -> int:
    """A ``/proc/self/status`` field in kB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(f"/proc/self/status: no {field}")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))


# --- the simulated PBX (child process) ---------------------------------------------------------


def sim_table(seed: int, time_scale: float) -> dict:
    return {
        "seed": seed,
        "time_scale": time_scale,
        "prompt_seconds": 2.0,
        "callees": {
            "ring_mean": 1.0,
            "ring_cv": 0.3,
            "dtmf_delay": 1.5,
            "promise_days_min": PROMISE_DAYS,
            "promise_days_max": PROMISE_DAYS,
            "promise_amount_min": PROMISE_UNITS,
            "promise_amount_max": PROMISE_UNITS,
            "hang_up_after_min": 3.0,
            "hang_up_after_max": 15.0,
            "today": TODAY.isoformat(),
            "mix": {"human": 1.0}
            | dict.fromkeys(
                ("machine", "busy", "no_answer", "unallocated", "powered_off", "congestion"), 0.0
            )
            | {"rejected": 0.0},
            "personas": PERSONAS,
        },
        "agents": {"count": 0},
    }


async def sim_child(args: argparse.Namespace) -> dict:
    """Originate ``sessions`` calls over ``launch_seconds`` to the robot; wait for all to end."""
    raise_fd_limit(args.sessions * 3 + 256)
    sim = SimPbx(SimConfig.from_table(sim_table(args.seed, args.time_scale), "bench-sim"))
    await sim.start()
    sim.set_dialplan("pacedial-answered", f"agi://127.0.0.1:{args.agi_port}/robot")
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.ami_port)
    writer.write(encode([("Action", "Login"), ("Username", "pacedial"), ("Secret", "pacedial")]))
    seen = b""
    while b"FullyBooted" not in seen:
        chunk = await asyncio.wait_for(reader.read(65536), 10)
        if not chunk:
            raise ConnectionError("bench sim: AMI closed before FullyBooted")
        seen = seen[-64:] + chunk
    received = 0

    async def drain() -> None:  # AMI events are read and dropped, as a quiet dialer would
        nonlocal received
        while chunk := await reader.read(65536):
            received += len(chunk)

    drainer = asyncio.create_task(drain())
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(args.sessions):
        due = start + i * args.launch_seconds / args.sessions
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        writer.write(
            encode(
                [
                    ("Action", "Originate"),
                    ("ActionID", f"bench-{i}"),
                    ("Channel", f"Local/1380013{i % 10000:04d}@sim-callee"),
                    ("Context", "pacedial-answered"),
                    ("Exten", "s"),
                    ("Priority", "1"),
                    ("Timeout", "30000"),
                    ("CallerID", '"Pacedial" <5550100>'),
                    ("Async", "true"),
                    ("Variable", f"PACEDIAL_CALL_ID=bench-{i}"),
                ]
            )
        )
    launched_in = loop.time() - start
    await asyncio.sleep(0.5)
    idle = await sim.wait_idle(timeout=args.deadline)
    answered = sum(1 for r in sim.calls_finished if r.answered)
    writer.close()
    drainer.cancel()
    await sim.close()
    return {
        "sim_idle": idle,
        "sim_launch_seconds": round(launched_in, 2),
        "sim_calls": args.sessions,
        "sim_calls_answered": answered,
        "sim_cpu_seconds": round(cpu_seconds(), 2),
        "sim_peak_rss_mb": round(status_kb("VmHWM") / 1024, 1),
        "sim_ami_bytes": received,
    }


# --- the robot (measured process) --------------------------------------------------------------


async def prewarm(prompts: TtsPromptSource, script: Script) -> int:
    """Render every prompt text a bench call can speak (one case, one promise)."""
    promised = TODAY + dt.timedelta(days=PROMISE_DAYS)
    values = case_values(script, CASE) | {
        "ptp_date": date_zh(promised),
        "ptp_amount": amount_zh(PROMISE_UNITS * 100),
    }
    items = [
        (f"{node.name}.{attr}", render(text, values))
        for node in script.nodes.values()
        for attr, text in node.prompts().items()
    ]
    return await prompts.prerender(items)


class Robot:
    """The FastAGI handler: one robot dialog per connection, with live counters."""

    def __init__(self, script: Script, prompts: TtsPromptSource) -> None:
        self.script = script
        self.prompts = prompts
        self.active = 0
        self.peak = 0
        self.done = 0
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()

    async def __call__(self, session: AgiSession) -> None:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            out = await run_robot(session, self.script, CASE, self.prompts, today=TODAY)
            self.outcomes[out.outcome.value] += 1
        except Exception as exc:
            self.errors[type(exc).__name__] += 1
            raise
        finally:
            self.active -= 1
            self.done += 1


async def robot_parent(args: argparse.Namespace) -> dict:
    raise_fd_limit(args.sessions * 3 + 256)
    script = load_script(ROOT / "conf" / "robot" / "reminder_zh.toml")
    with tempfile.TemporaryDirectory(prefix="pacedial-bench-sounds-") as sounds:
        prompts = TtsPromptSource(EspeakEngine(), Path(sounds), script.voice)
        warmed = await prewarm(prompts, script)
        renders_before = prompts.renders
        robot = Robot(script, prompts)
        server = FastAgiServer(robot, port=0, env_timeout=30.0)
        await server.start()
        rss_before = status_kb("VmRSS")
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--sim-child",
            "--agi-port",
            str(server.port),
            "--sessions",
            str(args.sessions),
            "--launch-seconds",
            str(args.launch_seconds),
            "--seed",
            str(args.seed),
            "--time-scale",
            str(args.time_scale),
            "--deadline",
            str(args.deadline),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(child.communicate(), args.deadline + 30)
        loop = asyncio.get_running_loop()
        until = loop.time() + 10
        while robot.active and loop.time() < until:
            await asyncio.sleep(0.05)
        cpu1, t1 = cpu_seconds(), time.perf_counter()
        await server.close()
        renders_during = prompts.renders - renders_before
    lines = out.decode().strip().splitlines()
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"bench sim child exited {child.returncode}: {out.decode()[-500:]}")
    sim = json.loads(lines[-1])
    wall = t1 - t0
    peak_rss = status_kb("VmHWM") / 1024
    return {
        "sessions": robot.done,
        "peak_concurrent_sessions": robot.peak,
        "peak_rss_mb": round(peak_rss, 1),
        "rss_before_mb": round(rss_before / 1024, 1),
        "rss_per_session_kb": round((status_kb("VmHWM") - rss_before) / max(robot.peak, 1), 1),
        "cpu_seconds": round(cpu1 - cpu0, 2),
        "cpu_ms_per_call": round((cpu1 - cpu0) * 1000 / max(robot.done, 1), 2),
        "wall_seconds": round(wall, 1),
        "sessions_per_second": round(robot.done / wall, 1),
        "cpu_bound_sessions_per_second": round(robot.done / max(cpu1 - cpu0, 1e-9), 1),
        "outcomes": dict(sorted(robot.outcomes.items())),
        "errors": dict(robot.errors),
        "prompts_prerendered": warmed,
        "renders_during_run": renders_during,
        "sim_process": sim,
        "sim_cpu_ms_per_call": round(sim["sim_cpu_seconds"] * 1000 / max(robot.done, 1), 2),
        "ok": robot.peak >= TARGET_SESSIONS and peak_rss <= TARGET_RSS_MB and not robot.errors,
        "python": platform.python_version(),
    }


def table(r: dict) -> str:
    rows = [
        ("sessions completed", r["sessions"]),
        (
            "peak concurrent sessions (one process)",
            f"{r['peak_concurrent_sessions']} (target ≥ {TARGET_SESSIONS})",
        ),
        ("peak RSS (VmHWM)", f"{r['peak_rss_mb']} MB (target ≤ {TARGET_RSS_MB:.0f} MB)"),
        ("RSS before the run", f"{r['rss_before_mb']} MB"),
        ("RSS per held session", f"{r['rss_per_session_kb']} kB"),
        ("robot CPU per call", f"{r['cpu_ms_per_call']} ms"),
        ("robot CPU total", f"{r['cpu_seconds']} s over {r['wall_seconds']} s wall"),
        ("sessions/s (completed / wall, paced by the launch)", r["sessions_per_second"]),
        ("sessions/s per robot CPU second (capacity)", r["cpu_bound_sessions_per_second"]),
        ("sim process CPU per call", f"{r['sim_cpu_ms_per_call']} ms"),
        ("sim process peak RSS", f"{r['sim_process']['sim_peak_rss_mb']} MB"),
        (
            "prompts pre-rendered / rendered during run",
            f"{r['prompts_prerendered']} / {r['renders_during_run']}",
        ),
        ("outcomes", ", ".join(f"{k} {v}" for k, v in r["outcomes"].items())),
        ("errors", ", ".join(f"{k} {v}" for k, v in r["errors"].items()) or "none"),
    ]
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=1500)
    parser.add_argument("--launch-seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--deadline", type=float, default=90.0, help="seconds the calls may take")
    parser.add_argument("--sim-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--agi-port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sim_child:
        print(json.dumps(asyncio.run(sim_child(args))))
        return
    result = asyncio.run(robot_parent(args))
    print(table(result))
    print(json.dumps({"bench": "robot"} | result, ensure_ascii=False))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
