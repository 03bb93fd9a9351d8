"""`python -m handlers demo` tells the whole story, and says so when it does not hold."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from demo import DEMO_POLICY, Check, DemoResult, run_demo

ROOT = Path(__file__).resolve().parents[2]
HEADER = re.compile(r"^step +\| expected +\| observed +\| ok$", re.MULTILINE)
STEPS = ("1 create app", "2 re-tag", "3 Owner tag", "4 person's own", "5 scheduled job",
         "6 delete job", "7 delete app")


def summary_rows(text: str) -> list[list[str]]:
    """The rows of the final table, below its header and rule."""
    match = HEADER.search(text)
    assert match, f"no summary table in:\n{text}"
    rows = []
    for line in text[match.end():].splitlines()[2:]:
        if " | " not in line:
            break
        rows.append([cell.strip() for cell in line.split(" | ")])
    return rows


@pytest.mark.slow
def test_demo_command_tells_the_story_and_exits_0() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARDEN_", "AZURE_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "handlers", "demo"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    report = f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, report
    rows = summary_rows(proc.stdout)
    assert {row[0] for row in rows} == set(STEPS), report
    assert all(row[-1] == "yes" for row in rows), report
    assert "every step did what it says" in proc.stdout
    refusal = next(row for row in rows if row[1] == "grant:admin refused with a reason")
    assert "owner" in refusal[2].lower(), report
    assert proc.stderr == "", report  # no stray warnings or log noise


async def test_demo_fails_when_the_service_does_nothing() -> None:
    # The same story, but the webhook's policy manages no resource group at all.
    policy = DEMO_POLICY.replace('resource_groups = ["rg-apps"]', 'resource_groups = ["rg-other"]')
    assert policy != DEMO_POLICY
    out = io.StringIO()

    result = await run_demo(out, policy_toml=policy, step_timeout=10)

    assert result.exit_code != 0
    failed = {c.expected for c in result.checks if not c.ok}
    assert {
        "standard identity attached",
        "system identity enabled",
        "grant:blob granted",
        "grant:secrets granted",
        "grant:admin refused with a reason",
    } <= failed
    text = out.getvalue()
    assert "SOME STEPS FAILED" in text
    assert any(row[-1] == "NO" for row in summary_rows(text))


async def test_demo_fails_when_arm_refuses_the_services_grants_for_good() -> None:
    def forbid_role_assignments(emu: object) -> None:
        emu.inject_fault(  # type: ignore[attr-defined]
            "PUT", r"/providers/Microsoft\.Authorization/roleAssignments/", 403,
            "AuthorizationFailed", count=1000)

    out = io.StringIO()

    result = await run_demo(out, step_timeout=10, prepare=forbid_role_assignments)

    assert result.exit_code != 0
    verdict = {c.expected: c.ok for c in result.checks if c.step == "1 create app"}
    assert verdict == {
        "standard identity attached": True,
        "system identity enabled": True,
        "grant:blob granted": False,
        "grant:secrets granted": False,
    }, out.getvalue()


async def test_a_wait_that_runs_out_fails_the_demo_and_ends_the_story() -> None:
    out = io.StringIO()

    # No delivery settles within 0.2 s: the quiet period alone is longer.
    result = await run_demo(out, step_timeout=0.2)

    assert result.exit_code != 0
    first = result.checks[0]
    assert (first.step, first.ok) == ("1 create app", False)
    assert first.observed.startswith("timed out"), out.getvalue()
    assert [c.observed for c in result.checks if c.step != "1 create app"] == [
        "not run: an earlier step did not finish"] * (len(STEPS) - 1)


def test_a_demo_without_checks_is_not_a_success() -> None:
    assert DemoResult().exit_code == 1
    assert DemoResult([Check("1", "x", "x", True)]).exit_code == 0
    assert DemoResult([Check("1", "x", "x", True), Check("2", "y", "z", False)]).exit_code == 1
