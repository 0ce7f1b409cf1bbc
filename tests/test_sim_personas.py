"""Simulated callee personas: seeded draws, config format, and robot outcomes over real sockets.

End to end: AMI Originate → the simulated PBX's FastAGI client → pbx.asterisk.agi_server
.FastAgiServer → agi_scripts.robot.run_robot with conf/robot/reminder_{zh,en}.toml, the
callee's keys coming from its persona.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import random
import tomllib
from pathlib import Path

import pytest
from test_sim_pbx_agi import AmiReader, originate
from virtual_time import in_virtual_time

from agi_scripts.robot import CaseInfo, Outcome, RobotOutcome, load_script, run_robot
from agi_scripts.speech import EspeakEngine, TtsPromptSource
from pbx.asterisk.agi_server import FastAgiServer
from pbx.asterisk.agi_session import AgiSession
from pbx.sim import CalleeConfig, SimConfig, SimPbx
from pbx.sim.callees import CalleeOutcome, plan_callee
from pbx.sim.config import SimConfigError
from pbx.sim.personas import Persona, PersonaMix

ROOT = Path(__file__).resolve().parents[1]
TODAY = dt.date(2025, 3, 10)
CASE = CaseInfo(
    case_id="C-1001",
    name="张伟",
    amount_owed_minor=325_000,
    due_date=dt.date(2025, 3, 1),
    repayment_channel="支付宝",
    product="消费贷",
    days_past_due=9,
)

SIM_TOML = """
[sim]
seed = 11
time_scale = 20.0
prompt_seconds = 2.0

[sim.callees]
ring_mean = 1.0
ring_cv = 0.0
dtmf_delay = 1.0
promise_days_min = 3
promise_days_max = 3
promise_amount_min = 250
promise_amount_max = 250
hang_up_after_min = 6.0
hang_up_after_max = 6.0
today = "2025-03-10"

[sim.callees.mix]
human = 1.0
machine = 0.0
busy = 0.0
no_answer = 0.0
unallocated = 0.0
powered_off = 0.0
congestion = 0.0
rejected = 0.0

[sim.callees.personas]
promiser = 0.3
refuser = 0.2
silent = 0.2
wrong_party = 0.1
hang_up_mid_script = 0.2

[sim.agents]
count = 1
talk_mean = 3.0
talk_cv = 0.0
wrapuptime = 1.0
"""


def sim_table(**personas: float) -> dict:
    """The [sim] table of SIM_TOML, with the persona weights replaced if any are given."""
    table = tomllib.loads(SIM_TOML)["sim"]
    if personas:
        table["callees"]["personas"] = personas
    return table


# --- pure: draws and config ------------------------------------------------------------------


def test_same_seed_gives_the_same_personas_and_keys():
    cfg = SimConfig.from_table(sim_table()).callees

    def plans(seed: int) -> list:
        return [
            plan_callee(random.Random(f"{seed}:call:{i}"), cfg, "stochastic", "5551230")
            for i in range(300)
        ]

    first, again, other = plans(1), plans(1), plans(2)
    assert first == again
    assert [p.persona for p in first] != [p.persona for p in other]


def test_persona_shares_follow_the_weights():
    cfg = SimConfig.from_table(sim_table()).callees
    rng = random.Random(5)
    counts = collections.Counter(
        plan_callee(rng, cfg, "stochastic", "5551230").persona for _ in range(4000)
    )
    want = {"promiser": 0.3, "refuser": 0.2, "silent": 0.2, "wrong_party": 0.1}
    want["hang_up_mid_script"] = 0.2
    assert set(counts) == set(want)
    for name, share in want.items():
        assert abs(counts[name] / 4000 - share) < 0.03, (name, counts)


def test_promiser_keys_date_amount_and_confirms_and_stays_on_the_line():
    cfg = CalleeConfig(
        mix=SimConfig.from_table(sim_table()).callees.mix,
        personas=PersonaMix(promiser=1.0),
        promise_days_min=2,
        promise_days_max=6,
        promise_amount_min=100,
        promise_amount_max=900,
    )
    for i in range(50):
        plan = plan_callee(random.Random(i), cfg, "stochastic", "5551230", today=TODAY)
        assert plan.outcome is CalleeOutcome.HUMAN and plan.persona == "promiser"
        identity, menu, date, amount, confirm = plan.dtmf
        assert (identity, menu, confirm) == ("1", "1", "1")
        keyed = dt.date(2025, int(date[:2]), int(date[2:]))
        assert 2 <= (keyed - TODAY).days <= 6
        assert amount.endswith("#") and 100 <= int(amount[:-1]) <= 900
        assert plan.talk_seconds == float("inf")


def test_random_persona_is_the_plain_model_with_the_same_draws():
    plain = CalleeConfig()
    with_random = CalleeConfig(personas=PersonaMix(random=1.0))
    for i in range(100):
        a = plan_callee(random.Random(i), plain, "stochastic", "5551230")
        b = plan_callee(random.Random(i), with_random, "stochastic", "5551230")
        assert (a.outcome, a.dtmf, a.talk_seconds, a.ring_seconds) == (
            b.outcome,
            b.dtmf,
            b.talk_seconds,
            b.ring_seconds,
        )
        assert a.persona == "" and b.persona == ("random" if b.outcome == "human" else "")


def test_sim_dtmf_variable_still_overrides_the_persona():
    cfg = SimConfig.from_table(sim_table(silent=1.0)).callees
    plan = plan_callee(random.Random(3), cfg, "stochastic", "5551230", {"SIM_DTMF": "12"})
    assert plan.outcome is CalleeOutcome.HUMAN
    assert plan.dtmf == ("1", "2") and plan.persona == "silent"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"personas": {"promiser": 1.0, "liar": 1.0}}, "sim.toml: sim.callees.personas.liar"),
        ({"personas": {"promiser": -1}}, "sim.callees.personas.promiser: expected a number >= 0"),
        ({"personas": 3}, "sim.callees.personas: expected a table"),
        ({"promise_days_max": 1}, "sim.callees.promise_days_max: expected >= promise_days_min"),
        ({"today": "10/03/2025"}, "sim.callees.today: expected a date YYYY-MM-DD"),
        ({"promise_amount_min": 0, "promise_amount_max": 0}, "promise_amount_min: expected >= 1"),
    ],
)
def test_bad_persona_config_names_file_key_and_expectation(patch, message):
    table = sim_table()
    table["callees"] = table["callees"] | patch
    with pytest.raises(SimConfigError, match=message.replace("(", r"\(")):
        SimConfig.from_table(table, source="sim.toml")


# --- end to end over real sockets -------------------------------------------------------------


@pytest.fixture(scope="module")
def sound_dir(tmp_path_factory) -> Path:
    """One rendered-prompt cache for the module (content-hashed, so sharing it is safe)."""
    return tmp_path_factory.mktemp("sounds")


class RobotRig:
    """Our FastAGI server running the robot, the simulated PBX, and an AMI reader."""

    def __init__(self, table: dict, script_name: str, sound_dir: Path) -> None:
        self.config = SimConfig.from_table(table, source="test-sim.toml")
        self.script = load_script(ROOT / "conf" / "robot" / f"{script_name}.toml")
        self.prompts = TtsPromptSource(EspeakEngine(), sound_dir, self.script.voice)
        self.outcomes: dict[str, RobotOutcome] = {}
        self.errors: list[BaseException] = []
        self.server = FastAgiServer(self._handle, port=0)
        self.sim = SimPbx(self.config)
        self.ami = AmiReader()

    async def _handle(self, session: AgiSession) -> None:
        try:
            self.outcomes[session.call_id] = await run_robot(
                session, self.script, CASE, self.prompts, today=TODAY
            )
        except BaseException as exc:  # reported by the test, not swallowed
            self.errors.append(exc)
            raise

    async def __aenter__(self) -> RobotRig:
        await self.server.start()
        await self.sim.start()
        self.sim.set_dialplan("pacedial-answered", f"agi://127.0.0.1:{self.server.port}/robot")
        await self.ami.start(self.sim.ami_port)
        await self.ami.wait_for(lambda m: m.event == "FullyBooted")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.ami.close()
        await self.sim.close()
        await self.server.close()

    async def call(self, *ids: str, timeout: float = 10.0) -> list[RobotOutcome]:
        """Originate one call per id, one after the other; wait for every robot outcome."""
        for aid in ids:
            originate(self.ami, aid, "13800138000")
            await self.ami.wait_for(lambda m, aid=aid: m.get("ActionID") == aid)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not all(aid in self.outcomes for aid in ids) and not self.errors:
            assert loop.time() < deadline, f"outcomes so far: {sorted(self.outcomes)}"
            await asyncio.sleep(0.02)
        assert not self.errors, self.errors
        return [self.outcomes[aid] for aid in ids]


def visits(outcome: RobotOutcome) -> list[tuple[str, tuple[str, ...]]]:
    return [(v.node, v.digits) for v in outcome.transcript]


@in_virtual_time
async def test_promiser_gives_promise_to_pay_with_date_and_amount(sound_dir):
    async with RobotRig(sim_table(promiser=1.0), "reminder_zh", sound_dir) as rig:
        (out,) = await rig.call("ptp-1")
    assert out.outcome is Outcome.PROMISE_TO_PAY
    assert out.ptp_date == TODAY + dt.timedelta(days=3)
    assert out.ptp_amount_minor == 25_000
    assert ("promise", ("0313", "250", "1")) in visits(out)
    assert not out.caller_hung_up


@in_virtual_time
async def test_promiser_works_with_the_english_script_too(sound_dir):
    async with RobotRig(sim_table(promiser=1.0), "reminder_en", sound_dir) as rig:
        (out,) = await rig.call("ptp-en-1")
    assert (out.outcome, out.ptp_date, out.ptp_amount_minor) == (
        Outcome.PROMISE_TO_PAY,
        dt.date(2025, 3, 13),
        25_000,
    )


@pytest.mark.parametrize(
    ("persona", "outcome", "last_node"),
    [
        ("refuser", Outcome.REFUSED, "bye_refused"),
        ("silent", Outcome.NO_INPUT, "bye_no_input"),
        ("wrong_party", Outcome.WRONG_PARTY, "bye_wrong_party"),
        ("third_party", Outcome.THIRD_PARTY, "bye_third_party"),
        ("asks_agent", Outcome.TRANSFERRED, "to_agent"),
    ],
)
@in_virtual_time
async def test_each_persona_gives_its_robot_outcome(sound_dir, persona, outcome, last_node):
    async with RobotRig(sim_table(**{persona: 1.0}), "reminder_zh", sound_dir) as rig:
        (out,) = await rig.call(f"{persona}-1")
    assert out.outcome is outcome
    assert out.last_node == last_node
    assert out.ptp_date is None and not out.caller_hung_up
    if persona == "silent":
        assert ("identity", ("", "", "")) in visits(out)


@in_virtual_time
async def test_hang_up_mid_script_confirms_identity_then_leaves_during_a_prompt(sound_dir):
    async with RobotRig(sim_table(hang_up_mid_script=1.0), "reminder_zh", sound_dir) as rig:
        (out,) = await rig.call("hup-1")
        await rig.ami.wait_for(lambda m: m.event == "Hangup" and m.get("Cause") == "16")
    assert out.outcome is Outcome.HUNG_UP and out.caller_hung_up
    assert ("identity", ("1",)) in visits(out)
    # 6 s after answer: greet 0-2 s, identity 2-3 s (key at 1 s), disclosure 3-5, reminder 5-7.
    assert out.last_node in {"disclosure", "reminder", "main_menu"}


@in_virtual_time
async def test_mixed_personas_over_one_pbx_match_the_seeded_draws(sound_dir):
    table = sim_table()
    expected = {
        Persona.PROMISER: Outcome.PROMISE_TO_PAY,
        Persona.REFUSER: Outcome.REFUSED,
        Persona.SILENT: Outcome.NO_INPUT,
        Persona.WRONG_PARTY: Outcome.WRONG_PARTY,
        Persona.HANG_UP_MID_SCRIPT: Outcome.HUNG_UP,
    }
    twin = SimPbx(SimConfig.from_table(table))  # never started: same seed, same plans
    drawn = [Persona(twin.plan_call("13800138000", {})[1].persona) for _ in range(8)]
    async with RobotRig(table, "reminder_zh", sound_dir) as rig:
        outs = await rig.call(*(f"mix-{i}" for i in range(8)), timeout=15.0)
    assert [o.outcome for o in outs] == [expected[p] for p in drawn]
    assert len(set(drawn)) >= 3
