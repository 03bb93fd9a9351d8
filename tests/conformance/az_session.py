"""``make conformance``: the official Azure CLI drives a whole operator session against
the emulator and the running service, and every step's answer is checked.

    python tests/conformance/az_session.py --az PATH/TO/az [--time-scale 0.01] [--page-size 2]

The emulator runs as users run it (``python -m emulator --env-file F --deliver-to URL``),
delivering its events to ``python -m handlers serve`` (the service, signed in as the
emulator's service identity, which holds only the deployment template's roles).
``az`` runs with the emulator's environment (managed-identity endpoint, CA bundle), one
configuration directory per principal, so the user's own profile is never touched:

- alice, a person (an Owner, as every person is): az has no way to sign a person in
  without Entra ID, so her ``az login --identity`` goes to the emulator's token
  endpoint with ``person=alice`` in ``IDENTITY_ENDPOINT``'s query (the emulator's
  documented person tokens); ARM sees a User, as it would see her;
- the service's identity (``az login --identity``), refused what its roles do not allow;
- a user-assigned identity alice makes Owner (``az login --identity --client-id``).

Steps: operator_steps.py (alice's session), warden_steps.py (the service end to end).
Not part of ``make test``: it needs ``azure-cli`` in a virtual environment of its own
(the Makefile makes one).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from azcli import Session, claims_of
from operator_steps import Run, closing_steps, operator_steps
from warden_steps import POLICY, warden_steps

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(what: str, ready: Callable[[], bool], proc: subprocess.Popen[str],
          timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"conformance: {what} did not start")
        time.sleep(0.1)


def _service_token_oid(env: dict[str, str]) -> str:
    """The service identity's object id, from a token of the emulator's MSI endpoint."""
    url = (f"{env['IDENTITY_ENDPOINT']}?api-version=2019-08-01"
           f"&resource={env['WARDEN_ARM_ENDPOINT']}")
    req = urllib.request.Request(url, headers={"X-IDENTITY-HEADER": env["IDENTITY_HEADER"]})
    context = ssl.create_default_context(cafile=env["SSL_CERT_FILE"])
    with urllib.request.urlopen(req, context=context) as answer:
        return str(claims_of(json.load(answer)["access_token"])["oid"])


def _unexpected_answers(access_log: Path) -> tuple[list[str], Counter[str]]:
    """The emulator's 5xx answers (each a bug), and a count of its 4xx by method and path."""
    errors, refused = [], Counter[str]()
    for line in access_log.read_text().splitlines():
        status, method, path = line.split(" ", 3)[:3]
        if status.startswith("5"):
            errors.append(line)
        elif status.startswith("4"):
            refused[f"{status} {method} {path}"] += 1
    return errors, refused


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Drive the emulator and the service with the "
                                "official Azure CLI.")
    p.add_argument("--az", required=True, help="the az executable to use")
    p.add_argument("--time-scale", default="0.01",
                   help="the emulator's time scale (default: %(default)s)")
    p.add_argument("--page-size", type=int, default=2,
                   help="the emulator's list page size: small, so that az follows nextLink "
                   "(default: %(default)s)")
    args = p.parse_args(argv)
    results: list[tuple[str, bool, str]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aca-conformance-") as tmp:
        env_file, access_log = Path(tmp, "emu.env"), Path(tmp, "access.log")
        policy, serve_log = Path(tmp, "policy.toml"), Path(tmp, "serve.log")
        policy.write_text(POLICY)
        port = _free_port()
        emulator = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--env-file", str(env_file),
             "--time-scale", args.time_scale, "--page-size", str(args.page_size),
             "--deliver-to", f"http://127.0.0.1:{port}/api/events",
             "--access-log", str(access_log)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        serve: subprocess.Popen[str] | None = None
        try:
            _wait("the emulator", env_file.exists, emulator)
            env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if line)
            with serve_log.open("w") as log:
                serve = subprocess.Popen(
                    [sys.executable, "-m", "handlers", "serve", "--port", str(port)],
                    cwd=ROOT, env={**_plain_env(), **env, "WARDEN_POLICY": str(policy)},
                    stdout=log, stderr=subprocess.STDOUT, text=True)
            _wait("aca-warden serve", lambda: "listening on" in serve_log.read_text(), serve)
            version = subprocess.run([args.az, "version", "-o", "json"], capture_output=True,
                                     text=True, check=True).stdout
            print(f"azure-cli {json.loads(version)['azure-cli']} against the emulator at "
                  f"{env['WARDEN_ARM_ENDPOINT']} (time scale {args.time_scale}, page size "
                  f"{args.page_size}) and aca-warden serve on port {port}", flush=True)
            person = f"{env['IDENTITY_ENDPOINT']}?person=alice"
            run = Run(person=Session(args.az, env, str(Path(tmp, "az-alice")), results,
                                     IDENTITY_ENDPOINT=person),
                      service=Session(args.az, env, str(Path(tmp, "az-service")), results),
                      uami=Session(args.az, env, str(Path(tmp, "az-id1")), results),
                      env=env, service_oid=_service_token_oid(env), page_size=args.page_size)
            for name, check in [*operator_steps(run), *warden_steps(run), *closing_steps(run)]:
                run.person.step(name, check)
            run.person.step("the emulator answered no request with a 5xx",
                            lambda: _no_server_errors(access_log))
        finally:
            for proc in (serve, emulator):
                if proc is not None:
                    proc.terminate()
                    proc.wait(timeout=30)
        if not all(ok for _, ok, _ in results):
            print("--- aca-warden serve's log (last 40 lines) ---\n"
                  + "\n".join(serve_log.read_text().splitlines()[-40:]), flush=True)
    passed = sum(1 for _, ok, _ in results if ok)
    print(f"conformance: {passed}/{len(results)} steps passed in "
          f"{time.monotonic() - started:.0f} s", flush=True)
    return 0 if passed == len(results) else 1


def _plain_env() -> dict[str, str]:
    """This process's environment without Azure or aca-warden settings of its own."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("WARDEN_", "AZURE_", "IDENTITY_", "MSI_"))}


def _no_server_errors(access_log: Path) -> str:
    errors, refused = _unexpected_answers(access_log)
    if errors:
        raise AssertionError("\n".join(errors[:20]))
    total = sum(1 for _ in access_log.read_text().splitlines())
    return (f"{total} requests; 4xx answers (expected refusals among them): "
            + ", ".join(f"{k} x{n}" for k, n in sorted(refused.items())))


if __name__ == "__main__":
    sys.exit(main())
