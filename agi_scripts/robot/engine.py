"""The robot dialog engine: runs a script on one answered call through ``CallSession``.

It speaks only the script's approved words (templates filled from the case), collects DTMF,
captures promises to pay, hands over to a human queue, and always returns a ``RobotOutcome``
— also when the callee hangs up mid-prompt (``CallerHungUp`` unwinds to here).
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from dataclasses import dataclass, field

from agi_scripts.robot.script import Node, Script
from agi_scripts.robot.template import render
from agi_scripts.speech.dates import date_en, date_zh
from agi_scripts.speech.prompts import PromptSource
from agi_scripts.speech.words_en import amount_en, int_to_en
from agi_scripts.speech.words_zh import amount_zh, int_to_zh
from pbx.session import CallerHungUp, CallSession

log = logging.getLogger(__name__)

CASE_ID_VARIABLE = "PACEDIAL_CASE_ID"
MAX_AMOUNT_DIGITS = 9


class Outcome(enum.StrEnum):
    """How a robot call ended, as written to the attempt."""

    PROMISE_TO_PAY = "promise_to_pay"
    REFUSED = "refused"
    WRONG_PARTY = "wrong_party"
    THIRD_PARTY = "third_party"
    NO_INPUT = "no_input"
    HUNG_UP = "hung_up"
    TRANSFERRED = "transferred"
    COMPLETED = "completed"


@dataclass(frozen=True)
class CaseInfo:
    """The case fields a script may speak. Money in minor units (fen / cents)."""

    case_id: str
    name: str
    amount_owed_minor: int
    due_date: dt.date
    repayment_channel: str = ""
    currency: str = "CNY"
    product: str = ""
    days_past_due: int = 0


@dataclass(frozen=True)
class NodeVisit:
    """One pass through a node: what was said, what was pressed, how it left."""

    node: str
    type: str
    said: tuple[str, ...] = ()
    digits: tuple[str, ...] = ()  # each collected input, "" for a timeout
    result: str = ""  # e.g. "next:menu", "key:1", "no_input", "hung_up", "transferred"


@dataclass(frozen=True)
class RobotOutcome:
    """The result of one robot call.

    ``outcome`` is ``promise_to_pay`` whenever a promise was confirmed (even if the callee
    hung up during the goodbye); ``caller_hung_up`` tells separately whether the callee hung up.
    """

    outcome: Outcome
    ptp_date: dt.date | None
    ptp_amount_minor: int | None
    last_node: str
    transcript: tuple[NodeVisit, ...]
    caller_hung_up: bool = False


@dataclass
class _State:
    visits: list[NodeVisit] = field(default_factory=list)
    ptp_date: dt.date | None = None
    ptp_amount: int | None = None
    current: str = ""


class _Hangup(Exception):
    def __init__(self, outcome: Outcome, caller_hung_up: bool = False) -> None:
        self.outcome = outcome
        self.caller_hung_up = caller_hung_up


def case_values(script: Script, case: CaseInfo) -> dict[str, str]:
    """Template values for a case, in the script's language."""
    if script.language == "zh":
        return {
            "name": case.name,
            "amount": amount_zh(case.amount_owed_minor),
            "due_date": date_zh(case.due_date),
            "channel": case.repayment_channel,
            "product": case.product,
            "days_past_due": int_to_zh(max(case.days_past_due, 0)),
        }
    return {
        "name": case.name,
        "amount": amount_en(case.amount_owed_minor, case.currency),
        "due_date": date_en(case.due_date),
        "channel": case.repayment_channel,
        "product": case.product,
        "days_past_due": int_to_en(max(case.days_past_due, 0)),
    }


def parse_promise_date(digits: str, today: dt.date, max_days: int) -> dt.date | None:
    """MMDD keyed by the callee → the next such date from ``today`` within ``max_days``."""
    if len(digits) != 4 or not digits.isdigit():
        return None
    month, day = int(digits[:2]), int(digits[2:])
    for year in (today.year, today.year + 1):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            return None
        if candidate >= today:
            return candidate if (candidate - today).days <= max_days else None
    return None


class _Dialog:
    def __init__(
        self,
        session: CallSession,
        script: Script,
        case: CaseInfo,
        prompts: PromptSource,
        today: dt.date,
        transfer_queue: str | None,
    ) -> None:
        self.session = session
        self.script = script
        self.case = case
        self.prompts = prompts
        self.today = today
        self.transfer_queue = transfer_queue
        self.values = case_values(script, case)
        self.state = _State()
        self.said: list[str] = []
        self.digits: list[str] = []

    def _text(self, node: Node, attr: str, extra: dict[str, str] | None = None) -> str:
        values = self.values if extra is None else {**self.values, **extra}
        return render(getattr(node, attr), values)

    async def say(
        self, node: Node, attr: str, interrupt: str = "", extra: dict[str, str] | None = None
    ) -> str:
        text = self._text(node, attr, extra)
        self.said.append(text)
        sound = await self.prompts.sound_for(f"{node.name}.{attr}", text)
        return await self.session.play(sound, interrupt)

    async def ask(
        self, node: Node, attr: str, max_digits: int, extra: dict[str, str] | None = None
    ) -> str:
        text = self._text(node, attr, extra)
        self.said.append(text)
        sound = await self.prompts.sound_for(f"{node.name}.{attr}", text)
        got = await self.session.read_digits(sound, max_digits, node.timeout)
        self.digits.append(got)
        return got

    def visit(self, node: Node, result: str) -> None:
        visit = NodeVisit(node.name, node.type, tuple(self.said), tuple(self.digits), result)
        self.state.visits.append(visit)
        self.said, self.digits = [], []

    async def run_node(self, node: Node) -> str:
        """Run one node; return the next node's name or raise ``_Hangup`` to end."""
        handler = getattr(self, f"_node_{node.type}")
        return await handler(node)

    async def _node_say(self, node: Node) -> str:
        digit = await self.say(node, "prompt", "".join(self.script.global_keys))
        if digit and digit in self.script.global_keys:
            self.visit(node, f"key:{digit}")
            return self.script.global_keys[digit]
        self.visit(node, f"next:{node.next}")
        return node.next or ""

    async def _node_disclosure(self, node: Node) -> str:
        await self.say(node, "prompt")  # never interruptible: it must be heard in full
        self.visit(node, f"next:{node.next}")
        return node.next or ""

    async def _node_menu(self, node: Node) -> str:
        for attempt in range(node.retries + 1):
            attr = "retry_prompt" if attempt and node.retry_prompt else "prompt"
            digit = (await self.ask(node, attr, 1))[:1]
            target = node.keys.get(digit) or self.script.global_keys.get(digit)
            if digit and target:
                self.visit(node, f"key:{digit}")
                return target
            if digit and node.invalid_prompt:
                await self.say(node, "invalid_prompt")
        self.visit(node, "no_input")
        return node.no_input or ""

    _node_identity = _node_menu

    async def _node_ptp(self, node: Node) -> str:
        for _attempt in range(node.retries + 1):
            keyed = await self.ask(node, "date_prompt", 4)
            promised = parse_promise_date(keyed, self.today, node.max_days) if keyed else None
            if promised is None:
                if keyed and node.invalid_prompt:
                    await self.say(node, "invalid_prompt")
                continue
            keyed = await self.ask(node, "amount_prompt", MAX_AMOUNT_DIGITS)
            amount = int(keyed) * 100 if keyed.isdigit() else 0
            if not 0 < amount <= self.case.amount_owed_minor:
                if keyed and node.invalid_prompt:
                    await self.say(node, "invalid_prompt")
                continue
            if node.confirm_prompt:
                extra = self._ptp_words(promised, amount)
                if (await self.ask(node, "confirm_prompt", 1, extra)) != node.confirm:
                    continue
            self.state.ptp_date, self.state.ptp_amount = promised, amount
            self.visit(node, f"promise:{promised.isoformat()}:{amount}")
            return node.next or ""
        self.visit(node, "no_input")
        return node.no_input or ""

    def _ptp_words(self, promised: dt.date, amount: int) -> dict[str, str]:
        if self.script.language == "zh":
            return {"ptp_date": date_zh(promised), "ptp_amount": amount_zh(amount)}
        return {"ptp_date": date_en(promised), "ptp_amount": amount_en(amount, self.case.currency)}

    async def _node_transfer(self, node: Node) -> str:
        if node.prompt:
            await self.say(node, "prompt")
        queue = node.queue or self.transfer_queue or self.script.transfer_queue or ""
        await self.session.set_variable(CASE_ID_VARIABLE, self.case.case_id)
        taken = await self.session.enqueue(queue, node.timeout)
        if taken:
            self.visit(node, f"transferred:{queue}")
            raise _Hangup(Outcome.TRANSFERRED)
        self.visit(node, f"queue_timeout:{queue}")
        return node.on_fail or ""

    async def _node_hangup(self, node: Node) -> str:
        # The outcome was decided on the way here: a callee leaving during the goodbye keeps it.
        outcome = Outcome(node.outcome or "completed")
        try:
            if node.prompt:
                await self.say(node, "prompt")
            self.visit(node, f"hangup:{node.outcome}")
            await self.session.hangup()
        except CallerHungUp:
            self.visit(node, "hung_up")
            raise _Hangup(outcome, caller_hung_up=True) from None
        raise _Hangup(outcome)

    def result(self, outcome: Outcome, hung_up: bool = False) -> RobotOutcome:
        state = self.state
        if state.ptp_date is not None and outcome is not Outcome.TRANSFERRED:
            outcome = Outcome.PROMISE_TO_PAY
        return RobotOutcome(
            outcome=outcome,
            ptp_date=state.ptp_date,
            ptp_amount_minor=state.ptp_amount,
            last_node=state.current,
            transcript=tuple(state.visits),
            caller_hung_up=hung_up,
        )


async def run_robot(
    session: CallSession,
    script: Script,
    case: CaseInfo,
    prompts: PromptSource,
    *,
    today: dt.date | None = None,
    transfer_queue: str | None = None,
) -> RobotOutcome:
    """Run ``script`` on an answered call until it hangs up, transfers or the callee leaves.

    ``today`` (the callee's local date) bounds promise dates; None means the host's date.
    ``transfer_queue`` overrides ``script.transfer_queue`` for transfer nodes without a queue.
    """
    dialog = _Dialog(session, script, case, prompts, today or dt.date.today(), transfer_queue)
    name = script.start
    try:
        for _step in range(script.max_steps):
            dialog.state.current = name
            if session.hung_up:
                raise CallerHungUp
            name = await dialog.run_node(script.nodes[name])
        log.warning(
            "call %s: robot script %s stopped after %d steps at node %s",
            session.call_id,
            script.name,
            script.max_steps,
            name,
        )
        await session.hangup()
        return dialog.result(Outcome.COMPLETED)
    except _Hangup as end:
        return dialog.result(end.outcome, hung_up=end.caller_hung_up)
    except CallerHungUp:
        node = script.nodes[dialog.state.current]
        dialog.visit(node, "hung_up")
        log.info("call %s: callee hung up at robot node %s", session.call_id, dialog.state.current)
        return dialog.result(Outcome.HUNG_UP, hung_up=True)
