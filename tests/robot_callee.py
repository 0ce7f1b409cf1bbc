"""A scripted callee: a CallSession whose remote party follows a fixed script.

It stands in for the person on the phone (the PBX peer), not for any pacedial component: it
answers each digit request with the next scripted entry ("" = stays silent), hangs up during
a chosen prompt, and records what it heard, like Asterisk would play it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pbx.session import CallerHungUp


@dataclass
class Heard:
    op: str  # "play" or "read"
    sound: str
    max_digits: int = 0
    timeout: float = 0.0
    answer: str = ""


@dataclass
class ScriptedCallee:
    """Presses ``digits`` in order, one entry per digit request; hangs up during prompt N."""

    digits: list[str] = field(default_factory=list)
    hangup_on_prompt: int | None = None  # 1-based index of the prompt the callee hangs up in
    agent_answers: bool = True
    call_id: str = "call-0001"
    variables: dict[str, str] = field(default_factory=dict)
    heard: list[Heard] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)
    enqueued: list[tuple[str, float, dict[str, str]]] = field(default_factory=list)
    set_vars: dict[str, str] = field(default_factory=dict)
    hangup_calls: int = 0
    _hung_up: bool = False
    link_lost: bool = False  # the PBX link never breaks here

    @property
    def hung_up(self) -> bool:
        return self._hung_up

    def _alive(self) -> None:
        if self._hung_up:
            raise CallerHungUp

    def _prompt(self, entry: Heard) -> None:
        self._alive()
        if not Path(entry.sound + ".wav").is_file():
            self.missing_files.append(entry.sound)  # Asterisk would answer result=-1
        self.heard.append(entry)
        if self.hangup_on_prompt is not None and len(self.heard) >= self.hangup_on_prompt:
            self._hung_up = True
            raise CallerHungUp

    async def answer(self) -> None:
        self._alive()

    async def play(self, prompt: str, interrupt_digits: str = "") -> str:
        self._prompt(Heard("play", prompt))
        return ""

    async def read_digits(self, prompt: str, max_digits: int, timeout: float) -> str:
        assert max_digits >= 1 and timeout > 0
        entry = Heard("read", prompt, max_digits, timeout)
        self._prompt(entry)
        entry.answer = self.digits.pop(0)[:max_digits] if self.digits else ""
        return entry.answer

    async def wait_digit(self, timeout: float) -> str:
        self._alive()
        return self.digits.pop(0)[:1] if self.digits else ""

    async def set_variable(self, name: str, value: str) -> None:
        self._alive()
        self.set_vars[name] = value

    async def get_variable(self, name: str) -> str | None:
        self._alive()
        return self.set_vars.get(name, self.variables.get(name))

    async def execute(self, application: str, args: str = "") -> str:
        self._alive()
        return "0"

    async def enqueue(self, queue: str, timeout: float) -> bool:
        self._alive()
        self.enqueued.append((queue, timeout, dict(self.set_vars)))
        return self.agent_answers

    async def hangup(self) -> None:
        self._alive()
        self.hangup_calls += 1
        self._hung_up = True
