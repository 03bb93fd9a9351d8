"""Integration fixtures: the real aio SDK over HTTPS against the in-process emulator.

Apps are created and changed by a *person* (``emu.person_credential``), so the
events the emulator produces for them are not self-caused; the Warden under
test runs with the service identity from the emulator's managed-identity
endpoint, exactly as in Azure.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import pytest

from emulator import Deployment, Emulator
from handlers.azure import Arm
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


class World:
    """The emulator plus a person who creates, tags and deletes apps through the SDK."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
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

    def app_id(self, name: str, rg: str = "rg1") -> str:
        return (f"/subscriptions/{self.sub}/resourceGroups/{rg}/providers/"
                f"Microsoft.App/containerApps/{name}")

    def mark(self) -> int:
        return len(self.emu.events)

    def events_since(self, mark: int) -> list[dict[str, Any]]:
        return list(self.emu.events[mark:])

    async def create_app(self, name: str, tags: dict[str, str] | None = None, rg: str = "rg1",
                         identity: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Create (or replace) an app as the person; returns the events it produced."""
        m = self.mark()
        body: dict[str, Any] = {"location": "eastus", "tags": tags or {}, "properties": {}}
        if identity:
            body["identity"] = identity
        poller = await self.apps.container_apps.begin_create_or_update(rg, name, body)
        await poller.result()
        return self.events_since(m)

    async def set_tags(self, name: str, tags: dict[str, str], rg: str = "rg1") -> list[dict]:
        """Replace the app's tags (JSON merge patch: removed tags are sent as null)."""
        m = self.mark()
        old = (self.emu.get(self.app_id(name, rg)) or {}).get("tags") or {}
        patch: dict[str, Any] = {k: None for k in old if k not in tags}
        patch.update(tags)
        poller = await self.apps.container_apps.begin_update(rg, name, {"tags": patch})
        await poller.result()
        return self.events_since(m)

    async def delete_app(self, name: str, rg: str = "rg1") -> list[dict[str, Any]]:
        m = self.mark()
        poller = await self.apps.container_apps.begin_delete(rg, name)
        await poller.result()
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

    def event(self, app_id: str, *, op: str = "Microsoft.App/containerApps/write",
              event_type: str = "Microsoft.Resources.ResourceWriteSuccess",
              uri: str | None = None, oid: str | None = None) -> dict[str, Any]:
        """An Event Grid schema event as the subscription system topic sends it."""
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
async def world(emu: Emulator) -> AsyncIterator[World]:
    async with World(emu) as w:
        yield w


@pytest.fixture
async def make_warden(emu: Emulator) -> AsyncIterator[Callable[..., Warden]]:
    """Factory: a Warden with the given policy keys, talking to the emulator as the service."""
    async with warden_factory(emu) as make:
        yield make


@pytest.fixture
def warden(make_warden: Callable[..., Warden]) -> Warden:
    return make_warden()
