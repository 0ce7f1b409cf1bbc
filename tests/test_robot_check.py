"""The robot script validator: each problem kind is reported with file, node and key."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from agi_scripts.robot import ScriptError, check_script, load_script, load_script_dir
from dialer_core.face.robot_cli import main

CONF = Path(__file__).resolve().parent.parent / "conf" / "robot"

HEAD = """
[script]
name = "t"
language = "zh"
voice = "cmn"
start = "ask"
transfer_queue = "collectors"
"""
GOOD_NODES = """
[nodes.ask]
type = "identity"
prompt = "请问是{name}吗？是请按1，不是请按2。"
keys = { "1" = "tell", "2" = "bye" }
confirm = "1"
no_input = "bye"

[nodes.tell]
type = "say"
prompt = "您的欠款{amount}。"
next = "bye"

[nodes.bye]
type = "hangup"
prompt = "再见。"
outcome = "completed"
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, nodes: str, head: str = HEAD) -> list[tuple[str | None, str, str]]:
    path = write(tmp_path, head + nodes)
    found = check_script(path)
    assert all(p.file == str(path) for p in found)
    return [(p.node, p.key, p.message) for p in found]


def has(found, node, key, words: str) -> bool:
    return any(n == node and k == key and words in m for n, k, m in found)


def test_shipped_scripts_are_clean():
    for path in sorted(CONF.glob("*.toml")):
        assert check_script(path) == [], path
    assert {p.name for p in CONF.glob("*.toml")} >= {"reminder_zh.toml", "reminder_en.toml"}


def test_good_script_loads(tmp_path):
    script = load_script(write(tmp_path, HEAD + GOOD_NODES))
    assert list(script.nodes) == ["ask", "tell", "bye"]
    assert ("bye.prompt", "再见。") in script.fixed_prompts()
    assert all(key != "ask.prompt" for key, _ in script.fixed_prompts())


def test_unreachable_node(tmp_path):
    extra = '[nodes.orphan]\ntype = "hangup"\noutcome = "refused"\n'
    found = problems(tmp_path, GOOD_NODES + extra)
    assert found == [("orphan", "node", "unreachable from start node 'ask'")]


def test_missing_prompt(tmp_path):
    found = problems(tmp_path, GOOD_NODES.replace('prompt = "您的欠款{amount}。"\n', ""))
    assert has(found, "tell", "prompt", "missing prompt for a say node")


def test_unknown_node_field_and_unknown_template_field(tmp_path):
    nodes = GOOD_NODES.replace('next = "bye"', 'next = "bye"\ncolour = "red"')
    nodes = nodes.replace("再见。", "再见，{nickname}。")
    found = problems(tmp_path, nodes)
    assert has(found, "tell", "colour", "unknown field for a say node")
    assert has(found, "bye", "prompt", "unknown field {nickname}")


def test_unknown_next_node(tmp_path):
    found = problems(tmp_path, GOOD_NODES.replace('"2" = "bye"', '"2" = "byee"'))
    assert found == [("ask", "keys.2", "unknown next node 'byee'")]


def test_loop_without_exit(tmp_path):
    nodes = GOOD_NODES.replace('next = "bye"', 'next = "again"') + (
        '[nodes.again]\ntype = "say"\nprompt = "请注意。"\nnext = "tell"\n'
    )
    found = problems(tmp_path, nodes)
    assert has(found, "tell", "next", "loop without exit: tell → again → tell")


def test_menu_loop_with_a_no_input_exit_is_fine(tmp_path):
    nodes = GOOD_NODES.replace('"2" = "bye"', '"2" = "bye", "9" = "ask"')
    assert problems(tmp_path, nodes) == []


@pytest.mark.parametrize("bad", ["a", "12", "", "+"])
def test_bad_dtmf_key(tmp_path, bad):
    found = problems(tmp_path, GOOD_NODES.replace('"2" = "bye"', f'"{bad}" = "bye"'))
    assert any(n == "ask" and "bad DTMF key" in m for n, _, m in found)


def test_confirm_key_must_be_a_menu_key(tmp_path):
    found = problems(tmp_path, GOOD_NODES.replace('confirm = "1"', 'confirm = "5"'))
    assert has(found, "ask", "confirm", "confirm key '5' is not one of the node's keys")


def test_debt_details_before_identity_is_caught(tmp_path):
    head = HEAD.replace('start = "ask"', 'start = "tell0"')
    nodes = GOOD_NODES + '[nodes.tell0]\ntype = "say"\nprompt = "您欠{amount}。"\nnext = "ask"\n'
    found = problems(tmp_path, nodes, head)
    assert has(found, "tell0", "prompt", "speaks debt details ({amount}) before an identity")
    # 'tell' is only reached through the confirm key: fine
    assert not any(n == "tell" for n, _, _ in found)


def test_wrong_party_branch_reaching_debt_is_caught(tmp_path):
    found = problems(tmp_path, GOOD_NODES.replace('"2" = "bye"', '"2" = "tell"'))
    assert has(found, "tell", "prompt", "speaks debt details")


def test_bad_values_name_the_key(tmp_path):
    nodes = GOOD_NODES.replace('confirm = "1"', 'confirm = "1"\ntimeout = -3\nretries = 9')
    nodes = nodes.replace('outcome = "completed"', 'outcome = "paid"')
    found = problems(tmp_path, nodes, HEAD.replace('"zh"', '"fr"'))
    assert has(found, "ask", "timeout", "expected seconds in (0, 60], got -3")
    assert has(found, "ask", "retries", "expected an integer in [0, 5], got 9")
    assert has(found, "bye", "outcome", "unknown outcome 'paid'")
    assert has(found, None, "script.language", "expected one of zh, en")


def test_unknown_type_and_start(tmp_path):
    nodes = GOOD_NODES + '[nodes.x]\ntype = "dance"\n'
    found = problems(tmp_path, nodes, HEAD.replace('start = "ask"', 'start = "begin"'))
    assert has(found, "x", "type", "unknown node type 'dance'")
    assert has(found, None, "script.start", "unknown start node 'begin'")


def test_transfer_without_any_queue(tmp_path):
    head = HEAD.replace('transfer_queue = "collectors"\n', "")
    nodes = GOOD_NODES.replace('"2" = "bye"', '"2" = "bye", "0" = "agent"') + (
        '[nodes.agent]\ntype = "transfer"\non_fail = "bye"\n'
    )
    assert has(problems(tmp_path, nodes, head), "agent", "queue", "no queue")


def test_recordings_are_checked(tmp_path):
    wav = tmp_path / "bye.wav"
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 800)
    (tmp_path / "junk.wav").write_bytes(b"not audio")
    rec = (
        '[recordings]\n"bye.prompt" = "bye.wav"\n"ask.prompt" = "bye.wav"\n'
        '"tell.nope" = "missing.wav"\n"bye.retry_prompt" = "junk.wav"\n'
    )
    found = problems(tmp_path, GOOD_NODES + rec)
    assert not any(k == "recordings.bye.prompt" for _, k, _ in found)
    assert has(found, None, "recordings.ask.prompt", "a recording cannot say case data")
    assert has(found, None, "recordings.tell.nope", "no such prompt")
    assert has(found, None, "recordings.tell.nope", "recorded prompt file not found")
    assert has(found, None, "recordings.bye.retry_prompt", "not a PCM WAV file")


def test_toml_syntax_error_names_the_line(tmp_path):
    text = HEAD + GOOD_NODES + "[nodes.broken\n"
    line = text.count("\n")
    found = problems(tmp_path, GOOD_NODES + "[nodes.broken\n")
    assert len(found) == 1 and found[0][1] == "toml" and f"line {line}" in found[0][2]


def test_load_script_raises_with_every_problem(tmp_path):
    path = write(tmp_path, HEAD + GOOD_NODES.replace('"2" = "bye"', '"2" = "x"').replace(
        'prompt = "再见。"\n', 'prompt = "{nope}"\n'))  # fmt: skip
    with pytest.raises(ScriptError) as err:
        load_script(path)
    assert len(err.value.problems) == 2
    assert f"{path}: node ask: keys.2: unknown next node 'x'" in str(err.value)


def test_cli_check_reports_and_exits_nonzero(tmp_path, capsys):
    bad = write(tmp_path, HEAD + GOOD_NODES.replace('next = "bye"', 'next = "nowhere"'))
    assert main(["check", str(CONF / "reminder_zh.toml"), str(bad)]) == 1
    out = capsys.readouterr()
    assert f"{bad}: node tell: next: unknown next node 'nowhere'" in out.err
    assert "reminder_zh.toml: ok" in out.out
    assert main(["check", str(CONF / "reminder_en.toml")]) == 0


def test_load_script_dir_by_name(tmp_path):
    scripts = load_script_dir(CONF)
    assert {"reminder_zh", "reminder_en"} <= scripts.keys()
    write(tmp_path, HEAD + GOOD_NODES, "a.toml")
    write(tmp_path, HEAD + GOOD_NODES, "b.toml")
    with pytest.raises(ScriptError, match="b.toml: script.name: 't' also in"):
        load_script_dir(tmp_path)
