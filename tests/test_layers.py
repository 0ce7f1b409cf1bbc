"""The layers hold: pure rules stay pure, SQL stays in the store, no two packages import each
other.

A "package" here is a sub-package (``dialer_core.store``, ``pbx.sim``, ``agi_scripts.robot``) or a
single top-level module (``dialer_core.clock``); docs/architecture.md draws the layers.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOPS = ("dialer_core", "agi_scripts", "pbx")
PURE = ("dialer_core/pacing", "dialer_core/compliance")
IO_MODULES = {"asyncio", "asyncpg", "aiohttp", "socket"}


def _modules() -> dict[str, Path]:
    found = {}
    for top in TOPS:
        for path in (ROOT / top).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _parse(path: Path) -> ast.Module:
    """Parse on a fresh thread: CPython 3.11's AST constructor can raise "recursion depth
    mismatch" (gh-106905) on a thread whose recursion limit another test changed."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(ast.parse, path.read_text(encoding="utf-8")).result()


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(_parse(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _package(module: str) -> str:
    parts = module.split(".")
    if len(parts) >= 2 and (ROOT / parts[0] / parts[1]).is_dir():
        return ".".join(parts[:2])
    return module if parts[0] == "dialer_core" else parts[0]


def test_pacing_and_compliance_import_no_io_and_no_store():
    offenders = []
    for module, path in _modules().items():
        if not str(path.relative_to(ROOT)).startswith(PURE):
            continue
        for name in _imports(path):
            if name.split(".")[0] in IO_MODULES or name.startswith("dialer_core.store"):
                offenders.append(f"{module} imports {name}")
    assert offenders == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while comp[-1:] != [v]:
                comp.append(stack.pop())
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_packages():
    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in _modules().items():
        for name in _imports(path):
            if name.split(".")[0] in TOPS and _package(name) != _package(module):
                edges[_package(module)].add(_package(name))
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    edges = defaultdict(set, {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert _cycles(edges) == [["a", "b", "c"]]


SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)\b"
)


def test_no_sql_outside_the_store():
    offenders = []
    for module, path in _modules().items():
        if module.startswith("dialer_core.store"):
            continue
        for node in ast.walk(_parse(path)):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and SQL.search(" ".join(text.split())):
                offenders.append(f"{module}:{node.lineno}")
    assert offenders == []
