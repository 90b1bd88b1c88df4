"""Each layer imports only what its row of docs/ARCHITECTURE.md's layer table allows.

The table is the whitelist: its first column names a module (`events.py`, `vocabulary.py`)
or a package (`sinks/`), its third the relaypot modules and packages that one may import
(`everything` for the composition modules). A module or package missing from the table fails, so
the map and the house cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "relaypot"
DOC = ROOT / "docs" / "ARCHITECTURE.md"

# What the "must never" column says in words about the standard library, checked here by name.
FORBIDDEN_STDLIB = {
    # (random, yes: a session draws from the random.Random its settings hand it, never the global one)
    "protocol": {"asyncio", "socket", "ssl", "selectors", "threading", "time"},
    "vocabulary": {"asyncio", "socket", "ssl", "selectors", "threading", "time", "random"},
    "personas": {"asyncio", "socket", "ssl", "selectors", "threading"},
    "judgements": {"asyncio", "socket", "ssl", "selectors", "threading", "sqlite3"},
    "escape": {"asyncio", "socket", "threading"},
}


def layer_table() -> dict[str, set[str] | None]:
    """unit (dotted, relative to relaypot) → the units it may import (None: everything)."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Layers and their rules", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str] | None] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("`"):
            continue
        allowed_cell = cells[2]
        allowed = None if allowed_cell == "everything" else set(re.findall(r"`([a-z_.]+)`", allowed_cell))
        for name in re.findall(r"`([a-z_/]+(?:\.py|/))`", cells[0]):
            table[name.removesuffix("/").removesuffix(".py").replace("/", ".")] = allowed
    return table


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str, table: dict[str, set[str] | None]) -> str | None:
    """The most specific row naming `module` (protocol.session before protocol)."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in table:
            return ".".join(parts[:n])
    return None


def relaypot_imports(path: Path) -> set[str]:
    """Every relaypot module `path` imports, anywhere in it, as dotted names relative to relaypot."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from relaypot.judgements import classify` imports the module judgements.classify.
            names = [f"{node.module}.{alias.name}" if (SRC / Path(*node.module.split(".")[1:]) / f"{alias.name}.py")
                     .exists() or (SRC / Path(*node.module.split(".")[1:]) / alias.name).is_dir() else node.module
                     for alias in node.names]
        else:
            continue
        found |= {name.removeprefix("relaypot.") for name in names if name.startswith("relaypot.")}
        found |= {"__init__" for name in names if name == "relaypot"}
    return found


def stdlib_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def allowed(target: str, unit: str, rules: set[str] | None, table: dict[str, set[str] | None]) -> bool:
    if rules is None or target == "__init__":
        return True  # relaypot/__init__.py holds the version and imports nothing
    target_unit = unit_of(target, table)
    if target_unit is not None and (target_unit == unit or target_unit.startswith(unit + ".")):
        return True  # within its own layer, or a room of it with a row of its own below it
    return any(target == rule or target.startswith(rule + ".") for rule in rules)


MODULES = sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py" or p.parent != SRC)


def test_the_table_names_every_module_and_only_modules_that_exist():
    table = layer_table()
    assert len(table) >= 20, "the layer table was not found in docs/ARCHITECTURE.md"
    missing = sorted(module_name(p) for p in MODULES if unit_of(module_name(p), table) is None)
    assert missing == [], f"modules with no row in the layer table: {missing}"
    for unit in table:
        path = SRC / Path(*unit.split("."))
        assert path.is_dir() or path.with_suffix(".py").exists(), f"the table names {unit}, which does not exist"
    for rules in table.values():
        for rule in rules or ():
            path = SRC / Path(*rule.split("."))
            assert path.is_dir() or path.with_suffix(".py").exists(), f"the table allows {rule}, which does not exist"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_each_module_imports_only_what_its_layer_allows(path):
    table = layer_table()
    module = module_name(path)
    unit = unit_of(module, table)
    assert unit is not None
    rules = table[unit]
    wrong = sorted(t for t in relaypot_imports(path) if not allowed(t, unit, rules, table))
    assert wrong == [], f"{module} ({unit}/ may import {sorted(rules or [])}) imports {wrong}"
    banned = stdlib_imports(path) & FORBIDDEN_STDLIB.get(unit, set())
    assert banned == set(), f"{module} imports {sorted(banned)}"


def test_the_rules_run_one_way():
    """No two layers may import each other, directly or round a longer loop."""
    table = layer_table()
    edges: dict[str, set[str]] = {}
    for path in MODULES:
        unit = unit_of(module_name(path), table)
        assert unit is not None
        for target in relaypot_imports(path):
            other = unit_of(target, table)
            if other is not None and other != unit:
                edges.setdefault(unit, set()).add(other)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    loops = sorted(unit for unit in edges if reaches(unit, unit, {unit}))
    assert loops == [], f"layers in an import loop: {loops}"


def test_the_package_root_holds_only_the_version():
    assert relaypot_imports(SRC / "__init__.py") == set()
    assert stdlib_imports(SRC / "__init__.py") <= {"__future__"}


def test_the_transport_modules_do_not_import_each_other_both_ways():
    connection = relaypot_imports(SRC / "transport" / "connection.py")
    assert "transport.server" not in connection  # it asks for what it needs through connection.Host


def test_every_module_says_what_it_is():
    """Each module opens with a one-sentence docstring stating its role."""
    for path in SRC.rglob("*.py"):
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc, path


def test_the_glossary_names_what_exists_and_each_word_has_one_meaning():
    """docs/ARCHITECTURE.md's "Words, one meaning each": every dotted name it gives resolves, and
    the words it retired are gone from the code (no `build` but build_rows, no spool "replay")."""
    import importlib

    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Words, one meaning each", 1)[1].split("\n## ", 1)[0]
    names = {n for n in re.findall(r"`((?:[a-z_]+\.)+[A-Za-z_]+)`", section) if not n.endswith(".py")}
    assert len(names) >= 6
    for dotted in names:
        module, _, attribute = dotted.rpartition(".")
        assert hasattr(importlib.import_module(f"relaypot.{module}"), attribute), dotted
    for path in MODULES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        assert "build" not in defined and "SessionSettings" not in defined, path
        if module_name(path) in ("spool", "pipeline", "catchup"):
            assert "replay" not in path.read_text(encoding="utf-8").lower(), f"{path.name}: the spool resends"


def test_no_test_module_imports_another():
    """One toolbox: helpers live in tests/support.py (and the fixtures beside their tests), never
    in a test module another one imports."""
    tests = ROOT / "tests"
    for path in tests.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                assert not name.split(".")[-1].startswith("test_"), f"{path.relative_to(ROOT)} imports {name}"
