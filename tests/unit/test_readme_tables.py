"""README's tables of commands and environment variables say what the code has."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from handlers.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end]


def test_every_command_has_its_row_in_the_command_table() -> None:
    subparsers = next(a for a in build_parser()._actions
                      if isinstance(a, argparse._SubParsersAction))
    commands = set(subparsers.choices) - {"bench"}  # the benchmark: README's Performance
    rows = re.findall(r"^\| `python -m handlers (\w+)", section("Command line"), re.M)
    assert commands == set(rows)


def test_every_variable_the_code_reads_is_in_the_environment_table() -> None:
    code = "".join(p.read_text(encoding="utf-8")
                   for p in [ROOT / "function_app.py", *(ROOT / "handlers").rglob("*.py")])
    read = set(re.findall(r"[\"'%](WARDEN_[A-Z_]+)[\"'%]", code)) - {"WARDEN_NS"}  # a constant
    read |= set(re.findall(r"[\"'](APPLICATIONINSIGHTS_[A-Z_]+)[\"']", code))
    table = set(re.findall(r"^\| `([A-Z_]+)`", section("Environment"), re.M))
    assert read, "the code reads no variable?"
    assert read <= table, f"not in README's Environment table: {sorted(read - table)}"
    assert {t for t in table if t.startswith("WARDEN_")} <= read, "a variable nothing reads"
