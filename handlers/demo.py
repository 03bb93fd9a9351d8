"""`python -m handlers demo`: the whole story against the local Azure emulator.

Nothing here talks to Azure. The demo starts the emulator (local ARM over
HTTPS) and the aca-warden webhook (the same aiohttp app as `serve`) in this
process, and lets the emulator deliver every ARM event to the webhook exactly
like an Event Grid subscription: validation handshake first, then batches,
with retries on 5xx. Every step of the story is done by a *person* ("alice")
through the real Azure SDK, never by calling the Warden directly, so what the
demo shows is what a deployment does.

After each step the demo waits until Event Grid delivery has settled (every
event the emulator produced has a final outcome from the webhook, or was
dead-lettered, and nothing new has happened for a moment) and then checks the
emulator's state, not the Warden's opinion of it. The webhook's outcomes are
only told (changes, refusals with their reasons), except where the story is
about the outcome itself. The exit code is 0 only when every check held; a
dead-lettered event fails its step; a wait that runs out of time fails the
step and ends the story.

`run_demo(policy_toml=..., prepare=...)` runs the same story against another
policy or with faults injected into the emulator, which is how the tests see
it fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

__all__ = ["Check", "DemoResult", "DEMO_POLICY", "run_demo", "main"]

PERSON = "alice"
LOCATION = "eastus"
PLATFORM_RG = "rg-platform"
APPS_RG = "rg-apps"
APP_NAME = "app-orders"
STANDARD_IDENTITY = (
    "/subscriptions/{subscription}/resourceGroups/rg-platform/providers/"
    "Microsoft.ManagedIdentity/userAssignedIdentities/id-platform-standard"
)
STORAGE = "Microsoft.Storage/storageAccounts/stapps"
VAULT = "Microsoft.KeyVault/vaults/kv-apps"
ENVIRONMENT = "Microsoft.App/managedEnvironments/cae-apps"

BLOB_READER = "Storage Blob Data Reader"
SECRETS_USER = "Key Vault Secrets User"
ACR_PULL = "AcrPull"
OWNER = "Owner"
ROLES = (BLOB_READER, SECRETS_USER, ACR_PULL, OWNER)

TAG_BLOB = ("grant:blob", f"{BLOB_READER}@{STORAGE}")
TAG_SECRETS = ("grant:secrets", f"{SECRETS_USER}@{VAULT}")
TAG_ACR = ("grant:acr", f"{ACR_PULL}@.")
TAG_ADMIN = ("grant:admin", f"{OWNER}@.")

DEMO_POLICY = f"""\
# The demo organisation's policy (see the README's "Policy reference").
[identities]
# Every managed app carries the platform team's standard identity.
standard = ["{STANDARD_IDENTITY}"]

[grants]
# Any role that passes the privilege floor and is not broad ...
allowed_roles = ["*"]
# ... on the app's own resource group or anything in it.
allowed_scopes = ["/subscriptions/{{subscription}}/resourceGroups/{{resourceGroup}}"]

[apps]
resource_groups = ["{APPS_RG}"]
"""

# Variables that would point DefaultAzureCredential (or the Warden) somewhere
# other than the emulator; they are hidden while the demo runs.
_FOREIGN_ENV = (
    "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_TENANT_ID", "AZURE_USERNAME",
    "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
    "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT",
    "WARDEN_ARM_SCOPE", "WARDEN_DRY_RUN", "WARDEN_SUBSCRIPTIONS", "WARDEN_WEBHOOK_KEY",
)

QUIET_S = 0.3  # no new event and no new outcome for this long = delivery has settled
PRINCIPAL_DELAY_S = 0.5  # directory replication delay of new principals, shortened
HANDSHAKE_TIMEOUT_S = 10.0
WEBHOOK_TIMEOUT_S = 8.0  # the webhook answers within this; Event Grid's own limit is 30 s


@dataclass(frozen=True)
class Check:
    """One row of the summary: what a step should have done and what it did."""

    step: str
    expected: str
    observed: str
    ok: bool


@dataclass
class DemoResult:
    """Every check the story made, in order; a success only when there are some and all held."""

    checks: list[Check] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


class _Timeout(Exception):
    """A wait of the demo ran out of time."""


class _OutcomeRecorder:
    """Stands in for the Warden in front of the webhook and keeps every outcome.

    The webhook only answers Event Grid with a status code; the recorder is how
    the narrative gets at the outcomes (changes, refusals and their reasons).
    """

    def __init__(self, warden: Any) -> None:
        self._warden = warden
        self.outcomes: list[Any] = []

    async def handle_payload(self, payload: object) -> list[Any]:
        outcomes = await self._warden.handle_payload(payload)
        self.outcomes.extend(outcomes)
        return outcomes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._warden, name)

    def final_event_ids(self) -> set[str]:
        return {str(o.event_id) for o in self.outcomes if o.result != "retry" and o.event_id}


class _Narrator:
    """Prints the story as it happens (flushed, so progress shows while it runs)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def line(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, number: int, title: str) -> None:
        self.line()
        self.line(f"Step {number}: {title}")

    def detail(self, text: str) -> None:
        self.line(f"    {text}")

    def check(self, check: Check) -> None:
        mark = "ok  " if check.ok else "FAIL"
        self.line(f"  [{mark}] {check.expected}: {check.observed}")

    def summary(self, result: DemoResult) -> None:
        rows = [("step", "expected", "observed", "ok")]
        rows += [(c.step, c.expected, _clip(c.observed, 60), "yes" if c.ok else "NO")
                 for c in result.checks]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        self.line()
        self.line("Summary")
        for i, row in enumerate(rows):
            cells = (cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            self.line(" | ".join(cells).rstrip())
            if i == 0:
                self.line("-+-".join("-" * w for w in widths))
        passed = sum(c.ok for c in result.checks)
        verdict = "every step did what it says" if result.ok else "SOME STEPS FAILED"
        self.line()
        self.line(f"{passed}/{len(result.checks)} checks passed "
                  f"in {result.elapsed_s:.1f} s: {verdict}")


def _one_line(exc: BaseException) -> str:
    """An exception as one line: azure-core's errors span several."""
    first = next((line for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


@contextlib.contextmanager
def _scoped_environ(values: Mapping[str, str], hide: tuple[str, ...]) -> Iterator[None]:
    """Set `values` and hide `hide` in os.environ, and put everything back afterwards."""
    saved = {k: os.environ.get(k) for k in (*values, *hide)}
    try:
        for k in hide:
            os.environ.pop(k, None)
        os.environ.update(values)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _props(resource: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (resource or {}).get("properties") or {}


_ARM_ID = re.compile(
    r"/subscriptions/[^/\s]+/resourceGroups/[^/\s]+(?:/providers(?:/[^/\s,;)]+)+)?"
)


_GUID_NOTE = re.compile(r" \([0-9a-fA-F-]{36}\)")


def _brief(text: str) -> str:
    """Shorten the ARM ids of resource groups and resources in a message to their names."""
    return _ARM_ID.sub(lambda m: m.group(0).rsplit("/", 1)[-1], text)


def _short(resource_id: str) -> str:
    """The last segment of an ARM id, for the narrative."""
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


class _Story:
    """The organisation, the person's SDK clients and the five steps."""

    def __init__(self, emu: Any, delivery: Any, recorder: _OutcomeRecorder, say: _Narrator,
                 result: DemoResult, step_timeout: float) -> None:
        self.emu = emu
        self.delivery = delivery  # the emulator's Event Grid subscription to the webhook
        self.recorder = recorder
        self.say = say
        self.result = result
        self.step_timeout = step_timeout
        sub = emu.subscription_id
        self.sub = sub
        self.rg_apps = f"/subscriptions/{sub}/resourceGroups/{APPS_RG}"
        self.app_id = f"{self.rg_apps}/providers/Microsoft.App/containerApps/{APP_NAME}"
        self.storage_id = f"{self.rg_apps}/providers/{STORAGE}"
        self.vault_id = f"{self.rg_apps}/providers/{VAULT}"
        self.standard_id = STANDARD_IDENTITY.format(subscription=sub)
        self.roles: dict[str, str] = {}          # role name -> full role-definition id
        self.principal: str | None = None        # the app's system-assigned principal
        self.warden_assignments: dict[str, str] = {}   # grant tag -> assignment name
        self.person_assignment: str | None = None
        self.step_name = ""
        self.told: set[tuple[str, str]] = set()  # refusals already told in full
        self._apps: Any = None
        self._auth: Any = None

    # -- set-up -------------------------------------------------------------

    def seed(self) -> None:
        emu = self.emu
        emu.seed_resource_group(PLATFORM_RG, location=LOCATION)
        emu.seed_identity(self.standard_id, location=LOCATION)
        emu.seed_resource_group(APPS_RG, location=LOCATION)
        emu.seed_resource(self.storage_id, {"location": LOCATION, "kind": "StorageV2",
                                            "sku": {"name": "Standard_LRS"}})
        emu.seed_resource(self.vault_id, {"location": LOCATION,
                                          "properties": {"tenantId": emu.tenant_id}})
        emu.seed_resource(f"{self.rg_apps}/providers/{ENVIRONMENT}", {"location": LOCATION})
        self.say.detail(f"  {PLATFORM_RG}: {_short(self.standard_id)} (the standard identity)")
        self.say.detail(f"  {APPS_RG}: {_short(self.storage_id)} (storage account), "
                        f"{_short(self.vault_id)} (key vault), {_short(ENVIRONMENT)} (environment)")

    @contextlib.asynccontextmanager
    async def person_clients(self) -> Any:
        """The person's SDK clients, pointed at the emulator."""
        from azure.mgmt.appcontainers.aio import ContainerAppsAPIClient
        from azure.mgmt.authorization.aio import AuthorizationManagementClient

        credential = self.emu.person_credential(PERSON)
        options = {
            "base_url": self.emu.endpoint,
            "credential_scopes": [f"{self.emu.endpoint}/.default"],
            "connection_verify": self.emu.env.get("SSL_CERT_FILE", True),
            "retry_total": 3,
            "polling_interval": 0.2,
        }
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(credential)
            self._apps = await stack.enter_async_context(
                ContainerAppsAPIClient(credential, self.sub, **options))
            self._auth = await stack.enter_async_context(
                AuthorizationManagementClient(credential, self.sub, **options))
            yield self

    async def resolve_roles(self) -> None:
        """Role names -> role-definition ids, read the way a person would."""
        for name in ROLES:
            async for definition in self._auth.role_definitions.list(
                f"/subscriptions/{self.sub}", filter=f"roleName eq '{name}'"
            ):
                self.roles[name] = definition.id
                break
            else:
                raise RuntimeError(f"role definition {name!r} not found in the emulator")

    # -- what the person does (real SDK, through ARM) ----------------------

    async def create_app(self, tags: Mapping[str, str]) -> None:
        envelope = {
            "location": LOCATION,
            "tags": dict(tags),
            "properties": {
                "managedEnvironmentId": f"{self.rg_apps}/providers/{ENVIRONMENT}",
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

    async def patch_tags(self, operation: str, tags: Mapping[str, str]) -> None:
        """The Tags API at the app's scope (Merge / Replace / Delete)."""
        from azure.core.exceptions import HttpResponseError
        from azure.core.rest import HttpRequest

        request = HttpRequest(
            "PATCH", f"{self.app_id}/providers/Microsoft.Resources/tags/default",
            params={"api-version": "2021-04-01"},
            json={"operation": operation, "properties": {"tags": dict(tags)}},
        )
        response = await self._apps.send_request(request)
        await response.read()
        if response.status_code >= 300:
            raise HttpResponseError(response=response)

    async def assign_by_hand(self, role: str, scope: str, principal: str) -> str:
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

    # -- waiting and looking ------------------------------------------------

    async def settle(self) -> float:
        """Wait until every event produced so far has a final outcome and all is quiet."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + self.step_timeout
        seen: tuple[int, int, int] | None = None
        quiet_since = start
        while True:
            now = loop.time()
            produced = [str(e.get("id")) for e in self.emu.events]
            dead = {str(e.get("id")) for e, _ in self.delivery.dead_letters}
            pending = set(produced) - self.recorder.final_event_ids() - dead
            state = (len(produced), len(self.recorder.outcomes), len(dead))
            if state != seen:
                seen, quiet_since = state, now
            elif not pending and now - quiet_since >= QUIET_S:
                return now - start
            if now >= deadline:
                raise _Timeout(f"{len(pending)} of {len(produced)} events still without a "
                               f"final outcome after {self.step_timeout:.0f} s")
            await asyncio.sleep(0.05)

    def app(self) -> Mapping[str, Any] | None:
        return self.emu.get(self.app_id)

    def assignments(self, principal: str | None) -> list[Mapping[str, Any]]:
        if not principal:
            return []
        return [a for a in self.emu.role_assignments()
                if str(_props(a).get("principalId", "")).lower() == principal.lower()]

    def matching(self, principal: str | None, role: str, scope: str) -> list[Mapping[str, Any]]:
        """Every assignment of `role` on `scope` to `principal`, whoever made it."""
        role_guid = _short(self.roles[role]).lower()
        return [a for a in self.assignments(principal)
                if _short(str(_props(a).get("roleDefinitionId", ""))).lower() == role_guid
                and str(_props(a).get("scope", "")).lower() == scope.lower()]

    def find(self, principal: str | None, role: str, scope: str) -> Mapping[str, Any] | None:
        return next(iter(self.matching(principal, role, scope)), None)

    def assignment_named(self, name: str | None) -> Mapping[str, Any] | None:
        return next((a for a in self.emu.role_assignments() if name and a.get("name") == name),
                    None)

    def check(self, expected: str, observed: str, ok: bool) -> bool:
        c = Check(self.step_name, expected, observed, ok)
        self.result.checks.append(c)
        self.say.check(c)
        return ok

    def check_grant(self, tag: tuple[str, str], role: str, scope: str) -> None:
        a = self.find(self.principal, role, scope)
        kind = _props(a).get("principalType")
        self.check(f"{tag[0]} granted", f"{role} on {_short(scope)}, {kind}" if a else "missing",
                   a is not None and kind == "ServicePrincipal")
        if a is not None:
            self.warden_assignments[tag[0]] = str(a.get("name"))

    def check_absent(self, expected: str, role: str, scope: str) -> None:
        a = self.find(self.principal, role, scope)
        self.check(expected, "absent" if a is None else f"still there ({a.get('name')})",
                   a is None)

    async def act(self, action: Awaitable[Any]) -> list[Any]:
        """Do one thing as the person, wait for delivery to settle, tell what the webhook did.

        Returns the outcomes the webhook produced meanwhile.
        """
        first_outcome, first_event = len(self.recorder.outcomes), len(self.emu.events)
        first_dead = len(self.delivery.dead_letters)
        await action
        took = await self.settle()
        dead = self.delivery.dead_letters[first_dead:]
        if dead:
            self.check("Event Grid delivers every event",
                       f"{len(dead)} dead-lettered ({dead[0][1]})", False)
        outcomes = self.recorder.outcomes[first_outcome:]
        self.say.detail(f"ARM emitted {len(self.emu.events) - first_event} event(s); "
                        f"Event Grid delivery settled after {took:.1f} s")
        ignored: dict[str, int] = {}
        for o in outcomes:
            if o.result == "ignored":
                why = _brief(str(getattr(o, "reason", None) or "not for aca-warden"))
                ignored[why] = ignored.get(why, 0) + 1
                continue
            self.say.detail(f"webhook: {o.result} {_short(o.app or '-')}")
            for change in o.changes or ():
                self.say.detail(f"  + {_brief(str(change))}")
            for refusal in o.refused or ():
                what = refusal.get("tag") or refusal.get("identity")
                reason = _brief(str(refusal.get("reason")))
                if (what, reason) in self.told:
                    self.say.detail(f"  still refused: {what}")
                else:
                    self.told.add((what, reason))
                    self.say.detail(f"  refused {what}: {reason}")
            if o.error:
                self.say.detail(f"  error: {o.error}")
        for why, n in ignored.items():
            self.say.detail(f"webhook: ignored {n} event(s): {why}")
        return outcomes

    def of_app(self, outcomes: list[Any], *results: str) -> list[Any]:
        return [o for o in outcomes
                if (o.app or "").lower() == self.app_id.lower() and o.result in results]

    # -- the five steps -------------------------------------------------------

    async def step_create(self) -> None:
        tags = dict([TAG_BLOB, TAG_SECRETS])
        self.say.detail(f"{PERSON} creates {APP_NAME} in {APPS_RG} with the tags")
        for k, v in tags.items():
            self.say.detail(f"  {k} = {v}")
        await self.act(self.create_app(tags))
        identity = (self.app() or {}).get("identity") or {}
        attached = {k.lower() for k in identity.get("userAssignedIdentities") or {}}
        self.check("standard identity attached",
                   "attached" if self.standard_id.lower() in attached
                   else f"not attached ({len(attached)} user-assigned)",
                   self.standard_id.lower() in attached)
        self.principal = identity.get("principalId")
        kind = str(identity.get("type", "None"))
        self.check("system identity enabled", f"{kind}, principal {str(self.principal)[:8]}",
                   "systemassigned" in kind.lower() and bool(self.principal))
        self.check_grant(TAG_BLOB, BLOB_READER, self.storage_id)
        self.check_grant(TAG_SECRETS, SECRETS_USER, self.vault_id)

    async def step_retag(self) -> None:
        tags = dict([TAG_SECRETS, TAG_ACR])
        self.say.detail(f"{PERSON} replaces the app's tags through the Tags API: drops "
                        f"{TAG_BLOB[0]}, keeps {TAG_SECRETS[0]}, adds {TAG_ACR[0]} = {TAG_ACR[1]}")
        await self.act(self.patch_tags("Replace", tags))
        self.check_absent(f"{TAG_BLOB[0]} revoked", BLOB_READER, self.storage_id)
        self.check_grant(TAG_ACR, ACR_PULL, self.rg_apps)
        kept = self.find(self.principal, SECRETS_USER, self.vault_id)
        same = kept is not None and kept.get("name") == self.warden_assignments.get(TAG_SECRETS[0])
        self.check(f"{TAG_SECRETS[0]} kept as it was",
                   "the same assignment" if same else "changed or gone", same)

    async def step_owner(self) -> None:
        self.say.detail(f"{PERSON} merges the tag {TAG_ADMIN[0]} = {TAG_ADMIN[1]}")
        outcomes = await self.act(self.patch_tags("Merge", dict([TAG_ADMIN])))
        self.check_absent("no Owner assignment", OWNER, self.rg_apps)
        reasons = [str(r.get("reason")) for o in outcomes
                   for r in o.refused or () if str(r.get("tag", "")).lower() == TAG_ADMIN[0]]
        self.check(f"{TAG_ADMIN[0]} refused with a reason",
                   _GUID_NOTE.sub("", reasons[0].split(": ", 1)[0]) if reasons
                   else "no refusal reported",
                   bool(reasons))
        both = (self.find(self.principal, SECRETS_USER, self.vault_id) is not None
                and self.find(self.principal, ACR_PULL, self.rg_apps) is not None)
        self.check("the other grants still apply", "both present" if both else "missing", both)

    async def step_person(self) -> None:
        if not self.principal:
            self.check("person's assignment made", "the app has no principal to assign to", False)
            return
        self.say.detail(f"{PERSON} assigns {BLOB_READER} on {_short(self.storage_id)} to the "
                        "app's principal by hand (the very grant revoked in step 2)")
        self.person_assignment = await self.assign_by_hand(
            BLOB_READER, self.storage_id, self.principal)
        self.say.detail(f"then asks for the same grant by tag again: {TAG_BLOB[0]} = {TAG_BLOB[1]}")
        outcomes = await self.act(self.patch_tags("Merge", dict([TAG_BLOB])))
        seen = self.of_app(outcomes, "applied", "unchanged")
        self.check("the app was reconciled", ", ".join(o.result for o in seen) or "no outcome",
                   bool(seen))
        copies = [a.get("name") for a in self.matching(self.principal, BLOB_READER,
                                                        self.storage_id)]
        self.check("no copy of the person's assignment",
                   f"only {PERSON}'s" if copies == [self.person_assignment]
                   else f"{len(copies)} assignments of that role there",
                   copies == [self.person_assignment])
        self.say.detail(f"then drops {TAG_BLOB[0]} again: the grant is no longer wanted, but the "
                        "assignment that served it is the person's, not aca-warden's")
        rest = dict([TAG_SECRETS, TAG_ACR, TAG_ADMIN])
        outcomes = await self.act(self.patch_tags("Replace", rest))
        seen = self.of_app(outcomes, "applied", "unchanged")
        self.check("the app was reconciled again",
                   ", ".join(o.result for o in seen) or "no outcome", bool(seen))
        mine = self.assignment_named(self.person_assignment)
        self.check("the person's assignment left alone", "still there" if mine else "removed",
                   mine is not None)

    async def step_delete(self) -> None:
        live = {tag: name for tag, name in self.warden_assignments.items()
                if self.assignment_named(name)}
        self.say.detail(f"{PERSON} deletes {APP_NAME}; aca-warden's grants on it: "
                        + (", ".join(live) or "none"))
        outcomes = await self.act(self.delete_app())
        gone = self.app() is None
        self.check("app gone", "gone" if gone else "still there", gone)
        deleted = self.of_app(outcomes, "deleted")
        self.check("the webhook cleans up", "deleted" if deleted else "not reported",
                   bool(deleted))
        left = [tag for tag, name in live.items() if self.assignment_named(name)]
        self.check("its grants revoked",
                   f"{len(live)} of {len(live)} revoked" if not left
                   else "left: " + ", ".join(left),
                   bool(live) and not left)
        mine = self.assignment_named(self.person_assignment)
        self.check("the person's assignment still there",
                   "still there" if mine else "removed" if self.person_assignment else "none made",
                   mine is not None)


STEPS = (
    ("1 create app", "a person creates an app with two grant tags", "step_create"),
    ("2 re-tag", "the tags change through the Tags API", "step_retag"),
    ("3 Owner tag", "a tag asks for Owner", "step_owner"),
    ("4 person's own", "a person's own role assignment for the app", "step_person"),
    ("5 delete app", "the app is deleted", "step_delete"),
)


async def _tell_story(story: _Story, say: _Narrator, step_timeout: float) -> None:
    """Run the steps in order; a step that cannot finish ends the story."""
    for number, (name, title, method) in enumerate(STEPS, start=1):
        story.step_name = name
        say.step(number, title)
        try:
            # The settle wait has its own deadline; this one bounds the SDK calls.
            await asyncio.wait_for(getattr(story, method)(), step_timeout + 10)
        except (_Timeout, TimeoutError) as exc:
            story.check("Event Grid delivery settles", f"timed out: {exc}", False)
        except Exception as exc:  # noqa: BLE001 - the demo reports, then stops
            story.check("the step runs", _one_line(exc), False)
        else:
            continue
        for skipped, _, _ in STEPS[number:]:
            story.step_name = skipped
            story.check("the step runs", "not run: an earlier step did not finish", False)
        return


async def _start_webhook(recorder: _OutcomeRecorder) -> tuple[Any, str]:
    from aiohttp import web

    from handlers.serve import make_app

    app = make_app(recorder, timeout=WEBHOOK_TIMEOUT_S, key=None)  # type: ignore[arg-type]
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=WEBHOOK_TIMEOUT_S)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}/api/events"


async def run_demo(out: TextIO | None = None, *, policy_toml: str = DEMO_POLICY,
                   step_timeout: float = 15.0,
                   prepare: Callable[[Any], None] | None = None) -> DemoResult:
    """Tell the whole story; the result says which checks held.

    `policy_toml` is the policy the webhook runs with; `step_timeout` bounds
    each wait for delivery to settle after a step;
    `prepare`, when given, is called with the emulator once the organisation
    is seeded (to inject faults, for instance).
    """
    say = _Narrator(out or sys.stdout)
    result = DemoResult()
    started = time.monotonic()
    say.line("aca-warden demo: the whole story against the local Azure emulator "
             "(no Azure account needed)")
    say.line()
    say.line("Setting up")
    try:
        await _run(say, result, policy_toml, step_timeout, prepare)
    except Exception as exc:  # noqa: BLE001 - set-up failed: report it as a failed step
        result.checks.append(Check("0 set-up", "emulator, webhook and organisation ready",
                                   _one_line(exc), False))
        say.check(result.checks[-1])
    result.elapsed_s = time.monotonic() - started
    say.summary(result)
    return result


async def _run(say: _Narrator, result: DemoResult, policy_toml: str, step_timeout: float,
               prepare: Callable[[Any], None] | None) -> None:
    from emulator import Emulator
    from handlers.reconcile import Warden

    with tempfile.TemporaryDirectory(prefix="aca-warden-demo-") as tmp, \
            contextlib.ExitStack() as env_scope:
        policy_path = Path(tmp, "policy.toml")
        await asyncio.to_thread(policy_path.write_text, policy_toml, encoding="utf-8")
        # Shutdown runs bottom-up: delivery, webhook (lets running deliveries
        # finish), the Warden's clients, then the emulator they talk to.
        async with contextlib.AsyncExitStack() as stack:
            emu = Emulator(principal_delay_s=PRINCIPAL_DELAY_S, retry_after_s=0)
            await emu.start()
            stack.push_async_callback(emu.stop)
            say.detail(f"local Azure emulator (ARM over HTTPS) at {emu.endpoint}")
            env_scope.enter_context(_scoped_environ(
                {**emu.env, "WARDEN_POLICY": str(policy_path)}, _FOREIGN_ENV))
            warden = Warden.from_env(dict(os.environ))
            stack.push_async_callback(warden.close)
            recorder = _OutcomeRecorder(warden)
            runner, url = await _start_webhook(recorder)
            stack.push_async_callback(runner.cleanup)
            say.detail(f"aca-warden webhook (as `serve`) at {url}, with the policy")
            for text in policy_toml.splitlines():
                if text.strip() and not text.startswith("#"):
                    say.detail(f"  {text}")
            delivery = emu.deliver_to(url, max_attempts=6, timeout_s=WEBHOOK_TIMEOUT_S + 2)
            stack.push_async_callback(delivery.close)
            await _handshake(delivery, max(step_timeout, HANDSHAKE_TIMEOUT_S))
            say.detail("Event Grid subscription to the webhook: validation handshake answered")
            story = _Story(emu, delivery, recorder, say, result, step_timeout)
            say.detail("seeding the organisation:")
            story.seed()
            if prepare is not None:
                prepare(emu)
            async with story.person_clients():
                await story.resolve_roles()
                await _tell_story(story, say, step_timeout)


async def _handshake(delivery: Any, within_s: float) -> None:
    """Wait for the webhook to answer Event Grid's subscription validation."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not delivery.validated:
        if loop.time() >= deadline:
            raise _Timeout(f"the webhook did not answer the Event Grid validation handshake "
                           f"within {within_s:g} s")
        await asyncio.sleep(0.02)


def main(args: object = None) -> int:
    """Entry point of `python -m handlers demo`: 0 when every step did what it says."""
    step_timeout = float(getattr(args, "step_timeout", None) or 15.0)
    try:
        result = asyncio.run(run_demo(sys.stdout, step_timeout=step_timeout))
    except KeyboardInterrupt:  # asyncio.run has shut everything down by now
        print("\ndemo interrupted", file=sys.stderr)
        return 130
    return result.exit_code
