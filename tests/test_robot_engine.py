"""The robot dialog engine driven by a scripted callee, with real espeak-ng prompts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from robot_callee import ScriptedCallee

from agi_scripts.robot import CASE_ID_VARIABLE, CaseInfo, Outcome, load_script, run_robot
from agi_scripts.robot.engine import parse_promise_date
from agi_scripts.speech import EspeakEngine, TtsPromptSource

CONF = Path(__file__).resolve().parent.parent / "conf" / "robot"
TODAY = dt.date(2025, 3, 10)
CASE = CaseInfo(
    case_id="case-42",
    name="张三",
    amount_owed_minor=325_000,
    due_date=dt.date(2025, 3, 1),
    repayment_channel="支付宝",
    product="消费贷",
    days_past_due=9,
)


@pytest.fixture(scope="module")
def zh_script():
    return load_script(CONF / "reminder_zh.toml")


@pytest.fixture(scope="module")
def sound_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("sounds")


@pytest.fixture(scope="module")
def zh_prompts(zh_script, sound_dir):
    return TtsPromptSource(EspeakEngine(), sound_dir, zh_script.voice, zh_script.recordings)


def nodes(outcome) -> list[str]:
    return [v.node for v in outcome.transcript]


def spoken(outcome) -> str:
    return " ".join(text for v in outcome.transcript for text in v.said)


async def run(script, prompts, callee, case=CASE, **kw):
    result = await run_robot(callee, script, case, prompts, today=TODAY, **kw)
    assert callee.missing_files == []  # every prompt the callee heard exists as a WAV file
    return result


async def test_promise_to_pay_records_date_and_amount(zh_script, zh_prompts):
    callee = ScriptedCallee(digits=["1", "1", "0315", "2000", "1"])
    result = await run(zh_script, zh_prompts, callee)
    assert result.outcome is Outcome.PROMISE_TO_PAY
    assert result.ptp_date == dt.date(2025, 3, 15)
    assert result.ptp_amount_minor == 200_000
    assert result.last_node == "bye_promise"
    assert not result.caller_hung_up
    assert nodes(result) == [
        "greet", "identity", "disclosure", "reminder", "main_menu", "promise", "bye_promise",
    ]  # fmt: skip
    text = spoken(result)
    assert "您在消费贷的借款三千二百五十元已于三月一日到期，请通过支付宝尽快还款。" in text
    assert "您承诺在三月十五日还款两千元。" in text
    assert callee.hangup_calls == 1
    assert [h.max_digits for h in callee.heard if h.op == "read"] == [1, 1, 4, 9, 1]


async def test_refusal_ends_with_refused(zh_script, zh_prompts):
    result = await run(zh_script, zh_prompts, ScriptedCallee(digits=["1", "2"]))
    assert result.outcome is Outcome.REFUSED
    assert result.last_node == "bye_refused"
    assert result.ptp_date is None and result.ptp_amount_minor is None


async def test_silence_after_all_retries_is_no_input(zh_script, zh_prompts):
    callee = ScriptedCallee(digits=[])
    result = await run(zh_script, zh_prompts, callee)
    assert result.outcome is Outcome.NO_INPUT
    assert result.last_node == "bye_no_input"
    identity = result.transcript[1]
    assert identity.digits == ("", "", "") and identity.result == "no_input"
    assert identity.said[0].startswith("请问您是张三本人吗")
    assert identity.said[1].startswith("抱歉，没有听到您的按键")  # the retry prompt
    assert [h.timeout for h in callee.heard if h.op == "read"] == [6.0, 6.0, 6.0]


async def test_invalid_key_counts_as_a_retry(zh_script, zh_prompts):
    result = await run(zh_script, zh_prompts, ScriptedCallee(digits=["7", "1", "2"]))
    assert result.outcome is Outcome.REFUSED
    assert "按键无效。" in result.transcript[1].said


async def test_callee_hanging_up_mid_prompt_is_hung_up_at_that_node(zh_script, zh_prompts):
    # prompts: 1 greet, 2 identity, 3 disclosure, 4 reminder ← hangs up while it plays
    callee = ScriptedCallee(digits=["1"], hangup_on_prompt=4)
    result = await run(zh_script, zh_prompts, callee)
    assert result.outcome is Outcome.HUNG_UP
    assert result.last_node == "reminder"
    assert result.caller_hung_up
    assert result.transcript[-1].result == "hung_up"
    assert callee.hangup_calls == 0


async def test_hangup_during_goodbye_keeps_the_promise(zh_script, zh_prompts):
    callee = ScriptedCallee(digits=["1", "1", "0315", "500", "1"], hangup_on_prompt=9)
    result = await run(zh_script, zh_prompts, callee)
    assert result.outcome is Outcome.PROMISE_TO_PAY
    assert result.ptp_amount_minor == 50_000
    assert result.caller_hung_up and result.last_node == "bye_promise"


async def test_key_0_transfers_warm_with_the_case_id(zh_script, zh_prompts):
    callee = ScriptedCallee(digits=["1", "0"], agent_answers=True)
    result = await run(zh_script, zh_prompts, callee)
    assert result.outcome is Outcome.TRANSFERRED
    assert result.last_node == "to_agent"
    queue, timeout, vars_at_enqueue = callee.enqueued[0]
    assert (queue, timeout) == ("collectors", 20.0)
    assert vars_at_enqueue[CASE_ID_VARIABLE] == "case-42"  # set before the hand-off


async def test_transfer_queue_override_and_no_agent_fallback(zh_script, zh_prompts):
    callee = ScriptedCallee(digits=["1", "0"], agent_answers=False)
    result = await run(zh_script, zh_prompts, callee, transfer_queue="team_gd")
    assert callee.enqueued[0][0] == "team_gd"
    assert result.outcome is Outcome.COMPLETED
    assert result.last_node == "bye_agents_busy"


@pytest.mark.parametrize(
    ("key", "outcome"), [("2", Outcome.WRONG_PARTY), ("3", Outcome.THIRD_PARTY)]
)
async def test_wrong_or_third_party_hears_no_debt_details(zh_script, zh_prompts, key, outcome):
    result = await run(zh_script, zh_prompts, ScriptedCallee(digits=[key]))
    assert result.outcome is outcome
    text = spoken(result)
    assert "元" not in text and "借款" not in text and "到期" not in text


async def test_bad_promise_date_and_amount_are_asked_again(zh_script, zh_prompts):
    # 1399: no such date; then 9999 yuan: more than owed; then valid (3 tries = retries + 1)
    digits = ["1", "1", "1399", "0320", "9999", "0320", "3250", "1"]
    result = await run(zh_script, zh_prompts, ScriptedCallee(digits=digits))
    assert result.outcome is Outcome.PROMISE_TO_PAY
    assert (result.ptp_date, result.ptp_amount_minor) == (dt.date(2025, 3, 20), 325_000)
    assert result.transcript[5].said.count("输入有误，请重新输入。") == 2


async def test_failed_promise_capture_goes_to_an_agent(zh_script, zh_prompts):
    digits = ["1", "1", "0315", "100", "2", "0315", "100", "2", "0315", "100", "2"]
    callee = ScriptedCallee(digits=digits)
    result = await run(zh_script, zh_prompts, callee)
    assert result.ptp_date is None
    assert result.outcome is Outcome.TRANSFERRED
    assert nodes(result)[-2:] == ["promise", "to_agent"]


async def test_endless_repeat_stops_at_max_steps(zh_script, zh_prompts):
    callee = ScriptedCallee(digits=["1"] + ["9"] * 200)
    result = await run(zh_script, zh_prompts, callee)
    assert result.outcome is Outcome.COMPLETED
    assert len(result.transcript) == zh_script.max_steps
    assert callee.hangup_calls == 1


async def test_english_script_speaks_amounts_in_words(tmp_path):
    script = load_script(CONF / "reminder_en.toml")
    prompts = TtsPromptSource(EspeakEngine(), tmp_path, script.voice)
    case = CaseInfo("case-7", "John Smith", 325_050, dt.date(2025, 3, 1), "the mobile app", "USD",
                    "personal")  # fmt: skip
    callee = ScriptedCallee(digits=["1", "1", "0402", "100", "1"])
    result = await run(script, prompts, callee, case=case)
    assert result.outcome is Outcome.PROMISE_TO_PAY
    assert result.ptp_date == dt.date(2025, 4, 2)
    text = spoken(result)
    assert "three thousand two hundred fifty dollars and fifty cents was due on March first" in text
    assert "You promise to pay one hundred dollars on April second." in text


@pytest.mark.parametrize(
    ("keyed", "today", "expected"),
    [
        ("0315", dt.date(2025, 3, 10), dt.date(2025, 3, 15)),
        ("0310", dt.date(2025, 3, 10), dt.date(2025, 3, 10)),
        ("0105", dt.date(2025, 12, 28), dt.date(2026, 1, 5)),  # wraps into next year
        ("0309", dt.date(2025, 3, 10), None),  # a year away: beyond max_days
        ("0230", dt.date(2025, 2, 1), None),
        ("1301", dt.date(2025, 2, 1), None),
        ("315", dt.date(2025, 3, 10), None),
        ("03*5", dt.date(2025, 3, 10), None),
    ],
)
def test_promise_date_from_keypad(keyed, today, expected):
    assert parse_promise_date(keyed, today, 30) == expected
