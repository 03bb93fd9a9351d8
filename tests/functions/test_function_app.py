"""The Azure Functions entry points, called directly with real azure.functions objects."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

import function_app
from function_app import DeliveryRetry, app, event_to_dict, on_event, reconcile_timer
from handlers.errors import PolicyError

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SCHEDULE = "0 0 */6 * * *"


TYPES = {"app": "Microsoft.App/containerApps", "job": "Microsoft.App/jobs"}
both_workloads = pytest.mark.parametrize("kind", list(TYPES))


def seed_app(emu: Any, name: str = "web", tags: dict[str, str] | None = None,
             kind: str = "app") -> str:
    """A container app (or a job: `kind`), seeded without events."""
    rg = emu.seed_resource_group("rg-fn")
    app_id = f"{rg}/providers/{TYPES[kind]}/{name}"
    seed = emu.seed_job if kind == "job" else emu.seed_container_app
    seed(app_id, tags={"grant:rg": "Reader@."} if tags is None else tags)
    return app_id


def grid_event(
    emu: Any,
    app_id: str,
    *,
    operation: str = "Microsoft.App/containerApps/write",
    event_type: str = "Microsoft.Resources.ResourceWriteSuccess",
    subject: str | None = None,
) -> func.EventGridEvent:
    """The event as the Functions host hands it to the trigger."""
    return func.EventGridEvent(
        id=str(uuid.uuid4()),
        data={
            "operationName": operation,
            "resourceUri": subject or app_id,
            "status": "Succeeded",
            "subscriptionId": emu.subscription_id,
            "correlationId": str(uuid.uuid4()),
        },
        topic=f"/subscriptions/{emu.subscription_id}",
        subject=subject or app_id,
        event_type=event_type,
        event_time=dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.UTC),
        data_version="2",
    )


async def delete_as_person(emu: Any, rg: str, name: str, kind: str = "app") -> None:
    """Delete the app (or job) the way a person would, through the SDK."""
    from azure.mgmt.appcontainers.aio import ContainerAppsAPIClient

    async with ContainerAppsAPIClient(
        emu.person_credential(), emu.subscription_id, polling_interval=0, **emu.client_kwargs()
    ) as client:
        ops = client.jobs if kind == "job" else client.container_apps
        poller = await ops.begin_delete(rg, name)
        await poller.result()
    assert (
        emu.get(
            f"/subscriptions/{emu.subscription_id}/resourceGroups/{rg}/providers/"
            f"{TYPES[kind]}/{name}"
        )
        is None
    )


def grants_of(emu: Any, app_id: str) -> list[dict[str, Any]]:
    principal = ((emu.get(app_id) or {}).get("identity") or {}).get("principalId")
    return [
        a
        for a in emu.role_assignments()
        if principal and a["properties"]["principalId"] == principal
    ]


# -- bindings ------------------------------------------------------------------------


@functools.cache
def functions_by_name() -> dict[str, Any]:
    """The app's functions as the host indexes them (get_functions() may run once)."""
    return {f.get_function_name(): f for f in app.get_functions()}


def test_app_declares_exactly_the_two_functions() -> None:
    assert set(functions_by_name()) == {"on_event", "reconcile_timer"}


def test_on_event_is_an_event_grid_trigger() -> None:
    fn = functions_by_name()["on_event"]
    [binding] = json.loads(fn.get_function_json())["bindings"]
    assert binding == {"direction": "IN", "type": "eventGridTrigger", "name": "event"}
    assert fn.get_user_function().__name__ == "on_event"


def test_reconcile_timer_runs_on_the_app_setting_schedule() -> None:
    fn = functions_by_name()["reconcile_timer"]
    [binding] = json.loads(fn.get_function_json())["bindings"]
    assert binding["type"] == "timerTrigger"
    assert binding["name"] == "timer"
    assert binding["schedule"] == "%WARDEN_RECONCILE_SCHEDULE%"
    assert binding["runOnStartup"] is False
    assert binding["useMonitor"] is True


def test_default_schedule_is_every_six_hours_wherever_the_host_reads_settings() -> None:
    assert function_app.DEFAULT_RECONCILE_SCHEDULE == DEFAULT_SCHEDULE
    local = json.loads((REPO / "local.settings.json.example").read_text())
    assert local["Values"]["WARDEN_RECONCILE_SCHEDULE"] == DEFAULT_SCHEDULE
    main = (REPO / "infra" / "main.bicep").read_text()
    assert f"param reconcileSchedule string = '{DEFAULT_SCHEDULE}'" in main
    params = json.loads((REPO / "infra" / "main.parameters.json").read_text())
    assert params["parameters"]["reconcileSchedule"]["value"].endswith(f"={DEFAULT_SCHEDULE}}}")
    appmod = (REPO / "infra" / "modules" / "app.bicep").read_text()
    assert re.search(r"^\s*WARDEN_RECONCILE_SCHEDULE: reconcileSchedule$", appmod, re.M)
    # NCRONTAB: six fields, seconds first.
    assert len(DEFAULT_SCHEDULE.split()) == 6


def test_host_json_loads_the_event_grid_extension_bundle() -> None:
    host = json.loads((REPO / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"] == {
        "id": "Microsoft.Azure.Functions.ExtensionBundle",
        "version": "[4.*, 5.0.0)",
    }


def test_import_is_cheap_and_creates_nothing(tmp_path: Path) -> None:
    code = (
        "import sys, function_app\n"
        "assert function_app._holder._warden is None\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('handlers', 'azure.identity',"
        " 'azure.mgmt', 'aiohttp')))\n"
        "print(loaded)\n"
    )
    env = {"PYTHONPATH": str(REPO), "WARDEN_POLICY": str(tmp_path / "missing.toml")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- on_event ----------------------------------------------------------------------


def test_event_to_dict_is_the_event_grid_schema() -> None:
    event = func.EventGridEvent(
        id="e1",
        data={"operationName": "x"},
        topic="/subscriptions/s",
        subject="/subscriptions/s/resourceGroups/r",
        event_type="Microsoft.Resources.ResourceWriteSuccess",
        event_time=dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.UTC),
        data_version="2",
    )
    assert event_to_dict(event) == {
        "id": "e1",
        "topic": "/subscriptions/s",
        "subject": "/subscriptions/s/resourceGroups/r",
        "eventType": "Microsoft.Resources.ResourceWriteSuccess",
        "eventTime": "2026-11-26T15:00:00+00:00",
        "data": {"operationName": "x"},
        "dataVersion": "2",
        "metadataVersion": "1",
    }


@both_workloads
async def test_write_event_applies_grants_and_returns(emu: Any, kind: str) -> None:
    app_id = seed_app(emu, kind=kind)
    write = f"{TYPES[kind]}/write"
    assert await on_event(grid_event(emu, app_id, operation=write)) is None
    assert len(grants_of(emu, app_id)) == 1
    # Redelivery of the same kind of event: nothing left to do, still acknowledged.
    assert await on_event(grid_event(emu, app_id, operation=write)) is None
    assert len(grants_of(emu, app_id)) == 1


async def test_ignored_and_refused_events_are_acknowledged(emu: Any) -> None:
    app_id = seed_app(emu)
    other = grid_event(emu, app_id, operation="Microsoft.Storage/storageAccounts/write")
    assert await on_event(other) is None
    broken = grid_event(emu, app_id, subject="not-an-arm-id")
    assert await on_event(broken) is None
    assert grants_of(emu, app_id) == []


@both_workloads
async def test_delete_event_cleans_up_and_returns(emu: Any, kind: str) -> None:
    app_id = seed_app(emu, kind=kind)
    await on_event(grid_event(emu, app_id, operation=f"{TYPES[kind]}/write"))
    principal = emu.get(app_id)["identity"]["principalId"]
    assert len(grants_of(emu, app_id)) == 1
    await delete_as_person(emu, "rg-fn", "web", kind)
    deleted = grid_event(
        emu,
        app_id,
        operation=f"{TYPES[kind]}/delete",
        event_type="Microsoft.Resources.ResourceDeleteSuccess",
    )
    assert await on_event(deleted) is None
    assert [a for a in emu.role_assignments() if a["properties"]["principalId"] == principal] == []


async def test_transient_failure_raises_so_event_grid_redelivers(emu: Any) -> None:
    app_id = seed_app(emu)
    emu.inject_fault("GET", r"/containerApps/web", 503, "ServiceUnavailable", count=20)
    with pytest.raises(DeliveryRetry, match="transient"):
        await on_event(grid_event(emu, app_id))
    assert grants_of(emu, app_id) == []
    emu.faults.clear()
    assert await on_event(grid_event(emu, app_id)) is None
    assert len(grants_of(emu, app_id)) == 1


async def test_one_warden_per_worker_created_on_first_use(emu: Any) -> None:
    assert function_app._holder._warden is None
    app_id = seed_app(emu)
    await on_event(grid_event(emu, app_id))
    first = function_app._holder._warden
    assert first is not None
    await asyncio.gather(*(on_event(grid_event(emu, app_id)) for _ in range(3)))
    assert function_app._holder._warden is first


# -- reconcile_timer -----------------------------------------------------------------


async def test_timer_sweeps_every_app_and_job(emu: Any) -> None:
    one = seed_app(emu, "one")
    two = seed_app(emu, "two", {"grant:rg": "Reader@."})
    job = seed_app(emu, "one", kind="job")
    assert await reconcile_timer(TimerRequest(past_due=True)) is None
    assert len(grants_of(emu, one)) == 1
    assert len(grants_of(emu, two)) == 1
    assert len(grants_of(emu, job)) == 1


async def test_timer_fails_the_run_on_transient_failures(emu: Any) -> None:
    seed_app(emu, "one")
    emu.inject_fault("GET", r"Microsoft\.App/containerApps", 503, "ServiceUnavailable", count=50)
    with pytest.raises(DeliveryRetry, match="reconcile sweep"):
        await reconcile_timer(TimerRequest(past_due=False))


# -- worker shutdown -----------------------------------------------------------------


class _RecordingWarden:
    def __init__(self) -> None:
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1


def test_worker_exit_closes_the_warden(monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers.warden import Warden

    made: list[_RecordingWarden] = []

    def from_env(cls: Any, env: Any = None) -> _RecordingWarden:
        made.append(_RecordingWarden())
        return made[-1]

    monkeypatch.setattr(Warden, "from_env", classmethod(from_env))
    holder = function_app._WardenHolder()
    loop = asyncio.new_event_loop()
    try:
        first = loop.run_until_complete(holder.get())
        assert loop.run_until_complete(holder.get()) is first
        holder.close_at_exit()  # what atexit runs when the worker stops
        assert [w.closed for w in made] == [1]
        holder.close_at_exit()  # idempotent
        assert [w.closed for w in made] == [1]
    finally:
        loop.close()


# -- a service that must not start ---------------------------------------------------


@pytest.mark.parametrize("setting", [{"WARDEN_DRY_RUN": "maybe"},
                                     {"WARDEN_POLICY": "missing-policy.toml"}])
async def test_unusable_settings_fail_every_invocation_loudly_and_write_nothing(
        emu: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        setting: dict[str, str]) -> None:
    """A typo in WARDEN_DRY_RUN (or a missing policy) never means "write for real": the
    invocation fails (Event Grid retries, then dead-letters) and the log says why."""
    app_id = seed_app(emu)
    for key, value in setting.items():
        monkeypatch.setenv(key, value)
    emu.clear_log()
    for _ in range(2):  # not only the first invocation
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="aca_warden"), \
                pytest.raises(PolicyError, match=next(iter(setting.values()))):
            await on_event(grid_event(emu, app_id))
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any(next(iter(setting)) in m or "missing-policy" in m for m in errors), errors
        with pytest.raises(PolicyError):
            await reconcile_timer(TimerRequest(past_due=False))
    assert emu.count(kind="write") == 0
    assert grants_of(emu, app_id) == []


async def test_a_validation_event_reaching_the_trigger_is_acknowledged(emu: Any) -> None:
    validation = func.EventGridEvent(
        id=str(uuid.uuid4()), data={"validationCode": "abc", "validationUrl": "https://x"},
        topic=f"/subscriptions/{emu.subscription_id}", subject="",
        event_type="Microsoft.EventGrid.SubscriptionValidationEvent",
        event_time=dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.UTC), data_version="1")
    emu.clear_log()
    assert await on_event(validation) is None
    assert emu.count() == 0


@pytest.mark.parametrize(("text", "words"), [
    ("[grants]\nallowed_role = [\"Reader\"]\n", ("grants.allowed_role", "expected one of")),
    ("[grants]\nenable_system_identity = \"yes\"\n",
     ("grants.enable_system_identity", "expected a boolean")),
    ("[grants\ntag_prefix = \"x\"\n", ("not valid TOML", "line 1")),
])
async def test_an_unusable_policy_file_stops_the_functions_naming_file_key_and_expectation(
        emu: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        tmp_path: Path, text: str, words: tuple[str, ...]) -> None:
    """The contract's policy error, through the Functions entry points: the message names
    the file, the key and what was expected, in what is raised and in the ERROR log."""
    policy = tmp_path / "bad-policy.toml"
    policy.write_text(text)
    monkeypatch.setenv("WARDEN_POLICY", str(policy))
    app_id = seed_app(emu)
    emu.clear_log()
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="aca_warden"), \
            pytest.raises(PolicyError) as raised:
        await on_event(grid_event(emu, app_id))
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    for message in (str(raised.value), *errors[-1:]):
        assert str(policy) in message and all(w in message for w in words), message
    assert errors
    with pytest.raises(PolicyError, match=re.escape(str(policy))):
        await reconcile_timer(TimerRequest(past_due=False))
    assert emu.count(kind="write") == 0 and grants_of(emu, app_id) == []


async def test_the_functions_read_policy_toml_of_the_current_directory(
        emu: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """No WARDEN_POLICY: policy.toml in the current directory (the function app's root),
    else every default with a warning."""
    app_id = seed_app(emu, tags={"perm:rg": "Reader@."})
    with caplog.at_level(logging.WARNING):
        await on_event(grid_event(emu, app_id))  # defaults: "perm:" is not a grant tag
    assert grants_of(emu, app_id) == []
    assert any("no policy file" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)
    await function_app._holder.aclose()  # a new worker, started with policy.toml in place
    (tmp_path / "policy.toml").write_text("[grants]\ntag_prefix = \"perm:\"\n")
    await on_event(grid_event(emu, app_id))
    assert len(grants_of(emu, app_id)) == 1


def _arn_event(emu: Any, what: str, app_id: str, kind: str) -> func.EventGridEvent:
    """An Azure Resource Notifications event, as the trigger hands it over."""
    return func.EventGridEvent(
        id=str(uuid.uuid4()),
        data={"resourceInfo": {"id": app_id, "name": app_id.rsplit("/", 1)[1],
                               "type": TYPES[kind], "location": "eastus", "properties": {}},
              "operationalInfo": {"resourceEventTime": "2026-11-26T15:00:00Z"},
              "apiVersion": "2024-03-01"},
        topic=f"/subscriptions/{emu.subscription_id}", subject=app_id,
        event_type=f"Microsoft.ResourceNotifications.Resources.{what}",
        event_time=dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.UTC), data_version="1")


@both_workloads
@pytest.mark.parametrize("row", ["tags write", "tags write on the bare id", "tags delete",
                                 "write failure", "resource notification", "other case"])
async def test_each_reconcile_row_of_the_events_table_through_the_trigger(
        emu: Any, kind: str, row: str) -> None:
    """The contract's events table, each row that reconciles, through on_event."""
    app_id = seed_app(emu, name=f"r{uuid.uuid4().hex[:6]}", kind=kind)
    tags = app_id + "/providers/Microsoft.Resources/tags/default"
    events = {
        "tags write": lambda: grid_event(emu, app_id, subject=tags,
                                         operation="Microsoft.Resources/tags/write"),
        "tags write on the bare id": lambda: grid_event(
            emu, app_id, operation="Microsoft.Resources/tags/write"),
        "tags delete": lambda: grid_event(
            emu, app_id, subject=tags, operation="Microsoft.Resources/tags/delete",
            event_type="Microsoft.Resources.ResourceDeleteSuccess"),
        "write failure": lambda: grid_event(
            emu, app_id, operation=f"{TYPES[kind]}/write",
            event_type="Microsoft.Resources.ResourceWriteFailure"),
        "resource notification": lambda: _arn_event(emu, "CreatedOrUpdated", app_id, kind),
        "other case": lambda: grid_event(
            emu, app_id, operation=f"{TYPES[kind]}/write".lower(),
            subject=app_id.replace("/resourceGroups/rg-fn/", "/resourcegroups/RG-FN/")
            .replace(TYPES[kind], TYPES[kind].lower())),
    }
    assert await on_event(events[row]()) is None
    assert len(grants_of(emu, app_id)) == 1


@both_workloads
async def test_a_resource_notifications_delete_cleans_up_through_the_trigger(
        emu: Any, kind: str) -> None:
    app_id = seed_app(emu, kind=kind)
    await on_event(_arn_event(emu, "CreatedOrUpdated", app_id, kind))
    principal = emu.get(app_id)["identity"]["principalId"]
    assert len(grants_of(emu, app_id)) == 1
    await delete_as_person(emu, "rg-fn", "web", kind)
    assert await on_event(_arn_event(emu, "Deleted", app_id, kind)) is None
    assert [a for a in emu.role_assignments() if a["properties"]["principalId"] == principal] == []
