"""The ARM operations the converge core uses, as a typed protocol (no I/O here).

``handlers.azure.Arm`` implements it over the real Azure SDK; the unit tests
hand the core an in-memory fake with the same behaviour. Ids are
``handlers.ids.ArmId`` where the core holds one, strings where ARM gave them.

Failures are ``handlers.errors.Transient`` (retry the event) or
``handlers.errors.Permanent`` (report it); "not found" is an answer (None /
False), not a failure, wherever the signature says so.
"""

from __future__ import annotations

from typing import Any, Protocol

from handlers.ids import ArmId, WorkloadType
from handlers.model import Assignment

__all__ = ["ArmApi"]


class ArmApi(Protocol):
    """What aca-warden asks of Azure Resource Manager."""

    async def own_identity(self) -> tuple[str | None, str | None]:
        """The service's own (object id, app id), from its token; (None, None) for a person."""
        ...

    async def get_app(self, app: ArmId) -> dict[str, Any] | None:
        """The workload's JSON; None when ARM answers 404."""
        ...

    async def patch_app(self, app: ArmId, body: dict[str, Any]) -> dict[str, Any] | None:
        """Send one PATCH (JSON merge patch) and return ARM's answer body at once, without
        waiting for the operation: None when ARM accepted it with no body (202)."""
        ...

    async def list_apps(self, subscription: str, wtype: WorkloadType) -> list[dict[str, Any]]:
        """Every workload of a type in a subscription (all pages)."""
        ...

    async def list_subscriptions(self) -> list[str]:
        ...

    async def get_identity(self, identity: ArmId) -> dict[str, Any] | None:
        """A user-assigned identity; None when it (or its resource group) does not exist."""
        ...

    async def create_identity(self, identity: ArmId, location: str) -> dict[str, Any]:
        ...

    async def find_role(self, subscription: str, role: str) -> dict[str, Any] | None:
        """A role definition by name (case-insensitive), GUID or id: ``{"id", "name",
        "roleName", "permissions"}``; None when there is no such role."""
        ...

    async def list_assignments(self, scope: str, filter: str | None = None
                               ) -> list[Assignment]:
        """Role assignments that apply at ``scope`` (all pages)."""
        ...

    async def scope_exists(self, scope: str) -> bool:
        ...

    async def create_assignment(self, scope: str, name: str, role_definition_id: str,
                                principal_id: str, description: str) -> bool:
        """PUT a role assignment (``principalType: ServicePrincipal``): True when it is in
        place, False when ARM says the same grant exists under another name (409
        RoleAssignmentExists)."""
        ...

    async def delete_assignment(self, assignment: Assignment) -> None:
        """DELETE a role assignment; already gone is success."""
        ...

    async def close(self) -> None:
        ...
