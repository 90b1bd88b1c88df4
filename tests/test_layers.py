"""Each layer imports only what its rules allow (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "relaypot"

FORBIDDEN = {
    "protocol": {"asyncio", "socket", "ssl", "selectors", "threading", "time", "relaypot.transport",
                 "relaypot.pipeline", "relaypot.sinks", "relaypot.storage", "relaypot.app", "relaypot.cli"},
    "personas": {"asyncio", "socket", "relaypot.protocol", "relaypot.transport", "relaypot.pipeline",
                 "relaypot.sinks", "relaypot.storage"},
    "transport": {"relaypot.app", "relaypot.cli", "relaypot.sinks"},
    "storage": {"relaypot.transport", "relaypot.pipeline", "relaypot.app", "asyncio"},
}


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports(layer):
    for path in (SRC / layer).glob("*.py"):
        for name in imports(path):
            for banned in FORBIDDEN[layer]:
                assert not (name == banned or name.startswith(banned + ".")), f"{path.name} imports {name}"


def test_every_module_says_what_it_is():
    """Each module opens with a one-sentence docstring stating its role."""
    for path in SRC.rglob("*.py"):
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc, path
