"""The README's transcripts of the operator's commands are what the commands print.

``demo.operator`` builds the README's estate in the emulator and runs each command;
every ``<!-- ops-example:SECTION -->`` block of the README must match its output, with
GUIDs (random per emulator run) and timings set aside.
"""

from __future__ import annotations

import re
from pathlib import Path

from demo.operator import STEPS, transcript

README = Path(__file__).resolve().parents[2] / "README.md"
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_MS = re.compile(r'"duration_ms": [0-9.]+')


def normalised(text: str) -> str:
    return _MS.sub('"duration_ms": <ms>', _GUID.sub("<guid>", text))


def block(readme: str, section: str) -> str:
    head = f"<!-- ops-example:{section} -->\n```console\n"
    assert head in readme, f"README has no {section} example"
    return readme.split(head, 1)[1].split("```", 1)[0]


def test_the_readme_shows_what_the_operator_commands_print() -> None:
    readme = README.read_text(encoding="utf-8")
    steps = transcript()
    assert [s for s, *_ in steps] == [s for s, *_ in STEPS]
    for section, shown, code, out in steps:
        assert code == 0, (section, out)
        want = normalised(block(readme, section))
        got = normalised(f"$ .venv/bin/python -m handlers {shown}\n{out}")
        assert got == want, f"README section {section} is out of date:\n{got}"
