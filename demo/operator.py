"""The operator's toolkit, walked through against the local emulator (the README's output).

``.venv/bin/python -m demo.operator`` starts the emulator, lets a person ("alice")
build a small estate — two container apps in ``rg-apps``, one of them converged by
the service, a third app deleted while its delete event was lost — and then runs
the operator's commands (``python -m handlers explain | inventory | plan --all
[--policy] | release``) as the service's identity, printing each command and its
real output. The README's sections on these commands are this transcript
(``tests/integration/test_ops_readme.py`` keeps them true, ids aside).
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["STEPS", "main", "transcript"]

ROOT = Path(__file__).resolve().parents[1]
STANDARD = ("/subscriptions/{subscription}/resourceGroups/{resourceGroup}/providers/"
            "Microsoft.ManagedIdentity/userAssignedIdentities/id-platform")
POLICY = f"""\
[identities]
standard = ["{STANDARD}"]
"""
STRICTER = POLICY + """
[grants]
allowed_roles = ["Reader", "Storage Queue Data Reader"]
allowed_scopes = ["/subscriptions/{subscription}/resourceGroups/{resourceGroup}",
                  "/subscriptions/{subscription}/resourceGroups/rg-shared"]
"""
MONITORING_READER = "43d0d8ad-25c7-4714-9337-8ba259a9fe05"
# (section, shown command, arguments): the README has one block per section
STEPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("explain", "explain $WEB", ("explain", "{web}")),
    ("inventory", "inventory", ("inventory",)),
    ("plan-all", "plan --all", ("plan", "--all")),
    ("plan-policy", "plan --all --policy stricter.toml",
     ("plan", "--all", "--policy", "{stricter}")),
    ("release", "release $WEB", ("release", "{web}")),
    ("release-yes", "release $WEB --detach-identities --yes",
     ("release", "{web}", "--detach-identities", "--yes")),
)


def _delete_as_person(emu: Any, resource: str) -> None:
    """A person deletes a workload; its delete event is never delivered (lost)."""
    ctx = ssl.create_default_context(cafile=emu.ca_path)
    req = urllib.request.Request(f"{emu.endpoint}{resource}?api-version=2024-03-01",
                                 method="DELETE",
                                 headers={"Authorization": f"Bearer {emu.person_token()}"})
    with urllib.request.urlopen(req, context=ctx) as resp:
        assert resp.status in (200, 202, 204), resp.status


def _cli(emu: Any, workdir: Path, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WARDEN_", "AZURE_", "IDENTITY_", "MSI_"))}
    env.update(emu.env)
    env["PYTHONPATH"] = str(ROOT)
    env["WARDEN_POLICY"] = "policy.toml"  # in workdir
    p = subprocess.run([sys.executable, "-m", "handlers", *args], cwd=workdir, env=env,
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def transcript() -> list[tuple[str, str, int, str]]:
    """(section, shown command, exit code, output) of every step, run now."""
    from emulator import EmulatorThread

    with EmulatorThread(time_scale=0) as emu, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "policy.toml").write_text(POLICY)
        (work / "stricter.toml").write_text(STRICTER)
        rg = emu.seed_resource_group("rg-apps")
        shared = emu.seed_resource_group("rg-shared")
        emu.seed_resource(f"{rg}/providers/Microsoft.Storage/storageAccounts/stapp")
        emu.seed_identity(f"{rg}/providers/Microsoft.ManagedIdentity/"
                          "userAssignedIdentities/id-platform")
        apps = f"{rg}/providers/Microsoft.App/containerApps"
        web = emu.seed_container_app(f"{apps}/web", identity="SystemAssigned", tags={
            "team": "payments",
            "grant:blob": "Storage Blob Data Reader@Microsoft.Storage/storageAccounts/stapp",
            "grant:queue": "Storage Queue Data Reader@Microsoft.Storage/storageAccounts/stapp;"
                           " Reader@Microsoft.Storage/storageAccounts/stold",
            "grant:admin": "Owner@.",
            "grant:metrics": "Monitoring Reader@.",
            "grant:shared": f"Reader@{shared}"})["id"]
        emu.seed_role_assignment(rg, MONITORING_READER, emu.get(web)["identity"]["principalId"])
        old = emu.seed_container_app(f"{apps}/old", tags={"grant:rg": "Reader@."})["id"]
        code, _, err = _cli(emu, work, "reconcile")  # the service converges both
        assert code == 0, err
        _delete_as_person(emu, old)
        emu.seed_container_app(f"{apps}/api", tags={"grant:rg": "Reader@."})
        out: list[tuple[str, str, int, str]] = []
        for section, shown, args in STEPS:
            argv = [a.format(web=web, stricter="stricter.toml") for a in args]
            code, stdout, _ = _cli(emu, work, *argv)
            out.append((section, shown, code, stdout))
        return out


def main() -> int:
    steps = transcript()
    for _, shown, code, stdout in steps:
        sys.stdout.write(f"$ .venv/bin/python -m handlers {shown}\n{stdout}")
        if code:
            sys.stdout.write(f"(exit {code})\n")
        sys.stdout.write("\n")
    return 0 if all(code == 0 for _, _, code, _ in steps) else 1


if __name__ == "__main__":
    raise SystemExit(main())
