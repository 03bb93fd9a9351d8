"""What the demo tells: the checks it makes, the narrative as it runs and the final table.

Everything here is text for the person watching; ARM ids are shortened to
names and azure-core's multi-line errors to one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TextIO


@dataclass(frozen=True)
class Check:
    """One row of the summary: what a step should have done and what it did."""

    step: str
    expected: str
    observed: str
    ok: bool


@dataclass
class DemoResult:
    """Every check the story made, in order; a success only when there are some and all held."""

    checks: list[Check] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


class Narrator:
    """Prints the story as it happens (flushed, so progress shows while it runs)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def line(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, number: int, title: str) -> None:
        self.line()
        self.line(f"Step {number}: {title}")

    def detail(self, text: str) -> None:
        self.line(f"    {text}")

    def check(self, check: Check) -> None:
        mark = "ok  " if check.ok else "FAIL"
        self.line(f"  [{mark}] {check.expected}: {check.observed}")

    def summary(self, result: DemoResult) -> None:
        rows = [("step", "expected", "observed", "ok")]
        rows += [(c.step, c.expected, clip(c.observed, 60), "yes" if c.ok else "NO")
                 for c in result.checks]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        self.line()
        self.line("Summary")
        for i, row in enumerate(rows):
            cells = (cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            self.line(" | ".join(cells).rstrip())
            if i == 0:
                self.line("-+-".join("-" * w for w in widths))
        passed = sum(c.ok for c in result.checks)
        verdict = "every step did what it says" if result.ok else "SOME STEPS FAILED"
        self.line()
        self.line(f"{passed}/{len(result.checks)} checks passed "
                  f"in {result.elapsed_s:.1f} s: {verdict}")


def one_line(exc: BaseException) -> str:
    """An exception as one line: azure-core's errors span several."""
    first = next((line for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def clip(text: str, width: int) -> str:
    """`text` cut to `width` characters, with an ellipsis when it was longer."""
    return text if len(text) <= width else text[: width - 3] + "..."


_ARM_ID = re.compile(
    r"/subscriptions/[^/\s]+/resourceGroups/[^/\s]+(?:/providers(?:/[^/\s,;)]+)+)?"
)


def brief(text: str) -> str:
    """Shorten the ARM ids of resource groups and resources in a message to their names."""
    return _ARM_ID.sub(lambda m: m.group(0).rsplit("/", 1)[-1], text)


def short(resource_id: str) -> str:
    """The last segment of an ARM id, for the narrative."""
    return resource_id.rstrip("/").rsplit("/", 1)[-1]
