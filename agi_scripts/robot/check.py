"""Script validation: every problem a script can have before a campaign uses it.

``check_script`` reports syntax and field problems (from parsing) plus graph problems: unknown
next nodes, unreachable nodes, loops that never reach a hang-up or transfer, unknown template
fields, recordings that are missing or would replace a personalized prompt, and debt details
spoken on a path where the callee's identity has not been confirmed.
"""

from __future__ import annotations

import wave
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from agi_scripts.robot.script import Problem, Script, ScriptError, read_script
from agi_scripts.robot.template import (
    CASE_FIELDS,
    DEBT_FIELDS,
    PTP_FIELDS,
    TemplateError,
    template_fields,
)

INPUT_TYPES = frozenset({"say", "menu", "identity"})  # where global keys are listened for
TERMINAL_TYPES = frozenset({"hangup", "transfer"})


def check_script(path: str | Path) -> list[Problem]:
    """Every problem in the script file at ``path``; an empty list means it is usable."""
    script, problems = read_script(path)
    if script is None:
        return problems
    return problems + check_loaded(script)


def load_script(path: str | Path) -> Script:
    """Parse and validate a script; ``ScriptError`` (listing every problem) if it has any."""
    problems = check_script(path)
    if problems:
        raise ScriptError(problems)
    script, _ = read_script(path)
    assert script is not None
    return script


def load_script_dir(directory: str | Path) -> dict[str, Script]:
    """Every ``*.toml`` script in ``directory`` by its ``script.name``; ``ScriptError`` lists
    the problems of all files (and duplicate names) if any file is broken."""
    scripts: dict[str, Script] = {}
    problems: list[Problem] = []
    for path in sorted(Path(directory).glob("*.toml")):
        found = check_script(path)
        if found:
            problems.extend(found)
            continue
        script, _ = read_script(path)
        assert script is not None
        if script.name in scripts:
            other = scripts[script.name].path
            problems.append(
                Problem(str(path), None, "script.name", f"{script.name!r} also in {other}")
            )
        scripts[script.name] = script
    if problems:
        raise ScriptError(problems)
    return scripts


def check_loaded(script: Script) -> list[Problem]:
    """Graph, template and recording checks on a parsed script."""
    problems: list[Problem] = []
    add = problems.append
    file = script.path
    if script.start and script.start not in script.nodes:
        add(Problem(file, None, "script.start", f"unknown start node {script.start!r}"))
    for digit, target in script.global_keys.items():
        if target not in script.nodes:
            add(Problem(file, None, f"script.global_keys.{digit}", f"unknown next node {target!r}"))
    for node in script.nodes.values():
        for key, target in node.edges():
            if target not in script.nodes:
                add(Problem(file, node.name, key, f"unknown next node {target!r}"))
        if node.type == "transfer" and not (node.queue or script.transfer_queue):
            add(Problem(file, node.name, "queue", "no queue: set it here or script.transfer_queue"))
        problems.extend(_template_problems(file, node))
    problems.extend(_recording_problems(script))
    graph = _graph(script)
    problems.extend(_unreachable(script, graph))
    problems.extend(_dead_loops(script, graph))
    problems.extend(_debt_before_identity(script))
    return problems


def _template_problems(file: str, node) -> Iterable[Problem]:
    for attr, text in node.prompts().items():
        allowed = set(CASE_FIELDS)
        if node.type == "ptp" and attr == "confirm_prompt":
            allowed |= set(PTP_FIELDS)
        try:
            fields = template_fields(text)
        except TemplateError as exc:
            yield Problem(file, node.name, attr, f"bad template: {exc}")
            continue
        for name in fields:
            if name not in allowed:
                known = ", ".join(sorted(allowed))
                yield Problem(file, node.name, attr, f"unknown field {{{name}}} (known: {known})")


def _recording_problems(script: Script) -> Iterable[Problem]:
    for key, path in script.recordings.items():
        where = f"recordings.{key}"
        node_name, _, attr = key.partition(".")
        node = script.nodes.get(node_name)
        text = node.prompts().get(attr) if node else None
        if text is None:
            yield Problem(
                script.path, None, where, "no such prompt (expected <node>.<prompt field>)"
            )
        else:
            try:
                fields = template_fields(text)
            except TemplateError:
                fields = []
            if fields:
                names = ", ".join(f"{{{f}}}" for f in fields)
                yield Problem(
                    script.path,
                    None,
                    where,
                    f"prompt uses {names}: a recording cannot say case data",
                )
        if not path.is_file():
            yield Problem(script.path, None, where, f"recorded prompt file not found: {path}")
            continue
        try:
            with wave.open(str(path), "rb") as wav:
                wav.getnframes()
        except (wave.Error, EOFError) as exc:
            yield Problem(script.path, None, where, f"not a PCM WAV file ({exc}): {path}")


def _graph(script: Script) -> dict[str, list[str]]:
    graph: dict[str, list[str]] = {}
    for node in script.nodes.values():
        targets = [t for _, t in node.edges()]
        if node.type in INPUT_TYPES:
            targets += list(script.global_keys.values())
        graph[node.name] = [t for t in targets if t in script.nodes]
    return graph


def _reach(starts: Iterable[str], graph: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    queue = deque(s for s in starts if s in graph)
    while queue:
        name = queue.popleft()
        if name in seen:
            continue
        seen.add(name)
        queue.extend(graph[name])
    return seen


def _unreachable(script: Script, graph: dict[str, list[str]]) -> Iterable[Problem]:
    if script.start not in script.nodes:
        return
    reached = _reach([script.start], graph)
    for name in script.nodes:
        if name not in reached:
            yield Problem(
                script.path, name, "node", f"unreachable from start node {script.start!r}"
            )


def _sccs(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            name, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[name] = min(low[name], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[name])
            if low[name] == index[name]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == name:
                        break
                out.append(component)
    return out


def _dead_loops(script: Script, graph: dict[str, list[str]]) -> Iterable[Problem]:
    reverse: dict[str, list[str]] = {name: [] for name in graph}
    for name, targets in graph.items():
        for target in targets:
            reverse[target].append(name)
    terminals = [n.name for n in script.nodes.values() if n.type in TERMINAL_TYPES]
    can_exit = _reach(terminals, reverse)
    for component in _sccs(graph):
        is_cycle = len(component) > 1 or component[0] in graph[component[0]]
        if is_cycle and not can_exit.intersection(component):
            ordered = [n for n in script.nodes if n in component]
            loop = " → ".join([*ordered, ordered[0]])
            yield Problem(
                script.path,
                ordered[0],
                "next",
                f"loop without exit: {loop} never reaches a hangup or transfer node",
            )


def _debt_before_identity(script: Script) -> Iterable[Problem]:
    """Nodes revealing the debt that can be reached without a confirmed identity."""
    graph: dict[str, list[str]] = {}
    for node in script.nodes.values():
        edges = node.edges()
        if node.type == "identity" and node.confirm is not None:
            edges = [(k, t) for k, t in edges if k != f"keys.{node.confirm}"]
        targets = [t for _, t in edges]
        if node.type in INPUT_TYPES:
            targets += list(script.global_keys.values())
        graph[node.name] = [t for t in targets if t in script.nodes]
    for name in _reach([script.start], graph):
        node = script.nodes[name]
        if node.type in ("disclosure", "ptp"):
            yield Problem(
                script.path,
                name,
                "type",
                f"{node.type} node reachable before an identity node confirmed the callee",
            )
            continue
        for attr, text in node.prompts().items():
            try:
                debt = [f for f in template_fields(text) if f in DEBT_FIELDS]
            except TemplateError:
                continue
            if debt:
                names = ", ".join(f"{{{f}}}" for f in debt)
                yield Problem(
                    script.path,
                    name,
                    attr,
                    f"speaks debt details ({names}) before an identity node confirmed the callee",
                )
