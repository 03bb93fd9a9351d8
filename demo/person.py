"""What the person ("alice") does: the real Azure SDK, through the emulator's ARM.

Nothing here calls the Warden: the webhook only learns of these changes from
the events the emulator delivers, as in a deployment.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from demo.org import APP_NAME, APPS_RG, JOB_CRON, JOB_NAME, LOCATION, PERSON, ROLES, Org


class Person:
    """The person's SDK clients and the few things the story has them do."""

    def __init__(self, apps: Any, auth: Any, org: Org) -> None:
        self._apps = apps
        self._auth = auth
        self.org = org
        self.roles: dict[str, str] = {}  # role name -> full role-definition id

    async def resolve_roles(self) -> None:
        """Role names -> role-definition ids, read the way a person would."""
        for name in ROLES:
            async for definition in self._auth.role_definitions.list(
                f"/subscriptions/{self.org.subscription}", filter=f"roleName eq '{name}'"
            ):
                self.roles[name] = definition.id
                break
            else:
                raise RuntimeError(f"role definition {name!r} not found in the emulator")

    async def create_app(self, tags: Mapping[str, str]) -> None:
        envelope = {
            "location": LOCATION,
            "tags": dict(tags),
            "properties": {
                "managedEnvironmentId": self.org.environment_id,
                "template": {"containers": [{
                    "name": "orders",
                    "image": "mcr.microsoft.com/k8se/quickstart:latest",
                    "resources": {"cpu": 0.25, "memory": "0.5Gi"},
                }]},
            },
        }
        poller = await self._apps.container_apps.begin_create_or_update(
            APPS_RG, APP_NAME, envelope)
        await poller.result()

    async def create_job(self, tags: Mapping[str, str]) -> None:
        """A scheduled job in the app's environment (``az containerapp job create
        --trigger-type Schedule --cron-expression ...``)."""
        envelope = {
            "location": LOCATION,
            "tags": dict(tags),
            "properties": {
                "environmentId": self.org.environment_id,
                "configuration": {
                    "triggerType": "Schedule",
                    "replicaTimeout": 1800,
                    "replicaRetryLimit": 1,
                    "scheduleTriggerConfig": {"cronExpression": JOB_CRON, "parallelism": 1,
                                              "replicaCompletionCount": 1},
                },
                "template": {"containers": [{
                    "name": "nightly",
                    "image": "mcr.microsoft.com/k8se/quickstart-jobs:latest",
                    "resources": {"cpu": 0.25, "memory": "0.5Gi"},
                }]},
            },
        }
        poller = await self._apps.jobs.begin_create_or_update(APPS_RG, JOB_NAME, envelope)
        await poller.result()

    async def delete_job(self) -> None:
        poller = await self._apps.jobs.begin_delete(APPS_RG, JOB_NAME)
        await poller.result()

    async def patch_tags(self, operation: str, tags: Mapping[str, str]) -> None:
        """The Tags API at the app's scope (Merge / Replace / Delete)."""
        from azure.core.exceptions import HttpResponseError
        from azure.core.rest import HttpRequest

        request = HttpRequest(
            "PATCH", f"{self.org.app_id}/providers/Microsoft.Resources/tags/default",
            params={"api-version": "2021-04-01"},
            json={"operation": operation, "properties": {"tags": dict(tags)}},
        )
        response = await self._apps.send_request(request)
        await response.read()
        if response.status_code >= 300:
            raise HttpResponseError(response=response)

    async def assign_by_hand(self, role: str, scope: str, principal: str) -> str:
        """Assign `role` on `scope` to `principal` under a random name, which is returned."""
        # The client's default API version; the top-level models module mixes versions.
        from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters

        name = str(uuid.uuid4())
        await self._auth.role_assignments.create(
            scope, name, RoleAssignmentCreateParameters(
                role_definition_id=self.roles[role],
                principal_id=principal,
                principal_type="ServicePrincipal",
                description=f"Made by hand by {PERSON}",
            ))
        return name

    async def delete_app(self) -> None:
        poller = await self._apps.container_apps.begin_delete(APPS_RG, APP_NAME)
        await poller.result()


@contextlib.asynccontextmanager
async def signed_in(emu: Any, org: Org) -> AsyncIterator[Person]:
    """The person, with SDK clients pointed at the emulator (closed on the way out)."""
    from azure.mgmt.appcontainers.aio import ContainerAppsAPIClient
    from azure.mgmt.authorization.aio import AuthorizationManagementClient

    credential = emu.person_credential(PERSON)
    options = {
        "base_url": emu.endpoint,
        "credential_scopes": [f"{emu.endpoint}/.default"],
        "connection_verify": emu.env.get("SSL_CERT_FILE", True),
        "retry_total": 3,
        "polling_interval": 0.2,
    }
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(credential)
        apps = await stack.enter_async_context(
            ContainerAppsAPIClient(credential, org.subscription, **options))
        auth = await stack.enter_async_context(
            AuthorizationManagementClient(credential, org.subscription, **options))
        yield Person(apps, auth, org)
