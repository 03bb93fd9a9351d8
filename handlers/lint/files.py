"""Reading the files lint is given, with errors that name the file."""

from __future__ import annotations

import json
from typing import Any

from handlers.lint import jsonlines
from handlers.lint.model import LintError, Report

__all__ = ["load_json", "parse_json", "read_text"]


def read_text(path: str) -> str:
    """The UTF-8 text of `path` (a BOM is dropped); LintError when it cannot be read."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            return f.read()
    except FileNotFoundError:
        raise LintError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise LintError(f"{path}: is a directory, not a file") from None
    except UnicodeDecodeError as e:
        raise LintError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise LintError(f"{path}: cannot read it: {e.strerror or e}") from None


def parse_json(path: str, text: str) -> Any:
    """JSON with key lines (:mod:`~handlers.lint.jsonlines`); LintError naming line and column."""
    try:
        return jsonlines.load(text)
    except json.JSONDecodeError as e:
        raise LintError(f"{path}: not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:
        raise LintError(f"{path}: JSON nested too deeply") from None


def load_json(path: str, report: Report, from_file: str, line: int) -> Any | None:
    """A JSON file that `from_file` links to (line `line`); a "not checked" finding and None
    when it cannot be read, since lint was not asked about it directly."""
    try:
        return parse_json(path, read_text(path))
    except LintError as e:
        report.not_checked(from_file, line, "template", f"the template it links: {e}")
        return None
