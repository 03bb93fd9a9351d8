"""Running the official Azure CLI against the emulator: one signed-in ``az`` per principal.

Each :class:`Session` is an ``az`` with a configuration directory of its own (so the
user's own profile is never touched, and several principals can be signed in side by
side) and the emulator's environment: its managed-identity endpoint, its CA bundle.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["AzError", "Session", "claims_of", "expect", "wait_for"]


class AzError(Exception):
    """``az`` exited non-zero."""

    def __init__(self, args: list[str], code: int, stderr: str) -> None:
        super().__init__(f"az {' '.join(args)} exited {code}: {stderr.strip()[-800:]}")
        self.stderr = stderr


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def claims_of(token: str) -> dict[str, Any]:
    """The claims of a JWT-shaped token (the emulator's), unverified."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert isinstance(claims, dict)
    return claims


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = 60.0,
             interval_s: float = 0.5) -> T:
    """Probe until it answers something true; AssertionError naming WHAT after timeout_s."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s (last answer: {last!r})")
        time.sleep(interval_s)


class Session:
    """One ``az`` signed in as one principal; ``results`` collects the steps' outcomes."""

    def __init__(self, az: str, env: dict[str, str], config_dir: str,
                 results: list[tuple[str, bool, str]] | None = None, **overrides: str) -> None:
        self.az_path = az
        self.env = {**os.environ, **env, **overrides, "AZURE_CONFIG_DIR": config_dir,
                    "AZURE_CORE_COLLECT_TELEMETRY": "false", "AZURE_CORE_NO_COLOR": "true",
                    "AZURE_CORE_SURVEY_MESSAGE": "false"}
        for key in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID",
                    "AZURE_SUBSCRIPTION_ID"):
            self.env.pop(key, None)
        self.emulator_env = env
        self.results: list[tuple[str, bool, str]] = [] if results is None else results

    def az(self, *args: str) -> Any:
        """Run az; its JSON answer (None when it printed nothing)."""
        cmd = [self.az_path, *args, "--only-show-errors", "-o", "json"]
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise AzError(list(args), done.returncode, done.stderr)
        return json.loads(done.stdout) if done.stdout.strip() else None

    def az_fails(self, *args: str) -> str:
        """Run az expecting it to fail; its stderr."""
        try:
            self.az(*args)
        except AzError as exc:
            return exc.stderr
        raise AssertionError(f"az {' '.join(args)} succeeded")

    def signed_in_oid(self) -> str:
        """The object id in the token az uses for ARM now."""
        token = self.az("account", "get-access-token")["accessToken"]
        return str(claims_of(token)["oid"])

    def step(self, name: str, check: Callable[[], str | None]) -> None:
        started = time.monotonic()
        try:
            detail = check() or ""
            ok = True
        except (AssertionError, AzError, KeyError, IndexError, TypeError, ValueError, OSError,
                subprocess.SubprocessError) as exc:  # the step failed: say why, go on
            detail = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, AssertionError | AzError):
                detail += "\n" + traceback.format_exc(limit=3)
            ok = False
        took = time.monotonic() - started
        self.results.append((name, ok, detail))
        said = f": {detail}" if detail else ""
        print(f"[{'PASS' if ok else 'FAIL'}] {name} ({took:.1f} s){said}", flush=True)
