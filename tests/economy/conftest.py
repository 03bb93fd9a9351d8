"""Call-economy fixtures: the real service against the in-process emulator.

Apps are *seeded* (no request, no event), so that the emulator's request log
holds exactly what the service asked of ARM; the events that would announce
them are built here as the subscription system topic sends them, caused by a
person. tests/integration covers the single-app cases; these add the k-grant
table, whole batches, no-op variants, self-caused variants and the bench.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from integration.conftest import running_emulator, warden_factory

from emulator import Emulator
from handlers.warden import Warden

ROLES = ("Reader", "Storage Blob Data Reader", "Key Vault Secrets User")
TEMPLATE = ("/subscriptions/{subscription}/resourceGroups/{resourceGroup}/providers/"
            "Microsoft.ManagedIdentity/userAssignedIdentities/std-{location}")


class Burst:
    """Seeds apps with k grant tags and builds the events a person's writes produce."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.sub = emu.subscription_id
        self.person = emu.person_oid("alice")

    def rg(self, name: str) -> str:
        return self.emu.seed_resource_group(name)

    def app_id(self, name: str, rg: str = "rg1") -> str:
        return (f"/subscriptions/{self.sub}/resourceGroups/{rg}/providers/"
                f"Microsoft.App/containerApps/{name}")

    def grant_tags(self, k: int, rg: str = "rg1") -> dict[str, str]:
        """k grant tags, each a distinct (role, scope) pair on its own storage account."""
        tags = {}
        for j in range(k):
            scope = self.emu.seed_resource(
                f"/subscriptions/{self.sub}/resourceGroups/{rg}/providers/"
                f"Microsoft.Storage/storageAccounts/st{j}")["id"]
            tags[f"grant:g{j}"] = f"{ROLES[j % len(ROLES)]}@{scope}"
        return tags

    def new_app(self, name: str, k: int = 0, rg: str = "rg1", **kw: Any) -> str:
        """A just-created app (no identity yet) with k grant tags."""
        app_id = self.app_id(name, rg)
        self.emu.seed_container_app(app_id, tags={"team": "x", **self.grant_tags(k, rg)}, **kw)
        return app_id

    def event(self, app_id: str, *, op: str = "Microsoft.App/containerApps/write",
              event_type: str = "Microsoft.Resources.ResourceWriteSuccess",
              uri: str | None = None, claims: dict[str, str] | None = None) -> dict[str, Any]:
        if claims is None:
            claims = {"http://schemas.microsoft.com/identity/claims/objectidentifier":
                      self.person}
        return {
            "id": str(uuid.uuid4()), "topic": f"/subscriptions/{self.sub}",
            "subject": uri or app_id, "eventType": event_type,
            "eventTime": "2026-01-01T00:00:00Z", "dataVersion": "2", "metadataVersion": "1",
            "data": {"operationName": op, "resourceUri": uri or app_id, "status": "Succeeded",
                     "subscriptionId": self.sub, "tenantId": self.emu.tenant_id,
                     "correlationId": str(uuid.uuid4()), "claims": claims},
        }

    def writes(self, **kw: Any) -> int:
        return self.emu.count(kind="write", **kw)

    def requests(self, **kw: Any) -> int:
        """ARM requests as the contract counts them (tokens excluded, polls included)."""
        return self.emu.count(kind="arm", **kw)


@pytest.fixture
async def emu(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    # ARM's default page size (an app's few grants fit one page; paging itself is
    # covered by tests/emulator and tests/integration with tiny pages)
    async with running_emulator(monkeypatch, time_scale=0, page_size=100, principal_delay_s=0.3,
                                retry_after_s=0) as e:
        yield e


@pytest.fixture
def burst(emu: Emulator) -> Burst:
    b = Burst(emu)
    b.rg("rg1")
    return b


@pytest.fixture
async def make_warden(emu: Emulator) -> AsyncIterator[Callable[..., Warden]]:
    """A Warden (one per process in production) with the given policy keys."""
    async with warden_factory(emu) as make:
        yield make
