"""`python -m handlers serve` options: checked before anything starts, and one start-up line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_serve_process import free_port, serve_env, start


@pytest.mark.parametrize("args", [
    ["--port", "99999"], ["--port", "65536"], ["--port", "0"], ["--port", "-1"],
    ["--port", "http"], ["--port", ""], ["--port", "1e3"],
    ["--timeout", "nan"], ["--timeout", "inf"], ["--timeout", "-inf"], ["--timeout", "0"],
    ["--timeout", "-5"], ["--timeout", "soon"], ["--timeout", ""],
])
def test_bad_options_exit_2_with_a_message_naming_the_option(tmp_path: Path,
                                                             args: list[str]) -> None:
    p = subprocess.run([sys.executable, "-m", "handlers", "serve", *args], cwd=tmp_path,
                       env=serve_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert args[0] in p.stderr and "Traceback" not in p.stderr
    assert "listening" not in p.stderr


@pytest.mark.parametrize("port", ["1", "65535"])
def test_the_ends_of_the_port_range_are_accepted_by_the_parser(port: str) -> None:
    from handlers.cli import build_parser

    args = build_parser().parse_args(["serve", "--port", port, "--timeout", "0.5"])
    assert args.port == int(port) and args.timeout == 0.5


@pytest.mark.parametrize(("env", "expect"), [
    ({}, ["policy: built-in defaults", "dry run: off", "key: not required"]),
    ({"WARDEN_DRY_RUN": "on", "WARDEN_WEBHOOK_KEY": "k"},
     ["policy: built-in defaults", "dry run: on", "key: required"]),
    ({"WARDEN_POLICY": "strict.toml"}, ["policy: strict.toml", "dry run: on",
                                        "key: not required"]),
])
def test_one_start_up_line_says_address_policy_dry_run_and_key(
        tmp_path: Path, env: dict[str, str], expect: list[str]) -> None:
    (tmp_path / "strict.toml").write_text("[run]\ndry_run = true\n")
    port = free_port()
    proc = start(tmp_path, "--port", str(port), **env)
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        while not lines or "listening" not in lines[-1]:
            lines.append(proc.stderr.readline())
            assert lines[-1], f"serve exited before it listened: {lines}"
    finally:
        proc.terminate()  # SIGTERM: serve stops in order and exits 0
        _, rest = proc.communicate(timeout=30)
    assert proc.returncode == 0, rest
    line = lines[-1]
    assert sum("aca-warden serve:" in x for x in lines) == 1, lines  # one start-up line
    assert re.search(rf"listening on http://127\.0\.0\.1:{port}/api/events ", line), line
    assert "/runtime/webhooks/eventgrid" in line
    for part in expect:
        assert part in line, (part, line)


def test_the_readmes_start_up_line_is_what_serve_prints(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    [shown] = re.findall(r"^aca-warden serve: listening on .*$", readme, re.M)
    port = free_port()
    proc = start(tmp_path, "--port", str(port))
    assert proc.stderr is not None
    try:
        line = ""
        while "listening" not in line:
            line = proc.stderr.readline()
            assert line, "serve exited before it listened"
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert line.rstrip("\n") == shown.replace(":7071/", f":{port}/")
