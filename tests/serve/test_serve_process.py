"""`python -m handlers serve` as a process: starts, answers, stops on SIGTERM/SIGINT."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nobody listens on right now (serve takes 1-65535, never 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def start(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "handlers", "serve", *args],
        cwd=tmp_path,
        env=serve_env(tmp_path, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_url(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    """The URL the server prints on stderr once it listens."""
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return match.group(1)
    proc.kill()
    raise AssertionError(f"serve did not report its URL: {''.join(seen)}")


@contextlib.contextmanager
def serving(tmp_path: Path, *args: str, **env: str
            ) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A started `serve` and the URL it listens on; killed on the way out if still running."""
    proc = start(tmp_path, *args, **env)
    try:
        yield proc, wait_for_url(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def stop(proc: subprocess.Popen[str], sig: signal.Signals = signal.SIGTERM) -> str:
    """Stop `serve` with `sig`; what it wrote on stderr."""
    proc.send_signal(sig)
    return proc.communicate(timeout=30)[1]


def post_json(url: str, body: Any) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_starts_answers_and_stops_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    with serving(tmp_path, "--port", str(free_port())) as (proc, url):
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/events")
        base = url.rsplit("/api/events", 1)[0]
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as resp:
            assert resp.status == 200
        validation = {
            "id": "v1",
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "subject": "",
            "data": {"validationCode": "code-42"},
            "dataVersion": "1",
            "eventTime": "2026-11-26T15:00:00Z",
        }
        assert post_json(url, [validation]) == (200, {"validationResponse": "code-42"})
        unusable = {"id": "bad-1", "eventType": "Microsoft.Resources.ResourceWriteSuccess",
                    "subject": "s", "dataVersion": "2", "eventTime": "2026-11-26T15:00:00Z",
                    "data": {"operationName": "Microsoft.App/containerApps/write",
                             "resourceUri": "not-an-arm-id"}}
        status, answer = post_json(url, [unusable])
        assert status == 200 and answer[0]["result"] == "refused"
        stderr = stop(proc, sig)
    assert proc.returncode == 0, stderr
    assert "stopping" in stderr
    # Operators see one structured line per outcome without asking for -v.
    assert re.search(r'outcome \{.*"event_id": "bad-1".*"result": "refused"', stderr), stderr


def test_serve_on_a_public_address_needs_a_key(tmp_path: Path) -> None:
    proc = start(tmp_path, "--host", "0.0.0.0", "--port", str(free_port()))
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "WARDEN_WEBHOOK_KEY" in stderr


def test_serve_with_an_unusable_policy_exits_2(tmp_path: Path) -> None:
    proc = start(tmp_path, "--port", str(free_port()),
                 WARDEN_POLICY=str(tmp_path / "missing.toml"))
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "missing.toml" in stderr


def test_requests_aiohttp_refuses_are_one_warning_line_each_naming_client_and_reason(
        tmp_path: Path) -> None:
    key = "webhook-key-5b1a4c59"
    malformed = [
        # a header line over aiohttp's 8190-byte limit; it starts with the key
        b"POST /api/events HTTP/1.1\r\nHost: x\r\naeg-sas-key: " + key.encode()
        + b"x" * 9000 + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nNot A Header\r\n\r\n",
        b"POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n",
    ]
    with serving(tmp_path, "--port", str(free_port()), WARDEN_WEBHOOK_KEY=key) as (proc, url):
        host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        for raw in malformed:
            with socket.create_connection((host, int(port)), timeout=10) as s:
                s.sendall(raw)
                assert s.recv(64).split(b"\r\n")[0].endswith(b" 400 Bad Request")
        stderr = stop(proc)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and " ERROR " not in stderr, stderr
    assert key not in stderr  # nothing the client sent is echoed
    lines = [line for line in stderr.splitlines() if "malformed request" in line]
    assert len(lines) == len(malformed), stderr
    assert all(" WARNING handlers.serve: refused a malformed request from 127.0.0.1: 400 "
               in line for line in lines), lines
    assert lines[0].endswith("400 Got more than 8190 bytes when reading"), lines
