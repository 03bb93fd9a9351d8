"""``python -m handlers emulator`` as the contract's command line names it (not only
``python -m emulator``): ``--port`` and ``--env-file`` honoured, the env file holds exactly
the keys the contract lists, and the service runs from that file alone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"WARDEN_ARM_ENDPOINT", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE", "AZURE_SUBSCRIPTION_ID"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_handlers_emulator_writes_exactly_the_listed_keys_and_serves_the_cli(
        tmp_path: Path) -> None:
    env_file, port = tmp_path / "emu.env", free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "handlers", "emulator", "--port", str(port), "--env-file",
         str(env_file), "--latency-ms", "1", "--time-scale", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not env_file.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no env file"
            time.sleep(0.02)
        env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if line)
        assert set(env) == KEYS
        assert env["WARDEN_ARM_ENDPOINT"] == f"https://127.0.0.1:{port}"
        assert env["SSL_CERT_FILE"] == env["REQUESTS_CA_BUNDLE"]
        assert Path(env["SSL_CERT_FILE"]).is_file()

        child = {k: v for k, v in os.environ.items()
                 if not k.startswith(("WARDEN_", "AZURE_", "IDENTITY_", "MSI_"))}
        child.update(env)
        sub = env["AZURE_SUBSCRIPTION_ID"]

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "handlers", *args], cwd=tmp_path,
                                  env={**child, "PYTHONPATH": str(ROOT)}, capture_output=True,
                                  text=True, timeout=60)

        p = cli("reconcile")  # WARDEN_SUBSCRIPTIONS unset: every readable subscription
        assert p.returncode == 0, p.stderr
        p = cli("inventory", "--subscription", sub)
        assert p.returncode == 0, p.stderr
        missing = (f"/subscriptions/{sub}/resourceGroups/rg1/providers/Microsoft.App/"
                   f"containerApps/never-{uuid.uuid4().hex[:6]}")
        p = cli("plan", missing)
        assert p.returncode == 2 and "not found" in p.stderr and missing in p.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert f"https://127.0.0.1:{port}" in out + err
