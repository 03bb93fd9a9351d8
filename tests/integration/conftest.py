"""Integration fixtures: the real aio SDK over HTTPS against the in-process emulator.

Workloads are created and changed by a *person* (``emu.person_credential``), so
the events the emulator produces for them are not self-caused; the Warden under
test runs with the service identity from the emulator's managed-identity
endpoint, exactly as in Azure.

A :class:`World` works on one kind of workload: container apps by default, a
Container Apps job with ``@both_workloads`` (the test runs once for each kind,
``[app]`` and ``[job]``) or ``@pytest.mark.parametrize("world", ["job"],
indirect=True)``. Its ``create_app``, ``set_tags``, ``delete_app``, ``app_id``
and ``event`` then speak the job's own type, SDK operations and event names.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from emulator import Deployment, Emulator
from handlers.azure import Arm
from handlers.ids import WorkloadType, workload_type
from handlers.policy import Policy
from handlers.warden import Warden

READER = "Reader"
BLOB_READER = "Storage Blob Data Reader"

# settings of the developer's shell that would change what a Warden does
WARDEN_ENV = ("WARDEN_POLICY", "WARDEN_DRY_RUN", "WARDEN_SUBSCRIPTIONS",
              "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET")


@contextlib.asynccontextmanager
async def running_emulator(monkeypatch: pytest.MonkeyPatch, unset: Iterable[str] = WARDEN_ENV,
                           **options: Any) -> AsyncIterator[Emulator]:
    """An in-process ``Emulator(**options)`` whose client environment is the process's,
    with the variables in `unset` removed."""
    async with Emulator(**options) as e:
        for key, value in e.env.items():
            monkeypatch.setenv(key, value)
        for key in unset:
            monkeypatch.delenv(key, raising=False)
        yield e


def deploy_for(emu: Emulator, policy: Policy, **knobs: Any) -> Deployment:
    """Give the service's identity exactly the roles the template gives a deployment of
    `policy` (infra/roles.json: grantable roles, Managed Identity Contributor with
    create_missing); `knobs` are further Deployment fields (e.g. omit_actions)."""
    deployment = Deployment(grantable_roles=tuple(policy.allowed_roles),
                            create_missing_identities=policy.create_missing, **knobs)
    emu.deploy(deployment)
    return deployment


def service_warden(emu: Emulator, policy: Policy | None = None, *,
                   retry_backoff_s: float = 0.02, omit_actions: tuple[str, ...] = (),
                   **options: Any) -> Warden:
    """A Warden talking to the emulator as the service (production's retry count,
    shorter sleeps), which holds exactly the template's roles for its policy (less the
    custom role's `omit_actions`)."""
    policy = Policy() if policy is None else policy
    deploy_for(emu, policy, omit_actions=omit_actions)
    arm = Arm.from_env(emu.env)
    arm.retry_backoff_s = retry_backoff_s
    return Warden(policy, arm, **options)


@contextlib.asynccontextmanager
async def warden_factory(emu: Emulator, *, retry_backoff_s: float = 0.02,
                         **defaults: Any) -> AsyncIterator[Callable[..., Warden]]:
    """``make(**policy)``: a :func:`service_warden` with the policy keys `defaults`
    updated by `policy`; every Warden made is closed on exit."""
    made: list[Warden] = []

    def make(**policy: Any) -> Warden:
        w = service_warden(emu, Policy(**{**defaults, **policy}),
                           retry_backoff_s=retry_backoff_s)
        made.append(w)
        return w

    try:
        yield make
    finally:
        for w in made:
            await w.close()


@dataclass(frozen=True)
class Workload:
    """One kind of workload as a person deploys it: its type and its SDK operations."""

    name: str  # the test id: "app" | "job"
    type: str  # "Microsoft.App/containerApps"
    operations: str  # the ContainerAppsAPIClient attribute: "container_apps" | "jobs"
    properties: dict[str, Any] = field(default_factory=dict)  # what a PUT sends

    @property
    def wtype(self) -> WorkloadType:
        found = workload_type(self.type)
        assert found is not None, self.type
        return found

    def op(self, verb: str) -> str:
        """The operation name of its events: ``<type>/write``, ``<type>/delete``."""
        return f"{self.type}/{verb}"


APP = Workload("app", "Microsoft.App/containerApps", "container_apps")
# A scheduled job, as the Azure CLI creates one (az containerapp job create --trigger-type
# Schedule --cron-expression ...).
JOB = Workload("job", "Microsoft.App/jobs", "jobs", {
    "configuration": {"triggerType": "Schedule", "replicaTimeout": 1800,
                      "replicaRetryLimit": 1,
                      "scheduleTriggerConfig": {"cronExpression": "*/5 * * * *",
                                                "parallelism": 1,
                                                "replicaCompletionCount": 1}},
    "template": {"containers": [{"name": "main",
                                 "image": "mcr.microsoft.com/k8se/quickstart-jobs:latest"}]}})
WORKLOADS = {w.name: w for w in (APP, JOB)}

# Run a test once for container apps and once for jobs (where the behaviour is the same).
both_workloads = pytest.mark.parametrize("world", list(WORKLOADS), indirect=True)
jobs_only = pytest.mark.parametrize("world", ["job"], indirect=True)


class World:
    """The emulator plus a person who creates, tags and deletes workloads (container apps,
    or jobs: `kind`) through the SDK."""

    def __init__(self, emu: Emulator, kind: Workload = APP) -> None:
        self.emu = emu
        self.kind = kind
        self.sub = emu.subscription_id
        self._apps: Any = None
        self._authz: Any = None
        self.rg = emu.seed_resource_group("rg1")
        self.storage = emu.seed_resource(
            f"{self.rg}/providers/Microsoft.Storage/storageAccounts/st1")["id"]

    async def close(self) -> None:
        for c in (self._apps, self._authz):
            if c is not None:
                await c.close()

    async def __aenter__(self) -> World:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def apps(self) -> Any:
        if self._apps is None:
            from azure.mgmt.appcontainers.aio import ContainerAppsAPIClient

            self._apps = ContainerAppsAPIClient(
                self.emu.person_credential(), self.sub, polling_interval=0,
                **self.emu.client_kwargs())
        return self._apps

    @property
    def authz(self) -> Any:
        if self._authz is None:
            from azure.mgmt.authorization.aio import AuthorizationManagementClient

            self._authz = AuthorizationManagementClient(
                self.emu.person_credential(), self.sub, api_version="2022-04-01",
                **self.emu.client_kwargs())
        return self._authz

    @property
    def ops(self) -> Any:
        """The SDK operations of this world's kind (``container_apps`` or ``jobs``)."""
        return getattr(self.apps, self.kind.operations)

    def app_id(self, name: str, rg: str = "rg1") -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{rg}/providers/{self.kind.type}/{name}"

    def op(self, verb: str) -> str:
        """The operation name of this kind's events (``Microsoft.App/jobs/delete``)."""
        return self.kind.op(verb)

    def mark(self) -> int:
        return len(self.emu.events)

    def events_since(self, mark: int) -> list[dict[str, Any]]:
        return list(self.emu.events[mark:])

    async def create_app(self, name: str, tags: dict[str, str] | None = None, rg: str = "rg1",
                         identity: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Create (or replace) a workload as the person; returns the events it produced."""
        m = self.mark()
        body: dict[str, Any] = {"location": "eastus", "tags": tags or {},
                                "properties": dict(self.kind.properties)}
        if identity:
            body["identity"] = identity
        poller = await self.ops.begin_create_or_update(rg, name, body)
        await poller.result()
        return self.events_since(m)

    async def set_tags(self, name: str, tags: dict[str, str], rg: str = "rg1") -> list[dict]:
        """Replace the workload's tags (JSON merge patch: removed tags are sent as null)."""
        m = self.mark()
        old = (self.emu.get(self.app_id(name, rg)) or {}).get("tags") or {}
        patch: dict[str, Any] = {k: None for k in old if k not in tags}
        patch.update(tags)
        poller = await self.ops.begin_update(rg, name, {"tags": patch})
        await poller.result()
        return self.events_since(m)

    async def delete_app(self, name: str, rg: str = "rg1") -> list[dict[str, Any]]:
        m = self.mark()
        poller = await self.ops.begin_delete(rg, name)
        await poller.result()
        return self.events_since(m)

    def seed(self, app_id: str, tags: dict[str, str] | None = None,
             identity: dict[str, Any] | None = None) -> dict[str, Any]:
        """A finished workload of this world's kind, made without events (``emu.seed_*``)."""
        seed = self.emu.seed_job if self.kind is JOB else self.emu.seed_container_app
        return seed(app_id, tags=tags, identity=identity)

    async def set_identity(self, name: str, identity: dict[str, Any], rg: str = "rg1"
                           ) -> list[dict[str, Any]]:
        """PATCH the workload's identity block as the person; returns the events it produced."""
        m = self.mark()
        poller = await self.ops.begin_update(rg, name, {"identity": identity})
        await poller.result()
        return self.events_since(m)

    async def put_tags(self, app_id: str, tags: dict[str, str]) -> list[dict[str, Any]]:
        """The Tags API's PUT (replace every tag) on the workload as the person; returns the
        events it produced."""
        from azure.core.rest import HttpRequest

        m = self.mark()
        url = (f"{self.emu.endpoint}{app_id}/providers/Microsoft.Resources/tags/default"
               "?api-version=2021-04-01")
        resp = await self.apps.send_request(HttpRequest("PUT", url,
                                                        json={"properties": {"tags": tags}}))
        assert resp.status_code == 200, resp.text()
        return self.events_since(m)

    def principal(self, name: str, rg: str = "rg1") -> str | None:
        app = self.emu.get(self.app_id(name, rg)) or {}
        return (app.get("identity") or {}).get("principalId")

    def assignments(self, principal: str | None = None) -> list[dict[str, Any]]:
        out = self.emu.role_assignments()
        if principal:
            out = [a for a in out if a["properties"]["principalId"] == principal.lower()]
        return out

    def role_guid(self, name: str) -> str:
        rd = self.emu.role_definition(name)
        assert rd is not None, name
        return rd["name"]

    async def hand_assign(self, scope: str, role: str, principal: str) -> str:
        """A person's own role assignment (not aca-warden's)."""
        from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters

        name = str(uuid.uuid4())
        await self.authz.role_assignments.create(scope, name, RoleAssignmentCreateParameters(
            role_definition_id=f"/subscriptions/{self.sub}/providers/Microsoft.Authorization/"
            f"roleDefinitions/{self.role_guid(role)}", principal_id=principal,
            principal_type="ServicePrincipal"))
        return name

    def event(self, app_id: str, *, op: str | None = None,
              event_type: str = "Microsoft.Resources.ResourceWriteSuccess",
              uri: str | None = None, oid: str | None = None) -> dict[str, Any]:
        """An Event Grid schema event as the subscription system topic sends it (`op`:
        this kind's write by default)."""
        op = op or self.op("write")
        oid = oid or self.emu.person_oid("alice")
        return {
            "id": str(uuid.uuid4()), "topic": f"/subscriptions/{self.sub}",
            "subject": uri or app_id, "eventType": event_type,
            "eventTime": "2026-01-01T00:00:00Z", "dataVersion": "2", "metadataVersion": "1",
            "data": {"operationName": op, "resourceUri": uri or app_id, "status": "Succeeded",
                     "subscriptionId": self.sub, "tenantId": self.emu.tenant_id,
                     "correlationId": str(uuid.uuid4()),
                     "claims": {"http://schemas.microsoft.com/identity/claims/objectidentifier":
                                oid}},
        }


@pytest.fixture
async def emu(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    async with running_emulator(monkeypatch, time_scale=0, page_size=2, principal_delay_s=0.3,
                                retry_after_s=0) as e:
        yield e


@pytest.fixture
async def world(emu: Emulator, request: pytest.FixtureRequest) -> AsyncIterator[World]:
    """A World of container apps, or of the kind a test parametrises it with ("app",
    "job": see ``both_workloads``)."""
    kind = WORKLOADS[getattr(request, "param", "app")]
    async with World(emu, kind) as w:
        yield w


@pytest.fixture
async def make_warden(emu: Emulator) -> AsyncIterator[Callable[..., Warden]]:
    """Factory: a Warden with the given policy keys, talking to the emulator as the service."""
    async with warden_factory(emu) as make:
        yield make


@pytest.fixture
def warden(make_warden: Callable[..., Warden]) -> Warden:
    return make_warden()
