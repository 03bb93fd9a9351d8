"""The repository stands on its own: nothing it ships or documents points outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A path that leaves the repository for a sibling "shared" folder, however it is spelled.
OUTSIDE = re.compile(r"(\.\./)+shared\b|/work/shared|(?<![\w/.-])shared/(fixtures|CONTRACT|STYLE)")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    out = []
    for name in names:
        path = ROOT / name
        if path.suffix in (".py", ".md", ".toml", ".json", ".bicep", ".yaml", ".yml", ".txt",
                           ".cfg", ".ini", "") and path.is_file():
            out.append(path)
    return out


def test_no_file_refers_to_anything_outside_the_repository() -> None:
    me = Path(__file__).resolve()
    hits = []
    for path in tracked_text_files():
        if path.resolve() == me:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert hits == []
