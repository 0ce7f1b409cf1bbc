"""Callee personas: how a simulated person answers the robot's input requests.

A persona ("promiser", "refuser", ...) becomes a *tape*: the callee's answer to input request
number k (GET DATA, WAIT FOR DIGIT, or a STREAM FILE with escape digits), "" for silence. The
sim's FastAGI client walks the tape: GET DATA and WAIT FOR DIGIT take the next entry; a STREAM
FILE takes it only if its first key is one of the prompt's escape digits, otherwise the callee
keeps it for the next request (so prompts that are merely interruptible do not eat answers).

Conventions (they fit ``conf/robot/reminder_zh.toml`` and ``reminder_en.toml``, and any script
that keeps the same key plan): at the identity question 1 = "that's me", 2 = "wrong person",
3 = "I know them"; at the main menu 1 = "I will repay soon", 2 = "I cannot repay", 0 (any
prompt) = a person please; a promise is the date as MMDD, the amount in whole currency units
ended by #, then 1 to confirm.

Pure: everything is drawn from the ``random.Random`` passed in; ``today`` is passed in.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import random
from dataclasses import dataclass, fields

__all__ = [
    "Persona",
    "PersonaAnswers",
    "PersonaMix",
    "PersonaTuning",
    "draw_persona",
    "persona_answers",
]

NEVER = math.inf


class Persona(enum.StrEnum):
    """A callee behaviour; the value is the key in ``[sim.callees.personas]``."""

    PROMISER = "promiser"  # 1 (me), 1 (repay soon), MMDD, amount#, 1 (confirm)
    REFUSER = "refuser"  # 1 (me), 2 (cannot repay)
    SILENT = "silent"  # never presses a key
    WRONG_PARTY = "wrong_party"  # 2 at identity
    THIRD_PARTY = "third_party"  # 3 at identity
    ASKS_AGENT = "asks_agent"  # 1 (me), then 0 at the first prompt that listens for it
    HANG_UP_MID_SCRIPT = "hang_up_mid_script"  # 1 (me), hangs up while the robot talks
    RANDOM = "random"  # the plain model: random keys (dtmf_probability), drawn talk time


@dataclass(frozen=True)
class PersonaMix:
    """Weights of each persona among answered human callees; all zero = personas off."""

    promiser: float = 0.0
    refuser: float = 0.0
    silent: float = 0.0
    wrong_party: float = 0.0
    third_party: float = 0.0
    asks_agent: float = 0.0
    hang_up_mid_script: float = 0.0
    random: float = 0.0

    def weights(self) -> list[tuple[str, float]]:
        """(persona name, weight) pairs in a fixed order."""
        return [(f.name, float(getattr(self, f.name))) for f in fields(self)]

    @property
    def active(self) -> bool:
        """True if any persona has a positive weight."""
        return any(w > 0 for _, w in self.weights())


@dataclass(frozen=True)
class PersonaTuning:
    """The ranges personas draw from (inclusive); amounts in whole currency units."""

    promise_days: tuple[int, int] = (1, 7)  # a promise date this many days after today
    promise_amount: tuple[int, int] = (100, 1000)
    hang_up_after: tuple[float, float] = (3.0, 15.0)  # simulated seconds after answer


@dataclass(frozen=True)
class PersonaAnswers:
    """A persona turned into what the callee does on this call.

    ``dtmf``: the tape (answer to input request k). ``hang_up_after``: simulated seconds after
    answer when the callee hangs up; ``NEVER`` = stays until the robot or an agent ends the call.
    """

    persona: Persona
    dtmf: tuple[str, ...]
    hang_up_after: float = NEVER


def draw_persona(rng: random.Random, mix: PersonaMix) -> Persona:
    """One persona, drawn by weight (the mix must be ``active``)."""
    weights = mix.weights()
    if not mix.active:
        raise ValueError("sim.callees.personas: expected at least one positive weight")
    name = rng.choices([n for n, _ in weights], [w for _, w in weights])[0]
    return Persona(name)


def promise_keys(when: dt.date) -> str:
    """The MMDD a callee keys for ``when``."""
    return f"{when.month:02d}{when.day:02d}"


def persona_answers(
    persona: Persona, rng: random.Random, today: dt.date, tuning: PersonaTuning
) -> PersonaAnswers:
    """The tape and hang-up time of ``persona`` (not for ``RANDOM``: the plain model serves it)."""
    match persona:
        case Persona.PROMISER:
            days = rng.randint(*tuning.promise_days)
            amount = rng.randint(*tuning.promise_amount)
            when = today + dt.timedelta(days=days)
            return PersonaAnswers(persona, ("1", "1", promise_keys(when), f"{amount}#", "1"))
        case Persona.REFUSER:
            return PersonaAnswers(persona, ("1", "2"))
        case Persona.SILENT:
            return PersonaAnswers(persona, ())
        case Persona.WRONG_PARTY:
            return PersonaAnswers(persona, ("2",))
        case Persona.THIRD_PARTY:
            return PersonaAnswers(persona, ("3",))
        case Persona.ASKS_AGENT:
            return PersonaAnswers(persona, ("1", "0"))
        case Persona.HANG_UP_MID_SCRIPT:
            low, high = tuning.hang_up_after
            return PersonaAnswers(persona, ("1",), rng.uniform(low, high))
    raise ValueError(f"persona {persona.value!r} has no tape (the plain callee model serves it)")
