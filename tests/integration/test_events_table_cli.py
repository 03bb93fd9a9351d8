"""The contract's table "Events it reacts to", row by row, through ``python -m handlers
handle`` against the emulator: every row in the Event Grid schema AND in CloudEvents 1.0,
for a container app and for a job, with ARM names in other cases, and as dead-lettered
events (the extra fields Event Grid adds) fed back to ``handle``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator import EmulatorThread

from .test_cli_usage import delete_as_person
from .test_warden_cli import lines, run

WRITE = "Microsoft.Resources.ResourceWriteSuccess"
FAILURE = "Microsoft.Resources.ResourceWriteFailure"
DELETE = "Microsoft.Resources.ResourceDeleteSuccess"
ARN = "Microsoft.ResourceNotifications.Resources."
TAGS = "/providers/Microsoft.Resources/tags/default"
CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    with EmulatorThread(time_scale=0, principal_delay_s=0.3) as e:
        e.seed_resource_group("rg1")
        yield e


def grid(emu: Any, event_type: str, operation: str, uri: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "topic": f"/subscriptions/{emu.subscription_id}",
            "subject": uri, "eventType": event_type, "eventTime": "2026-11-29T10:00:00Z",
            "dataVersion": "2", "metadataVersion": "1",
            "data": {"operationName": operation, "resourceUri": uri, "status": "Succeeded",
                     "subscriptionId": emu.subscription_id,
                     "correlationId": str(uuid.uuid4()),
                     "claims": {CLAIM: emu.person_oid("alice")}}}


def arn(emu: Any, what: str, uri: str, wtype: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "topic": f"/subscriptions/{emu.subscription_id}",
            "subject": uri, "eventType": ARN + what, "eventTime": "2026-11-29T10:00:00Z",
            "dataVersion": "1", "metadataVersion": "1",
            "data": {"resourceInfo": {"id": uri, "name": uri.rsplit("/", 1)[1], "type": wtype,
                                      "location": "eastus", "properties": {}},
                     "operationalInfo": {"resourceEventTime": "2026-11-29T10:00:00Z"},
                     "apiVersion": "2024-03-01"}}


def as_schema(event: dict[str, Any], schema: str) -> dict[str, Any]:
    if schema == "eventgrid":
        return event
    return {"specversion": "1.0", "id": event["id"], "source": event["topic"],
            "subject": event["subject"], "type": event["eventType"],
            "time": event["eventTime"], "datacontenttype": "application/json",
            "data": event["data"]}


def dead_lettered(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "deadLetterReason": "MaxDeliveryAttemptsExceeded",
            "deliveryAttempts": 30, "lastDeliveryOutcome": "Probation",
            "publishTime": "2026-11-29T10:00:01Z", "lastDeliveryAttemptTime":
            "2026-11-29T12:00:00Z"}


def handle(emu: Any, tmp: Path, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    f = tmp / f"events-{uuid.uuid4().hex[:6]}.json"
    f.write_text(json.dumps(events))
    p = run(emu, "handle", str(f), tmp=tmp)
    assert p.returncode == 0, p.stderr
    out = lines(p.stdout)
    assert [o["event_id"] for o in out] == [e["id"] for e in events]
    return out


def grants(emu: Any, target: str) -> list[dict[str, Any]]:
    principal = ((emu.get(target) or {}).get("identity") or {}).get("principalId")
    return [a for a in emu.role_assignments()
            if principal and a["properties"]["principalId"] == principal]


@pytest.mark.parametrize("schema", ["eventgrid", "cloudevents"])
@pytest.mark.parametrize("wtype", ["Microsoft.App/containerApps", "Microsoft.App/jobs"])
@pytest.mark.parametrize("letter", [False, True], ids=["delivered", "dead-lettered"])
def test_every_row_of_the_events_table(emu: Any, tmp_path: Path, schema: str, wtype: str,
                                       letter: bool) -> None:
    name = f"t{uuid.uuid4().hex[:8]}"
    target = f"/subscriptions/{emu.subscription_id}/resourceGroups/rg1/providers/{wtype}/{name}"
    seed = emu.seed_job if wtype.endswith("/jobs") else emu.seed_container_app
    seed(target, tags={"grant:rg": "Reader@.", "team": "a"})
    # ARM names in another case are the same workload
    other_case = (f"/subscriptions/{emu.subscription_id}/resourcegroups/RG1/providers/"
                  f"{wtype.lower()}/{name}")

    def shaped(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [as_schema(dead_lettered(e) if letter else e, schema) for e in events]

    reconcile = shaped([
        grid(emu, WRITE, f"{wtype}/write", target),
        grid(emu, WRITE, "Microsoft.Resources/tags/write", target + TAGS),
        grid(emu, WRITE, "Microsoft.Resources/tags/write", target),
        grid(emu, DELETE, "Microsoft.Resources/tags/delete", target + TAGS),
        grid(emu, FAILURE, f"{wtype}/write", target),
        grid(emu, WRITE, f"{wtype.lower()}/WRITE", other_case),
        arn(emu, "CreatedOrUpdated", target, wtype),
    ])
    ignored = shaped([
        grid(emu, WRITE, f"{wtype}/authConfigs/write", f"{target}/authConfigs/current"),
        grid(emu, DELETE, f"{wtype}/delete", target + "/authConfigs/current"),
        grid(emu, "Microsoft.Resources.ResourceActionSuccess", f"{wtype}/start/action",
             target),
        grid(emu, "Microsoft.Resources.ResourceWriteCancel", f"{wtype}/write", target),
        grid(emu, "Microsoft.Resources.ResourceDeleteFailure", f"{wtype}/delete", target),
        grid(emu, WRITE, "Microsoft.Storage/storageAccounts/write",
             f"/subscriptions/{emu.subscription_id}/resourceGroups/rg1/providers/"
             "Microsoft.Storage/storageAccounts/st1"),
        arn(emu, "CreatedOrUpdated", f"{target}/authConfigs/current", f"{wtype}/authConfigs"),
    ])
    out = handle(emu, tmp_path, reconcile + ignored)
    alice = emu.person_oid("alice")
    for o in out[:len(reconcile)]:
        assert o["result"] == "applied" and o["app"].lower() == target.lower(), o
    assert [o["caller"] for o in out[:len(reconcile) - 1]] == [alice] * (len(reconcile) - 1)
    assert out[len(reconcile) - 1]["caller"] is None  # ARN events carry no claims
    assert [o["result"] for o in out[len(reconcile):]] == ["ignored"] * len(ignored), out
    assert len(grants(emu, target)) == 1

    again = handle(emu, tmp_path, reconcile[:1])
    assert again[0]["result"] == "unchanged"

    delete_as_person(emu, target)
    gone = shaped([grid(emu, DELETE, f"{wtype}/delete", target),
                   arn(emu, "Deleted", target, wtype),
                   grid(emu, DELETE, f"{wtype.lower()}/delete", other_case)])
    out = handle(emu, tmp_path, gone)
    assert [o["result"] for o in out] == ["deleted"] * 3, out
    assert not [a for a in emu.role_assignments()
                if target.lower() in (a["properties"].get("description") or "").lower()]
