"""``klachtradar --help``: commands in panels, and no help text eaten by rich markup.

Typer renders help with rich markup, so ``(default: [store] path)`` shows as
``(default:  path)`` unless the bracket is escaped (``\\[store]``). These tests walk
every command and option of the real app, so a new help string cannot regress.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from rich.text import Text
from typer.core import TyperGroup
from typer.testing import CliRunner

from klachtradar.cli import HELP_PANELS, app

ROOT = Path(__file__).resolve().parents[2]
ROOT_COMMAND = typer.main.get_command(app)
assert isinstance(ROOT_COMMAND, TyperGroup)


def help_texts(command: Any, path: str) -> Iterator[tuple[str, str]]:
    """(where, text) for the help of ``command``, its parameters and its subcommands."""
    yield path, command.help or ""
    for param in command.params:
        yield f"{path} {param.name}", getattr(param, "help", None) or ""
    for name, sub in getattr(command, "commands", {}).items():
        yield from help_texts(sub, f"{path} {name}")


def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from command_paths(sub, (*path, name))


def render_help(*args: str, columns: int) -> str:
    result = CliRunner().invoke(
        app, [*args, "--help"], env={"COLUMNS": str(columns), "KLACHTRADAR_HOME": str(ROOT)}
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_rich_markup_never_eats_a_help_text() -> None:
    for where, text in help_texts(ROOT_COMMAND, "klachtradar"):
        assert Text.from_markup(text).plain == text.replace("\\[", "["), where


def test_every_top_level_command_is_in_one_panel() -> None:
    listed = [name for names in HELP_PANELS.values() for name in names]
    assert sorted(listed) == sorted(ROOT_COMMAND.commands)
    assert len(set(listed)) == len(listed)


@pytest.mark.parametrize("columns", [200, 80])
def test_help_shows_the_panels_in_order(columns: int) -> None:
    output = render_help(columns=columns)
    positions = [output.index(f"─ {panel} ") for panel in HELP_PANELS]
    assert positions == sorted(positions)
    assert "─ Commands " not in output  # nothing left in the default panel
    for panel, names in HELP_PANELS.items():
        section = output[output.index(f"─ {panel} ") :]
        for name in names:
            assert re.search(rf"│ {re.escape(name)}\s", section), (panel, name)


@pytest.mark.parametrize("columns", [200, 80])
def test_no_help_page_shows_a_default_with_its_section_eaten(columns: int) -> None:
    for path in command_paths(ROOT_COMMAND):
        output = render_help(*path, columns=columns)
        assert not re.search(r"\(default:( {2,}[a-z_]|\s*\))", output), path  # "(default:  path)"
        assert "\\[" not in output, path


def test_section_names_show_in_option_help() -> None:
    assert "(default: [store] path)" in render_help("top", columns=200)
    assert "(default: [triage] host)" in render_help("serve", columns=200)
    assert "[kafka] judge_workers" in render_help("process", columns=200)
