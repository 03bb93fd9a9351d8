"""Real pace: long-running writes answer and last as the recordings show, the time scale
speeds them up, a second write meanwhile is refused, an accepted write can fail later."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from emulator import Emulator
from emulator.pace import REAL, normalise_scale

API = "2024-03-01"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def paced(clock: Clock) -> AsyncIterator[Emulator]:
    """Real pace on a clock the test steps."""
    async with Emulator(time_scale=1, clock=clock) as e:
        yield e


@pytest.fixture
async def praw(paced: Emulator, raw_on: Callable[..., Any]) -> Any:
    return raw_on(paced)


def rid(emu: Emulator, kind: str, name: str) -> str:
    return (f"/subscriptions/{emu.subscription_id}/resourceGroups/rg/providers/Microsoft.App"
            f"/{kind}/{name}")


async def _status(raw: Any, url: str) -> str:
    status, body, _ = await raw("GET", url, api_version=None)
    assert status == 200, body
    return str(body["status"])


@pytest.mark.parametrize(("given", "scale"), [(1, 1.0), (0.01, 0.01), (0, 0.0), (100, 0.01)])
def test_time_scale_is_a_fraction_of_real_time(given: float, scale: float) -> None:
    assert Emulator(time_scale=given).time_scale == pytest.approx(scale)
    assert normalise_scale(given) == pytest.approx(scale)


@pytest.mark.parametrize("bad", [-1, math.nan, math.inf])
def test_time_scale_refuses_what_is_not_a_finite_number_above_0(bad: float) -> None:
    with pytest.raises(ValueError, match="time scale"):
        Emulator(time_scale=bad)


def test_the_default_is_real_pace() -> None:
    assert Emulator().time_scale == 1.0


@pytest.mark.parametrize(("kind", "real_s", "statuses"), [
    ("containerApps", REAL["containerApps.write"], "containerappOperationStatuses"),
    ("jobs", REAL["jobs.write"], "containerappsjobOperationStatuses"),
    ("managedEnvironments", REAL["managedEnvironments.create"],
     "managedEnvironmentOperationStatuses"),
])
async def test_put_stays_in_progress_for_the_real_duration(paced, praw, clock, kind, real_s,
                                                           statuses) -> None:
    paced.seed_resource_group("rg")
    status, body, headers = await praw("PUT", rid(paced, kind, "w1"), {
        "location": "eastus", "identity": {"type": "SystemAssigned"}}, api_version=API)
    assert status == 201
    assert set(headers) & {"Azure-AsyncOperation", "Location", "Retry-After"} == {
        "Azure-AsyncOperation"}
    assert f"/providers/Microsoft.App/locations/eastus/{statuses}/" in \
        headers["Azure-AsyncOperation"]
    expected = "Waiting" if kind == "managedEnvironments" else "InProgress"
    assert body["properties"]["provisioningState"] == expected
    url = headers["Azure-AsyncOperation"]
    clock.now += real_s - 0.01
    assert await _status(praw, url) == "InProgress"
    assert paced.events == []  # the write completes with its operation
    clock.now += 0.02
    assert await _status(praw, url) == "Succeeded"
    assert [e["data"]["operationName"] for e in paced.events] == [
        f"Microsoft.App/{kind}/write"]


async def test_the_time_scale_shortens_every_operation(clock, raw_on) -> None:
    async with Emulator(time_scale=0.01, clock=clock) as emu:
        emu.seed_container_app(rid(emu, "containerApps", "a1"))
        raw = raw_on(emu)
        _, _, headers = await raw("PATCH", rid(emu, "containerApps", "a1"),
                                  {"tags": {"a": "b"}}, api_version=API)
        clock.now += REAL["containerApps.write"] * 0.01 - 0.001
        assert (await raw("GET", headers["Location"], api_version=None))[0] == 202
        clock.now += 0.002
        assert (await raw("GET", headers["Location"], api_version=None))[0] == 200


async def test_patch_answers_202_with_location_only_then_the_app(paced, praw, clock) -> None:
    app = rid(paced, "containerApps", "a1")
    paced.seed_container_app(app)
    status, body, headers = await praw("PATCH", app, {"tags": {"a": "b"}}, api_version=API)
    assert (status, body) == (202, None)
    assert set(headers) & {"Azure-AsyncOperation", "Location", "Retry-After"} == {"Location"}
    assert "/containerappOperationResults/" in headers["Location"]
    status, body, again = await praw("GET", headers["Location"], api_version=None)
    assert (status, body) == (202, None) and "Retry-After" not in again
    clock.now += REAL["containerApps.write"]
    status, body, _ = await praw("GET", headers["Location"], api_version=None)
    assert status == 200 and body["tags"] == {"a": "b"}
    assert body["properties"]["provisioningState"] == "Succeeded"


async def test_delete_answers_202_with_location_and_goes_when_done(paced, praw, clock) -> None:
    job = rid(paced, "jobs", "j1")
    paced.seed_job(job)
    status, _, headers = await praw("DELETE", job, api_version=API)
    assert status == 202 and "Location" in headers
    assert paced.get(job)["properties"]["provisioningState"] == "Deleting"
    clock.now += REAL["jobs.delete"]
    assert (await praw("GET", headers["Location"], api_version=None))[0] == 204
    assert paced.get(job) is None
    assert paced.events[-1]["eventType"] == "Microsoft.Resources.ResourceDeleteSuccess"


@pytest.mark.parametrize(("kind", "code"), [
    ("containerApps", "ContainerAppOperationInProgress"),
    ("jobs", "ContainerAppsJobOperationInProgress"),
    ("managedEnvironments", "ManagedEnvironmentOperationInProgress"),
])
async def test_a_second_write_while_in_progress_is_409(paced, praw, clock, kind, code) -> None:
    paced.seed_resource_group("rg")
    target = rid(paced, kind, "w1")
    status, _, _ = await praw("PUT", target, {"location": "eastus"}, api_version=API)
    assert status == 201
    for method, body in (("PATCH", {"tags": {"a": "b"}}), ("PUT", {"location": "eastus"}),
                         ("DELETE", None)):
        status, err, _ = await praw(method, target, body, api_version=API)
        assert (status, err["error"]["code"]) == (409, code), method
    status, _, _ = await praw("GET", target, api_version=API)
    assert status == 200  # reads are fine
    clock.now += REAL[f"{kind}.create" if kind == "managedEnvironments" else f"{kind}.write"]
    status, _, _ = await praw("PATCH", target, {"tags": {"a": "b"}}, api_version=API)
    assert status == 202


async def test_an_accepted_identity_change_can_fail_later(emu, raw) -> None:
    app = rid(emu, "containerApps", "a1")
    old = emu.seed_container_app(app, identity="SystemAssigned")["identity"]["principalId"]
    emu.fail_operation("PATCH", r"/containerApps/a1$", "ContainerAppProvisioningFailed",
                       "The identity could not be applied.")
    status, _, headers = await raw("PATCH", app, {"identity": {"type": "None"}},
                                   api_version=API)
    assert status == 202  # accepted ...
    status, err, _ = await raw("GET", headers["Location"], api_version=None)
    assert (status, err["error"]["code"]) == (500, "ContainerAppProvisioningFailed")  # ...failed
    got = emu.get(app)
    assert got["identity"]["principalId"] == old  # rolled back
    assert got["properties"]["provisioningState"] == "Failed"
    assert not emu.principal(old).deleted
    (event,) = emu.events
    assert event["eventType"] == "Microsoft.Resources.ResourceWriteFailure"
    assert event["data"]["operationName"] == "Microsoft.App/containerApps/write"
    assert event["data"]["status"] == "Failed"
    assert emu.arn_events == []  # Resource Notifications report changes only


async def test_a_failed_put_answers_failed_on_its_status_url(emu, raw) -> None:
    emu.seed_resource_group("rg")
    job = rid(emu, "jobs", "j1")
    emu.fail_operation("PUT", "/jobs/j1", "JobProvisioningFailed", "No capacity.")
    status, body, headers = await raw("PUT", job, {"location": "eastus", "identity": {
        "type": "SystemAssigned"}}, api_version=API)
    assert status == 201
    new = body["identity"]["principalId"]
    status, op, _ = await raw("GET", headers["Azure-AsyncOperation"], api_version=None)
    assert status == 200 and op["status"] == "Failed"
    assert op["error"] == {"code": "JobProvisioningFailed", "message": "No capacity."}
    assert emu.principal(new).deleted  # the principal of a write that failed
    assert emu.get(job)["properties"]["provisioningState"] == "Failed"
    assert emu.events[-1]["eventType"] == "Microsoft.Resources.ResourceWriteFailure"
    status, _, _ = await raw("PUT", job, {"location": "eastus"}, api_version=API)
    assert status == 201  # the fault was used up


async def test_operations_end_without_polls_on_the_real_clock(raw_on) -> None:
    async with Emulator(time_scale=0.002) as emu:  # an app's operation: 20 ms
        emu.seed_resource_group("rg")
        await raw_on(emu)("PUT", rid(emu, "containerApps", "a1"), {"location": "eastus"},
                          api_version=API)
        for _ in range(200):
            if emu.events:
                break
            await asyncio.sleep(0.01)
        assert [e["data"]["operationName"] for e in emu.events] == [
            "Microsoft.App/containerApps/write"]


async def test_retry_after_only_when_asked(emu, raw) -> None:
    emu.seed_resource_group("rg")
    _, _, headers = await raw("PUT", rid(emu, "containerApps", "a1"), {"location": "eastus"},
                              api_version=API)
    assert "Retry-After" not in headers
    emu.retry_after_s = 2
    _, _, headers = await raw("PUT", rid(emu, "containerApps", "a2"), {"location": "eastus"},
                              api_version=API)
    assert headers["Retry-After"] == "2"



async def test_operations_due_together_end_once_each_oldest_deadline_first(
        paced, praw, clock) -> None:
    # ending one builds its events from the app's state, which settles again: the other
    # operation due must still end once, not twice
    paced.seed_resource_group("rg")
    for name in ("a1", "a2", "a3"):
        status, _, _ = await praw("PUT", rid(paced, "containerApps", name),
                                  {"location": "eastus"}, api_version=API)
        assert status == 201
        clock.now += 1
    clock.now += REAL["containerApps.write"]
    await praw("GET", rid(paced, "containerApps", "a1"), api_version=API)
    assert [e["subject"].rsplit("/", 1)[-1] for e in paced.events] == ["a1", "a2", "a3"]
    assert len(paced.arn_events) == 3


async def test_the_request_log_says_when_a_request_arrived_and_when_it_was_answered(
        raw_on) -> None:
    async with Emulator(time_scale=0, latency_ms=50) as emu:
        await raw_on(emu)("GET", f"/subscriptions/{emu.subscription_id}/resourcegroups",
                          api_version="2022-09-01")
        [record] = [r for r in emu.request_log if r.kind != "token"]
        assert record.ts - record.started >= 0.05  # the latency lies between them
