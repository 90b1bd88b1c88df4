"""Contracts between the code and its documentation."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from relaypot import cli, config
from relaypot.events import EVENT_TYPES, VIOLATIONS, _codec_plan

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def documented_events() -> dict[str, list[str]]:
    text = (DOCS / "events.md").read_text()
    sections = re.split(r"^### `([a-z_.]+)`\s*$", text, flags=re.M)
    found = {}
    for kind, body in zip(sections[1::2], sections[2::2]):
        body = body.split("Violation kinds")[0].split("\n## ")[0]  # up to the next part of the page
        found[kind] = re.findall(r"^\| `([a-z_0-9]+)` \|", body, flags=re.M)
    return found


def test_events_md_documents_exactly_the_registry():
    """docs/events.md lists every event kind with exactly its fields, and nothing else."""
    documented = documented_events()
    assert set(documented) == set(EVENT_TYPES)
    for kind, cls in EVENT_TYPES.items():
        expected = [key for _, key, _ in _codec_plan(cls)]
        assert documented[kind] == expected, kind


def test_events_md_documents_every_violation_kind():
    text = (DOCS / "events.md").read_text().split("Violation kinds:")[1].split("\n## ")[0]
    rows = dict(re.findall(r"^\| `([a-z_0-9]+)` \| (.+) \|$", text, flags=re.M))
    assert {kind: meaning.replace("`", "") for kind, meaning in rows.items()} == VIOLATIONS


def test_cli_md_documents_every_command_and_option():
    """Every subcommand and every flag of every subcommand appears in docs/cli.md."""
    text = (DOCS / "cli.md").read_text()
    parser = cli.parser()
    for name, (func, epilog) in parser.commands.items():
        assert f"## `relaypot {name}`" in text, name
        assert func.__doc__ and epilog.startswith("examples:")
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, subparser in sub.choices.items():
        for action in subparser._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}" in text, f"{name} {flag}"


def documented_default(option: config.Option) -> str:
    """A default as docs/cli.md writes it: TOML, sizes in the largest whole binary unit."""
    return config.default_text(option)


def test_cli_md_documents_every_configuration_key():
    """Each setting's row in docs/cli.md gives its real default, variable and meaning."""
    text = (DOCS / "cli.md").read_text()
    for option in config.OPTIONS:
        row = (f"| `[{option.table}]` | `{option.key}` | `{documented_default(option)}` | `{option.env}` | "
               f"{option.help} |")
        assert row in text, row


def test_readme_commands_are_what_ci_runs():
    """The README's test command is the one .ci/run calls; its install-and-run command is there too."""
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = re.search(r"^    (pip install -e '\.\[test\]' && .+)$", readme, flags=re.M).group(1)
    assert test_command in ci
    assert re.search(r"^    pip install \. && relaypot run$", readme, flags=re.M)


def test_the_version_lives_in_one_place():
    """pyproject.toml reads the version from relaypot.__version__; the installed metadata agrees."""
    import importlib.metadata

    import relaypot

    project = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in project and "\nversion = " not in project.split("[project]")[1].split("\n[")[0]
    assert importlib.metadata.version("relaypot") == relaypot.__version__
    assert (ROOT / "CHANGELOG.md").exists() and (ROOT / "CONTRIBUTING.md").exists()


def test_events_md_maps_fields_that_exist_to_ecs_names():
    """The Logstash/Filebeat/Elastic mapping names record fields that exist, to dotted ECS names."""
    text = (DOCS / "events.md").read_text().split("## Field mapping for Elastic (ECS)", 1)[1]
    rows = re.findall(r"^\| (`[a-z_.]+`|every record) \| `([a-z_0-9]+)` \| `([a-z_.@]+)` \|", text, flags=re.M)
    assert len(rows) >= 30
    identity = {"kind", "session", "seq", "ts", "sensor", "src_ip"}
    for kind, field, ecs in rows:
        if kind == "every record":
            assert field in identity, field
        else:
            assert field in [key for _, key, _ in _codec_plan(EVENT_TYPES[kind.strip("`")])], (kind, field)
        assert re.fullmatch(r"@timestamp|[a-z_]+(\.[a-z_0-9]+)+", ecs), ecs


def test_personas_md_documents_every_key_of_every_persona_table():
    """The example file in docs/personas.md has each table of the persona model, with every key."""
    from relaypot.personas import model

    text = (ROOT / "docs" / "personas.md").read_text(encoding="utf-8")
    block = text.split("## The file", 1)[1].split("```toml", 1)[1].split("```", 1)[0]
    documented: dict[str, set[str]] = {}
    table = ""
    for line in block.splitlines():
        header = re.match(r"^\[([a-z_.]+)\]", line)
        if header:
            table = header.group(1)
            documented[table] = set()
        elif table and re.match(r"^[a-z_0-9]+ = ", line):
            documented[table].add(line.split(" = ", 1)[0])
    for name, cls in model.TABLE_CLASSES.items():
        fields = {f.name for f in dataclasses.fields(cls)}
        assert documented.get(name) == fields, (name, fields ^ documented.get(name, set()))
