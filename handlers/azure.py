"""The one module that talks to Azure Resource Manager.

Everything else in aca-warden works on plain data; :class:`Arm` turns it into
ARM requests through the official aio SDK clients and turns their failures
into :class:`~handlers.errors.Transient` or :class:`~handlers.errors.Permanent`.

Clients, credential and SDK modules are created or imported lazily, on first
use, so that importing the service (a Functions cold start) stays cheap. All
clients share one retry budget shape: azure-core's retry policy with at most 3
retries, backoff 0.5 s doubling up to 4 s, Retry-After honoured, 5 s to
connect, 15 s to read and 20 s in all — far below azure-core's default of
minutes, so a stuck event turns into a "retry" that Event Grid delivers again.
Long-running operations are never waited for (the contract: identity changes
are not waited for): :meth:`Arm.patch_app` returns ARM's first answer.

Writes (PUT, PATCH, DELETE, POST) pass a per-subscription :class:`WritePacer`
that follows ARM's write token bucket from the
``x-ms-ratelimit-remaining-subscription-writes`` header and ``Retry-After`` on
429, so a burst slows down to ARM's refill rate instead of hammering it.

Failure mapping (the contract): network errors and timeouts, 408, 429, 5xx,
409 for an operation in progress, ``PrincipalNotFound`` and 403 on reading or
patching an app are transient; every other 4xx is permanent.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

from handlers.armdata import (
    assignment_from_json,
    credential_attempts,
    role_from_model,
    to_arm_error,
    token_claims,
)
from handlers.errors import NoCredential, Permanent, Transient
from handlers.flight import Shared
from handlers.ids import ArmId, WorkloadType, is_guid, subscription_in_path
from handlers.model import Assignment
from handlers.pacer import WritePacer

__all__ = ["Arm", "WritePacer", "to_arm_error", "token_claims"]

log = logging.getLogger("aca_warden")

AUTHZ_API = "2022-04-01"
SUBSCRIPTIONS_API = "2022-12-01"


def _proxy_set() -> bool:
    """Whether the environment names a proxy for aiohttp to trust.

    Trusting the environment costs every request a thread-pool hop (aiohttp looks
    for ~/.netrc credentials) and a scan of os.environ: a quarter of the service's
    CPU in a burst. ARM takes bearer tokens, never netrc, so trust it only for a proxy.
    """
    return any(os.environ.get(k) for k in (
        "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"))


class Arm:
    """ARM access for aca-warden (handlers.armapi.ArmApi): lazily built SDK clients sharing
    a retry budget and pacer."""

    def __init__(self, endpoint: str = "https://management.azure.com", scope: str | None = None,
                 credential_factory: Callable[[], Any] | None = None, *,
                 ca_bundle: str | None = None, retry_total: int = 3,
                 retry_backoff_s: float = 0.5) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.ca_bundle = ca_bundle
        self.retry_total = retry_total
        self.retry_backoff_s = retry_backoff_s
        self.scope = scope or f"{self.endpoint}/.default"
        self._credential_factory = credential_factory
        self._credential: Any = None
        self._clients: dict[tuple[str, str], Any] = {}
        self.pacer = WritePacer()
        self._claims: Shared[str, dict[str, Any]] = Shared(math.inf)
        self._session: Any = None
        self._transport: Any = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Arm:
        env = os.environ if env is None else env
        endpoint = env.get("WARDEN_ARM_ENDPOINT") or "https://management.azure.com"
        ca = env.get("SSL_CERT_FILE") or env.get("REQUESTS_CA_BUNDLE") or None
        return cls(endpoint, env.get("WARDEN_ARM_SCOPE") or None, ca_bundle=ca)

    # -- plumbing ------------------------------------------------------------
    def credential(self) -> Any:
        if self._credential is None:
            if self._credential_factory is not None:
                self._credential = self._credential_factory()
            else:
                from azure.identity.aio import DefaultAzureCredential

                kw: dict[str, Any] = {}
                if self.ca_bundle:  # aiohttp's default context predates the env variables
                    kw["connection_verify"] = self.ca_bundle
                self._credential = DefaultAzureCredential(
                    exclude_visual_studio_code_credential=True,
                    exclude_shared_token_cache_credential=True, **kw)
        return self._credential

    def _shared_transport(self) -> Any:
        """One aiohttp session (one TLS context, one connection pool) for every client.

        azure-core would otherwise build a new SSL context per request when given a
        CA bundle path, which defeats connection reuse and costs a handshake each time.
        """
        if self._transport is None:
            import ssl

            import aiohttp
            from azure.core.pipeline.transport import AioHttpTransport

            ctx = ssl.create_default_context(cafile=self.ca_bundle)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ctx, limit=100), trust_env=_proxy_set(),
                cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)
            self._transport = AioHttpTransport(session=self._session, session_owner=False,
                                               connection_timeout=5, read_timeout=15)
        return self._transport

    def _kwargs(self) -> dict[str, Any]:
        return dict(
            base_url=self.endpoint, credential_scopes=[self.scope],
            retry_total=self.retry_total, retry_backoff_factor=self.retry_backoff_s,
            retry_backoff_max=4, timeout=20, transport=self._shared_transport(),
            custom_hook_policy=self.pacer.policy())

    def _client(self, kind: str, subscription: str = "") -> Any:
        key = (kind, subscription.lower())
        client = self._clients.get(key)
        if client is None:
            sub = subscription or "00000000-0000-0000-0000-000000000000"
            if kind == "apps":
                from azure.mgmt.appcontainers.aio import ContainerAppsAPIClient as C
                client = C(self.credential(), sub, **self._kwargs())
            elif kind == "msi":
                from azure.mgmt.msi.aio import ManagedServiceIdentityClient as M
                client = M(self.credential(), sub, **self._kwargs())
            else:
                from azure.mgmt.authorization.aio import AuthorizationManagementClient as A
                client = A(self.credential(), sub, api_version=AUTHZ_API, **self._kwargs())
            self._clients[key] = client
        return client

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            await c.close()
        if self._session is not None:
            session, self._session, self._transport = self._session, None, None
            await session.close()
        if self._credential is not None:
            cred, self._credential = self._credential, None
            close = getattr(cred, "close", None)
            if close is not None:
                await close()

    async def own_identity(self) -> tuple[str | None, str | None]:
        """The service's own (object id, app id), read from its ARM token (not an ARM request).

        (None, None) when it runs with a person's token: self-caused events are then
        not recognised, only cheap (a no-op reconcile).
        """
        async def claims() -> dict[str, Any]:
            try:
                token = await self.credential().get_token(self.scope)
            except Exception as e:  # no token, no ARM either
                raise self._token_failure(e) from e
            return token_claims(token.token)

        c = await self._claims.get("token", claims)  # a burst of events asks once
        if c.get("idtyp") == "user" or "scp" in c:
            # A person's token (a developer's az login): their own changes must not
            # look self-caused, and the client app id is shared by every user of it.
            return None, None
        oid = c.get("oid") or c.get("http://schemas.microsoft.com/identity/claims/objectidentifier")
        return (str(oid).lower() if oid else None,
                str(c.get("appid") or c.get("azp") or "").lower() or None)

    def _token_failure(self, e: Exception) -> Transient:
        """NoCredential when no source of the credential chain was available, else Transient.

        azure-identity's chain goes on past an unavailable source and stops at the first
        that fails for real: every source named in its message means none had a
        credential (or the last one failed; taken as none, which an operator sees).
        """
        from azure.identity import CredentialUnavailableError

        cred = self._credential
        chain = [getattr(c, "_credential_name", type(c).__name__)
                 for c in getattr(cred, "credentials", ())]
        tried = credential_attempts(str(getattr(e, "message", None) or e))
        if isinstance(e, CredentialUnavailableError) or (chain and set(chain) <= set(tried)):
            shown = "; ".join(f"{n}: {why}" for n, why in tried.items()) or str(e)
            return NoCredential(
                f"no Azure credential found for {self.scope} ({type(cred).__name__} tried "
                f"{len(tried) or 1} sources) -- {shown}")
        return Transient(f"cannot get a token for {self.scope}: {e}")

    # -- workloads ------------------------------------------------------------------
    def _url(self, path: str, api: str | None = None) -> str:
        from urllib.parse import quote

        api = api or self._client("apps", subscription_in_path(path))._config.api_version
        return f"{self.endpoint}{quote(path, safe='/')}?api-version={api}"

    async def get_app(self, app: ArmId) -> dict[str, Any] | None:
        """The workload's JSON, or None when ARM answers 404.

        Sent through the SDK client's pipeline (retry, auth, pacing) but read as
        plain JSON: deserialising the full model costs more CPU than the rest of a
        no-op event.
        """
        from azure.core.exceptions import HttpResponseError
        from azure.core.rest import HttpRequest

        try:
            resp = await self._client("apps", app.subscription or "").send_request(
                HttpRequest("GET", self._url(str(app))))
            if resp.status_code == 404:
                return None
            if resp.status_code >= 400:
                raise HttpResponseError(response=resp)
            body = resp.json()
        except Exception as e:
            raise to_arm_error(e, f"reading {app}", app_level=True) from e
        return body if isinstance(body, dict) else {}

    async def patch_app(self, app: ArmId, body: dict[str, Any]) -> dict[str, Any] | None:
        """PATCH (JSON merge patch) exactly ``body`` onto the workload; ARM's first answer.

        The operation is not waited for: the answer's body when it has one (200/201),
        None when ARM accepted it with none (202 + Location).
        """
        from azure.core.exceptions import HttpResponseError
        from azure.core.rest import HttpRequest

        client = self._client("apps", app.subscription or "")
        request = HttpRequest("PATCH", self._url(str(app)), content=json.dumps(body).encode(),
                              headers={"Content-Type": "application/json"})
        try:
            resp = await client.send_request(request)
            if resp.status_code >= 400:
                raise HttpResponseError(response=resp)
            text = resp.text()
            answer = json.loads(text) if text.strip() else None
        except Exception as e:
            raise to_arm_error(e, f"patching {app}", app_level=True) from e
        return answer if isinstance(answer, dict) else None

    async def list_apps(self, subscription: str, wtype: WorkloadType) -> list[dict[str, Any]]:
        """Every workload of a type in a subscription (all pages), as ARM's JSON."""
        return await self._pages(self._url(wtype.list_path(subscription)),
                                 f"listing {wtype.type} of {subscription}")

    async def _pages(self, url: str | None, what: str) -> list[dict[str, Any]]:
        from azure.core.rest import HttpRequest

        client = self._client("apps", subscription_in_path(url or ""))
        out: list[dict[str, Any]] = []
        try:
            while url:
                resp = await client.send_request(HttpRequest("GET", url))
                resp.raise_for_status()
                body = resp.json()
                out += [v for v in body.get("value") or [] if isinstance(v, dict)]
                url = body.get("nextLink")
        except Exception as e:
            raise to_arm_error(e, what) from e
        return out

    async def list_subscriptions(self) -> list[str]:
        """Every subscription the service's identity can read (all pages)."""
        found = await self._pages(f"{self.endpoint}/subscriptions?api-version={SUBSCRIPTIONS_API}",
                                  "listing subscriptions")
        return [str(s["subscriptionId"]) for s in found if s.get("subscriptionId")]

    # -- user-assigned identities ------------------------------------------------
    async def get_identity(self, identity: ArmId) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            m = await self._client("msi", identity.subscription or "").user_assigned_identities \
                .get(identity.resource_group, identity.name)
        except ResourceNotFoundError:
            return None
        except Exception as e:
            raise to_arm_error(e, f"reading identity {identity}") from e
        return {"id": m.id, "principalId": m.principal_id, "clientId": m.client_id}

    async def create_identity(self, identity: ArmId, location: str) -> dict[str, Any]:
        client = self._client("msi", identity.subscription or "")
        try:
            m = await client.user_assigned_identities.create_or_update(
                identity.resource_group, identity.name,
                json.dumps({"location": location}).encode())
        except Exception as e:
            raise to_arm_error(e, f"creating identity {identity}") from e
        return {"id": m.id, "principalId": m.principal_id, "clientId": m.client_id}

    # -- role definitions ----------------------------------------------------
    async def find_role(self, subscription: str, role: str) -> dict[str, Any] | None:
        """A role definition by name (case-insensitive), GUID or full id; None if unknown."""
        from azure.core.exceptions import ResourceNotFoundError

        ops = self._client("authz").role_definitions
        scope = f"/subscriptions/{subscription}"
        try:
            if role.startswith("/"):
                return role_from_model(await ops.get_by_id(role))
            if is_guid(role):
                return role_from_model(await ops.get(scope, role))
            quoted = role.replace("'", "''")
            async for m in ops.list(scope, filter=f"roleName eq '{quoted}'"):
                if (m.role_name or "").lower() == role.lower():
                    return role_from_model(m)
            return None
        except ResourceNotFoundError:
            return None
        except Exception as e:
            err = to_arm_error(e, f"looking up role {role!r}")
            if isinstance(err, Permanent) and err.status == 400:
                return None  # a malformed GUID or id names no role
            raise err from e

    # -- role assignments ----------------------------------------------------
    async def _send(self, method: str, path: str, *, params: dict[str, str] | None = None,
                    body: Any = None) -> Any:
        """One request through an SDK client's pipeline (retry, auth, pacing), read raw.

        For the hot calls (role-assignment lists and PUTs): the SDK's model
        (de)serialisation costs more CPU than the rest of the request.
        """
        from urllib.parse import quote

        from azure.core.rest import HttpRequest

        url = path if path.startswith("https://") else f"{self.endpoint}{quote(path, safe='/')}"
        client = self._client("apps", subscription_in_path(path))
        return await client.send_request(HttpRequest(method, url, params=params, json=body))

    async def list_assignments(self, scope: str, filter: str | None = None) -> list[Assignment]:
        """Role assignments that apply at ``scope`` (all pages)."""
        from azure.core.exceptions import HttpResponseError

        params: dict[str, str] | None = {"api-version": AUTHZ_API}
        if filter:
            params = {**(params or {}), "$filter": filter}
        out: list[Assignment] = []
        page: str | None = f"{scope}/providers/Microsoft.Authorization/roleAssignments"
        try:
            while page:
                resp = await self._send("GET", page, params=params)
                if resp.status_code >= 400:
                    raise HttpResponseError(response=resp)
                data = resp.json()
                out += [assignment_from_json(v) for v in data.get("value") or []]
                page, params = data.get("nextLink"), None  # nextLink carries the query
        except Exception as e:
            raise to_arm_error(e, f"listing role assignments at {scope}") from e
        return out

    async def scope_exists(self, scope: str) -> bool:
        """Whether ``scope`` exists (a 404 on listing the assignments at it means no)."""
        from azure.core.exceptions import ResourceNotFoundError

        ops = self._client("authz").role_assignments
        try:
            async for _ in ops.list_for_scope(scope, filter="atScope()"):
                break
        except ResourceNotFoundError:
            return False
        except Exception as e:
            raise to_arm_error(e, f"checking scope {scope}") from e
        return True

    async def create_assignment(self, scope: str, name: str, role_definition_id: str,
                                principal_id: str, description: str) -> bool:
        """PUT a role assignment: True when it is in place (201, or 200 for this very
        name), False on 409 RoleAssignmentExists (the same principal, role and scope
        exist under another name).

        ``principalType`` is always sent: without it ARM answers PrincipalNotFound while
        a new principal replicates (and the SDK model would default it to "User").
        """
        from azure.core.exceptions import HttpResponseError

        body = {"properties": {"roleDefinitionId": role_definition_id,
                               "principalId": principal_id,
                               "principalType": "ServicePrincipal",
                               "description": description}}
        path = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
        try:
            resp = await self._send("PUT", path, params={"api-version": AUTHZ_API}, body=body)
            if resp.status_code >= 400:
                raise HttpResponseError(response=resp)
        except Exception as e:
            err = to_arm_error(e, f"granting at {scope}")
            if err.status == 409 and (err.code or "").lower() == "roleassignmentexists":
                return False
            raise err from e
        return True

    async def delete_assignment(self, assignment: Assignment) -> None:
        """DELETE a role assignment; already gone (204/404) is success."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            await self._client("authz").role_assignments.delete(assignment.scope, assignment.name)
        except ResourceNotFoundError:
            return
        except Exception as e:
            raise to_arm_error(e, f"revoking {assignment.id}") from e
