"""Run checkov over infra/ (Bicep); fail on findings, parse errors and unexplained skips.

checkov reports files it cannot parse in ``parsing_errors`` but still exits 0
for them, which would let a broken template pass. This wrapper runs it with
JSON output and fails when

* a check failed,
* a file could not be parsed (``parsing_errors``), or nothing was scanned,
* a check was skipped without a written reason
  (``//checkov:skip=CKV_ID:reason`` inside the resource).

Usage: python infra/lint.py [--checkov PATH] [DIRECTORY]   (DIRECTORY: infra/)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_CHECKOV = HERE.parent / ".venv" / "checkov" / "bin" / "checkov"
NO_REASON = {"", "no comment provided"}


def run_checkov(checkov: str, directory: Path) -> list[dict[str, Any]]:
    """checkov's JSON reports for ``directory`` (one per framework)."""
    cmd = [
        checkov,
        "--directory",
        str(directory),
        "--framework",
        "bicep",
        "--skip-download",  # no network: no policy or guideline downloads
        "--output",
        "json",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    # 0: all passed, 1: some failed; anything else is checkov itself failing.
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"checkov exited {proc.returncode}:\n{proc.stderr}{proc.stdout}")
    try:
        data = json.loads(proc.stdout)
    except ValueError as exc:
        raise RuntimeError(f"checkov printed no JSON ({exc}):\n{proc.stderr}{proc.stdout}") from exc
    return data if isinstance(data, list) else [data]


def problems_in(reports: list[dict[str, Any]]) -> tuple[list[str], dict[str, int]]:
    """Everything that must fail the lint, and the summary totals."""
    problems: list[str] = []
    totals = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0}
    bicep = [r for r in reports if r.get("check_type") == "bicep"]
    for report in bicep:
        summary = report.get("summary", {})
        for key in totals:
            totals[key] += int(summary.get(key, 0) or 0)
        results = report.get("results", {})
        for check in results.get("failed_checks", []):
            lines = check.get("file_line_range") or []
            where = f"{check.get('file_path')}:{'-'.join(map(str, lines))}"
            problems.append(
                f"FAILED {check.get('check_id')} {check.get('check_name')}: "
                f"{check.get('resource')} ({where})"
            )
        for path in results.get("parsing_errors", []):
            problems.append(f"PARSE ERROR {path}: checkov could not parse this file")
        for check in results.get("skipped_checks", []):
            reason = (check.get("check_result") or {}).get("suppress_comment") or ""
            if reason.strip().lower() in NO_REASON:
                problems.append(
                    f"SKIPPED WITHOUT REASON {check.get('check_id')}: {check.get('resource')} "
                    f"({check.get('file_path')}); write //checkov:skip=ID:reason"
                )
    if totals["parsing_errors"] and not any(p.startswith("PARSE") for p in problems):
        problems.append(f"PARSE ERROR: {totals['parsing_errors']} files could not be parsed")
    if not bicep or totals["resource_count"] == 0:
        problems.append("checkov scanned no Bicep resources (wrong directory or framework?)")
    return problems, totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", default=str(DEFAULT_CHECKOV), help="checkov executable")
    parser.add_argument("directory", nargs="?", type=Path, default=HERE)
    args = parser.parse_args(argv)
    try:
        reports = run_checkov(args.checkov, args.directory)
    except (OSError, RuntimeError) as exc:
        print(f"lint: {exc}", file=sys.stderr)
        return 1
    problems, totals = problems_in(reports)
    for problem in problems:
        print(f"lint: {problem}", file=sys.stderr)
    print(
        "checkov (bicep, {dir}): passed={passed} failed={failed} skipped={skipped} "
        "parsing_errors={parsing_errors} resources={resource_count}".format(
            dir=args.directory, **totals
        )
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
