"""The README's commands exist: every `palermo ...` line names real commands and options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from palermo.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_commands() -> list[list[str]]:
    commands = []
    for line in README.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("palermo "):
            line = re.sub(r"\[[^\]]*\]", "", line)  # optional parts like [--json]
            commands.append(shlex.split(line)[1:])
    return commands


def test_readme_has_commands() -> None:
    assert len(_readme_commands()) >= 8


@pytest.mark.parametrize("argv", _readme_commands(), ids=lambda a: " ".join(a[:2]))
def test_readme_command_parses(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # the command path: as deep into the command groups as the words go (palermo victims case
    # open ...), the rest being arguments
    import typer

    from palermo.cli import app

    words = [a for a in argv if not a.startswith("-")]
    node: Any = typer.main.get_command(app)
    verbs: list[str] = []
    for word in words:
        if word not in getattr(node, "commands", {}):
            break
        node = node.commands[word]
        verbs.append(word)
    assert main([*verbs, "--help"]) == 0
    help_text = capsys.readouterr().out
    for option in (a.split("=")[0] for a in argv if a.startswith("--")):
        assert option in help_text, f"{option} is not an option of palermo {' '.join(verbs)}"
