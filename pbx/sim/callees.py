"""The callee model: what the person (or machine) at the dialed number does.

Pure decisions: ``plan_callee`` draws everything from the ``random.Random`` it is given, so a
plan is a function of the seed and the call's sequence number, never of wall-clock timing.
With ``[sim.callees.personas]`` set, each answered human callee also gets a persona
(pbx/sim/personas.py) that decides its keys and when it hangs up.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace

from pbx.sim.config import CalleeConfig
from pbx.sim.personas import Persona, draw_persona, persona_answers

__all__ = ["CalleeOutcome", "CalleePlan", "lognormal", "plan_callee"]


class CalleeOutcome(enum.StrEnum):
    """What happens to the call at the far end."""

    HUMAN = "human"
    MACHINE = "machine"
    BUSY = "busy"
    NO_ANSWER = "no_answer"  # rings until the originate Timeout
    UNALLOCATED = "unallocated"  # cause 1 before any ringing
    POWERED_OFF = "powered_off"  # cause 20 before any ringing
    CONGESTION = "congestion"  # cause 34
    REJECTED = "rejected"  # rings, then cause 21


# Q.850 cause the callee leg hangs up with, for outcomes that end before answer.
FAILURE_CAUSE: dict[CalleeOutcome, int] = {
    CalleeOutcome.BUSY: 17,
    CalleeOutcome.UNALLOCATED: 1,
    CalleeOutcome.POWERED_OFF: 20,
    CalleeOutcome.CONGESTION: 34,
    CalleeOutcome.REJECTED: 21,
}

NEVER = math.inf


@dataclass(frozen=True)
class CalleePlan:
    """One callee's behaviour, decided before the call starts.

    ``ring_seconds``: from the start of the call until it rings (``ringing``) and then until
    the callee answers or the failure is signalled (``NEVER`` = rings until the timeout).
    ``talk_seconds``: from answer until the callee hangs up. ``dtmf``: the callee's answers to
    successive input requests ("" = presses nothing that time). ``persona``: the persona that
    chose ``dtmf`` and ``talk_seconds`` ("" = personas are off or the callee is not a person).
    """

    outcome: CalleeOutcome
    ringing: bool
    ring_seconds: float
    talk_seconds: float = 0.0
    dtmf: tuple[str, ...] = ()
    dtmf_delay: float = 1.5
    persona: str = ""
    amd_wrong: bool = False  # the simulated AMD gets this callee wrong

    @property
    def answers(self) -> bool:
        return self.outcome in (CalleeOutcome.HUMAN, CalleeOutcome.MACHINE)

    @property
    def cause(self) -> int:
        """Q.850 cause of the callee leg for a call that is not answered."""
        return FAILURE_CAUSE.get(self.outcome, 19)

    @property
    def amd_status(self) -> str:
        """The simulated AMD's verdict (wrong when ``amd_wrong``)."""
        machine = self.outcome is CalleeOutcome.MACHINE
        return "MACHINE" if machine != self.amd_wrong else "HUMAN"

    @property
    def truth(self) -> str:
        """What really answered: ``human`` or ``machine`` (what the AMD verdict is judged by)."""
        return "machine" if self.outcome is CalleeOutcome.MACHINE else "human"


def lognormal(rng: random.Random, mean: float, cv: float) -> float:
    """A lognormal draw with the given mean and coefficient of variation."""
    if mean <= 0:
        return 0.0
    if cv <= 0:
        return mean
    sigma2 = math.log1p(cv * cv)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))


def answered_at_once(plan: CalleePlan) -> CalleePlan:
    """A call into the PBX's own dialplan (Local/, loopback/): up at once, no callee hangs up."""
    return replace(
        plan,
        outcome=CalleeOutcome.HUMAN,
        ringing=False,
        ring_seconds=0.0,
        talk_seconds=3600.0,
        dtmf=(),
    )


def plan_callee(
    rng: random.Random,
    cfg: CalleeConfig,
    behaviour: str,
    number: str,
    variables: Mapping[str, str] | None = None,
    today: dt.date | None = None,
) -> CalleePlan:
    """Decide the callee's behaviour. ``SIM_RING``/``SIM_TALK``/``SIM_DTMF`` variables override.

    Personas (stochastic behaviour only) count promise dates from ``today``, else from
    ``cfg.today``, else from the host's date.
    """
    variables = variables or {}
    if behaviour == "last_digit":
        plan = _last_digit_plan(rng, cfg, number)
    else:
        plan = _stochastic_plan(rng, cfg)
        if plan.outcome is CalleeOutcome.HUMAN and cfg.personas.active:
            plan = _with_persona(plan, rng, cfg, today or cfg.today_date or dt.date.today())
    return _apply_overrides(_amd_error(plan, rng, cfg), variables)


def _amd_error(plan: CalleePlan, rng: random.Random, cfg: CalleeConfig) -> CalleePlan:
    """Draw whether the simulated AMD errs on this callee (the last draw of the call's
    generator, and only with a rate set, so plans without AMD errors are unchanged)."""
    rate = {
        CalleeOutcome.HUMAN: cfg.amd_false_positive,
        CalleeOutcome.MACHINE: cfg.amd_false_negative,
    }
    share = rate.get(plan.outcome, 0.0)
    if share <= 0.0:
        return plan
    return replace(plan, amd_wrong=rng.random() < share)


def _with_persona(
    plan: CalleePlan, rng: random.Random, cfg: CalleeConfig, today: dt.date
) -> CalleePlan:
    persona = draw_persona(rng, cfg.personas)
    if persona is Persona.RANDOM:
        return replace(plan, persona=persona.value)
    answers = persona_answers(persona, rng, today, cfg.tuning)
    return replace(
        plan, talk_seconds=answers.hang_up_after, dtmf=answers.dtmf, persona=persona.value
    )


def _dtmf_tokens(rng: random.Random, cfg: CalleeConfig, count: int = 12) -> tuple[str, ...]:
    if cfg.dtmf != "random":
        return tuple(cfg.dtmf)
    return tuple(
        str(rng.randrange(10)) if rng.random() < cfg.dtmf_probability else "" for _ in range(count)
    )


def _stochastic_plan(rng: random.Random, cfg: CalleeConfig) -> CalleePlan:
    weights = cfg.mix.weights()
    outcome = CalleeOutcome(rng.choices([n for n, _ in weights], [w for _, w in weights])[0])
    ring = lognormal(rng, cfg.ring_mean, cfg.ring_cv)
    talk = lognormal(rng, cfg.talk_mean, cfg.talk_cv)
    dtmf = _dtmf_tokens(rng, cfg)
    delay = cfg.dtmf_delay
    match outcome:
        case CalleeOutcome.HUMAN:
            return CalleePlan(outcome, True, ring, max(talk, 1.0), dtmf, delay)
        case CalleeOutcome.MACHINE:
            machine_talk = lognormal(rng, cfg.machine_talk_mean, 0.3)
            return CalleePlan(outcome, True, ring, max(machine_talk, 1.0), (), delay)
        case CalleeOutcome.NO_ANSWER:
            return CalleePlan(outcome, True, NEVER)
        case CalleeOutcome.REJECTED:
            return CalleePlan(outcome, True, min(ring, cfg.fail_delay * 3))
        case CalleeOutcome.BUSY | CalleeOutcome.CONGESTION:
            return CalleePlan(outcome, False, cfg.fail_delay)
        case _:  # unallocated / powered off: the network refuses at once
            return CalleePlan(outcome, False, cfg.fail_delay / 3)


def _last_digit_plan(rng: random.Random, cfg: CalleeConfig, number: str) -> CalleePlan:
    """The recording rig's rules (tests/fixtures/asterisk/README.md)."""
    digits = [c for c in number if c.isdigit()]
    digit = int(digits[-1]) if digits else 0
    dtmf = tuple(cfg.dtmf) if cfg.dtmf != "random" else ()
    if digit <= 4:
        ring = float(rng.randint(2, 8))
        talk = float(rng.randint(5, 40))
        return CalleePlan(CalleeOutcome.HUMAN, True, ring, talk, dtmf, cfg.dtmf_delay)
    if digit == 5:
        return CalleePlan(CalleeOutcome.BUSY, False, 1.0)
    if digit == 6:
        return CalleePlan(CalleeOutcome.NO_ANSWER, True, NEVER)
    if digit == 7:
        return CalleePlan(CalleeOutcome.CONGESTION, False, 1.0)
    if digit == 8:
        return CalleePlan(CalleeOutcome.HUMAN, True, 2.0, 1.0, dtmf, cfg.dtmf_delay)
    return CalleePlan(CalleeOutcome.UNALLOCATED, False, 0.0)


def _apply_overrides(plan: CalleePlan, variables: Mapping[str, str]) -> CalleePlan:
    if not plan.answers:
        return plan
    ring, talk, dtmf = plan.ring_seconds, plan.talk_seconds, plan.dtmf
    try:
        if "SIM_RING" in variables:
            ring = float(variables["SIM_RING"])
        if "SIM_TALK" in variables:
            talk = float(variables["SIM_TALK"])
    except ValueError:
        return plan
    if "SIM_DTMF" in variables:
        dtmf = tuple(variables["SIM_DTMF"])
    return replace(plan, ring_seconds=ring, talk_seconds=talk, dtmf=dtmf)
