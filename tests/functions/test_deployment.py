"""The deployment template's must-haves (contract: "Deployment must-haves"), read from infra/.

checkov (make lint) checks the templates for security findings; these tests pin
what the product needs from them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

INFRA = Path(__file__).resolve().parents[2] / "infra"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
USER_ACCESS_ADMIN = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
RBAC_ADMIN = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"


def read(name: str) -> str:
    return (INFRA / name).read_text(encoding="utf-8")


def test_azure_yaml_deploys_the_function_then_creates_event_subscriptions() -> None:
    text = (INFRA.parent / "azure.yaml").read_text(encoding="utf-8")
    assert re.search(
        r"^  warden:\n    project: \.\n    language: python\n    host: function$", text, re.M
    )
    assert re.search(
        r"^  postdeploy:\n(?:    .*\n)*      run: \./infra/scripts/postdeploy\.sh$", text, re.M
    )
    script = read("scripts/postdeploy.sh")
    assert "--template-file infra/events.bicep" in script


def test_function_app_is_flex_consumption_python_311_with_keyless_storage() -> None:
    app = read("modules/app.bicep")
    assert "tier: 'FlexConsumption'" in app
    assert re.search(r"runtime: \{\s*name: 'python'\s*version: '3.11'", app)
    assert "allowSharedKeyAccess: false" in app
    assert "AzureWebJobsStorage__accountName: storage.name" in app
    assert "AzureWebJobsStorage__credential: 'managedidentity'" in app
    assert "Microsoft.Insights/components" in app and "DisableLocalAuth: true" in app


def test_event_subscription_schema_batch_retry_dead_letter_and_filter() -> None:
    sub = read("modules/event-subscription.bicep")
    assert "eventDeliverySchema: 'EventGridSchema'" in sub
    assert "endpointType: 'AzureFunction'" in sub
    assert "retryPolicy:" in sub and "deadLetterDestination:" in sub
    assert "endpointType: 'StorageBlob'" in sub
    assert re.search(r"includedEventTypes: \[\s*f\.eventType\s*\]", sub)
    assert re.search(r"operatorType: 'StringIn'\s*key: 'data.operationName'\s*values: f.operations",
                     sub)
    admitted = {
        (m.group(1), op)
        for m in re.finditer(r"eventType: '([^']+)'\s*operations: \[(.*?)\]", sub, re.S)
        for op in re.findall(r"'([^']+)'", m.group(2))
    }
    # exactly the contract's table (types and data.operationName values), jobs included
    write = "Microsoft.Resources.ResourceWriteSuccess"
    delete = "Microsoft.Resources.ResourceDeleteSuccess"
    failure = "Microsoft.Resources.ResourceWriteFailure"
    assert admitted == {
        (write, "Microsoft.App/containerApps/write"), (write, "Microsoft.App/jobs/write"),
        (write, "Microsoft.Resources/tags/write"),
        (delete, "Microsoft.App/containerApps/delete"), (delete, "Microsoft.App/jobs/delete"),
        (delete, "Microsoft.Resources/tags/delete"),
        (failure, "Microsoft.App/containerApps/write"), (failure, "Microsoft.App/jobs/write"),
    }
    events = read("events.bicep")
    batch = re.search(r"@maxValue\((\d+)\)\n(?:@.*\n)*param maxEventsPerBatch int = (\d+)", events)
    assert batch is not None and int(batch.group(2)) <= int(batch.group(1)) <= 10
    assert (
        "functions/${functionName}" in events and "param functionName string = 'on_event'" in events
    )
    assert "existingSystemTopics" in events  # one system topic per source: reuse one


def test_system_topic_watches_the_azure_subscription() -> None:
    topic = read("modules/system-topic.bicep")
    assert "topicType: 'Microsoft.Resources.Subscriptions'" in topic
    assert "source: subscription().id" in topic
    assert "location: 'global'" in topic


def test_rbac_administrator_is_constrained_and_never_delegates_privileged_roles() -> None:
    roles = json.loads(read("roles.json"))
    grantor = roles["grantor"]
    assert grantor["id"] == RBAC_ADMIN and grantor["conditionVersion"] == "2.0"
    assert grantor["neverDelegable"][:3] == [OWNER, USER_ACCESS_ADMIN, RBAC_ADMIN]
    condition = grantor["condition"]
    assert condition.count("ForAnyOfAllValues:GuidNotEquals {$neverDelegable}") == 2
    assert condition.count("StringEqualsIgnoreCase {$principalTypes}") == 2
    assert grantor["principalTypes"] == "'ServicePrincipal'"
    assert "ForAnyOfAnyValues:GuidEquals {$roles}" in grantor["allowedRolesClause"]
    access = read("modules/access.bicep")
    assert "loadJsonContent('../roles.json')" in access
    block = access[access.index("resource grantor") :]
    assert "condition: condition" in block
    assert "conditionVersion: roles.grantor.conditionVersion" in block
    assert "if (createMissingIdentities)" in access  # Managed Identity Contributor only then


def test_custom_role_writes_workloads_and_assigns_identities_only() -> None:
    roles = json.loads(read("roles.json"))
    assert sorted(roles["customRole"]["actions"]) == [
        "Microsoft.App/containerApps/write",
        "Microsoft.App/jobs/write",
        "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
    ]
    main = read("main.bicep")
    assert "loadJsonContent('roles.json')" in main
    assert "actions: roles.customRole.actions" in main


RG_A = "/subscriptions/sub-a/resourceGroups/rg"
FAKE_AZ = """#!/bin/sh
TOPIC=Microsoft.EventGrid/systemTopics/other
echo "$*" >> "$AZ_LOG"
case "$*" in
  *"system-topic list"*"--subscription sub-b"*)
    echo "/subscriptions/sub-b/resourceGroups/rg-x/providers/$TOPIC";;
  *"system-topic show"*) echo "SystemAssigned";;
esac
exit 0
"""


def run_postdeploy(tmp_path: Path, **env: str) -> tuple[int, str, list[str]]:
    import os
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(FAKE_AZ)
    az.chmod(0o755)
    log = tmp_path / "az.log"
    full = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "AZ_LOG": str(log),
        "AZURE_ENV_NAME": "prod",
        "AZURE_LOCATION": "westeurope",
        "AZURE_SUBSCRIPTION_ID": "sub-a",
        "WARDEN_FUNCTION_APP_ID": f"{RG_A}/providers/Microsoft.Web/sites/f",
        "WARDEN_SUBSCRIPTION_IDS": "sub-a,sub-b",
        "WARDEN_DEADLETTER_STORAGE_ID": f"{RG_A}/providers/Microsoft.Storage/storageAccounts/st",
        **env,
    }
    proc = subprocess.run(
        ["sh", str(INFRA / "scripts" / "postdeploy.sh")],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return proc.returncode, proc.stderr + proc.stdout, calls


def test_postdeploy_deploys_events_for_every_subscription_reusing_foreign_topics(
    tmp_path: Path,
) -> None:
    code, output, calls = run_postdeploy(tmp_path)
    assert code == 0, output
    [deploy] = [c for c in calls if c.startswith("deployment sub create")]
    assert "--template-file infra/events.bicep" in deploy
    assert 'subscriptionIds=["sub-a","sub-b"]' in deploy
    assert (
        'existingSystemTopics={"sub-b":"/subscriptions/sub-b/resourceGroups/rg-x/providers/'
        'Microsoft.EventGrid/systemTopics/other"}' in deploy
    )
    assert "functionAppId=/subscriptions/sub-a/" in deploy
    registered = [c for c in calls if c.startswith("provider register")]
    assert len(registered) == 2


def test_postdeploy_outside_azd_explains_itself(tmp_path: Path) -> None:
    code, output, calls = run_postdeploy(tmp_path, WARDEN_FUNCTION_APP_ID="")
    assert code == 2
    assert "WARDEN_FUNCTION_APP_ID" in output
    assert calls == []


def test_funcignore_and_the_layout_agree_only_the_service_is_deployed() -> None:
    root = Path(__file__).resolve().parents[2]
    ignored = {line.strip().rstrip("/") for line in (root / ".funcignore").read_text().split("\n")
               if line.strip() and not line.startswith("#")}
    packages = {p.parent.name for p in root.glob("*/__init__.py")}
    assert "handlers" in packages and "handlers" not in ignored
    # every other top-level package is a development tool and stays out of the deployment
    assert packages - {"handlers"} <= ignored, packages - ignored
    assert {"demo", "bench", "emulator", "tests"} <= ignored
    assert not (root / "handlers" / "demo").exists()
    assert not (root / "handlers" / "bench.py").exists()


@pytest.mark.parametrize("command", ["demo", "bench", "emulator"])
def test_the_deployed_package_says_a_development_command_is_not_there(
        tmp_path: Path, command: str) -> None:
    """Only handlers/ and function_app.py are deployed: the CLI's dev-tool commands say
    so (exit 2) instead of failing with a traceback."""
    root = Path(__file__).resolve().parents[2]
    shutil.copytree(root / "handlers", tmp_path / "handlers",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(root / "function_app.py", tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-m", "handlers", command], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert f"the {command} command is not available in this build" in out.stderr
