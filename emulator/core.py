"""The Emulator: an aiohttp HTTPS server speaking the slice of ARM aca-warden uses.

One request goes: log -> latency -> bearer token -> api-version (present, and one
the provider serves) -> body size -> injected fault -> authorization (RBAC and
ABAC, ``rbac.py``) -> write bucket -> operations due by now end -> route handler ->
events. Handlers are synchronous over in-memory state, so every request's change
is atomic. ``GET /metadata/endpoints`` needs no token, as on ARM.

Pace: long-running operations take Azure's real time (``pace.py``) times
``time_scale`` (1 = real, the default; 0.01 = a hundred times faster; 0 = at once).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import ssl
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trustme
from aiohttp import web

from .auth import PersonCredential, TokenError, TokenIssuer, disclose
from .context import Ctx, PendingEvent, Reply
from .delivery import Delivery
from .deployment import Deployment, install, uninstall
from .events import build_arn_event, build_event
from .faults import FaultBook, TokenBucket
from .graph import add_graph_routes
from .lro import Operations, poll_route
from .metadata import METADATA_PATH, cloud_metadata
from .msi import token_answer
from .pace import Pace
from .providers import check_api_version
from .rbac import Authorizer
from .router import dispatch
from .seed import SeedMixin
from .state import ArmError, Store
from .topics import Topics, add_topic_routes

__all__ = ["Emulator", "RequestRecord"]

log = logging.getLogger(__name__)
MAX_BODY = 4 * 1024 * 1024
WRITE_METHODS = {"PUT", "PATCH", "DELETE", "POST"}
_PERSON_NS = uuid.UUID("0b0e6a51-7d0c-4c0e-9b59-3f9d6c1a2e77")


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: str
    kind: str  # token | read | write | poll
    status: int  # 0 = connection dropped on purpose
    principal_oid: str | None
    ts: float  # when the answer was ready (time.time())
    started: float = 0.0  # when the request arrived (time.time()), latency included in ts


class _Reset(Exception):
    """Drop the connection without an answer (an injected ``reset`` fault)."""


class Emulator(SeedMixin):
    """Local Azure Resource Manager; ``async with Emulator() as emu: ...``."""

    def __init__(
        self,
        page_size: int = 100,
        principal_delay_s: float = 10.0,
        latency_ms: float = 0,
        retry_after_s: int | None = None,
        *,
        port: int = 0,
        time_scale: float = 1.0,
        clock: Callable[[], float] | None = None,
        subscription_id: str | None = None,
        tenant_id: str | None = None,
        write_bucket: tuple[float, float] | None = None,
        dead_letter_dir: str | None = None,
        deployment: Deployment | None = Deployment(),  # noqa: B008 - frozen, immutable
    ) -> None:
        self.page_size = page_size
        self.principal_delay_s = principal_delay_s
        self.latency_ms = latency_ms
        # Retry-After on long-running operations: ARM sends none (the default); a test
        # may ask for one (0: poll again at once).
        self.retry_after_s = retry_after_s
        self.pace = Pace(time_scale, clock or time.monotonic)
        self.dead_letter_dir = dead_letter_dir
        self.port = port
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.subscription_id = (subscription_id or str(uuid.uuid4())).lower()
        self.identity_header = secrets.token_hex(16)
        disclose("IDENTITY_HEADER", self.identity_header)
        self.issuer = TokenIssuer(secrets.token_bytes(32), self.tenant_id)
        self.store = Store(self.tenant_id)
        self.store.add_subscription(self.subscription_id, "Emulated subscription")
        self.service_oid = str(uuid.uuid4())
        self.service_appid = str(uuid.uuid4())
        self.store.add_principal(self.service_oid, "ServicePrincipal", name="aca-warden",
                                 app_id=self.service_appid, kind="service", age_s=86400)
        self.authorizer = Authorizer(self.store)
        self.deployment: Deployment | None = None
        self.deployment_keys: set[str] = set()  # the deployment's role assignments
        self.store.subscription_listeners.append(self._watch_new_subscription)
        self.deploy(deployment)
        self.request_log: list[RequestRecord] = []
        # Told of every request once it is answered (``--access-log``); None: nobody.
        self.access_log: Callable[[RequestRecord], None] | None = None
        self.events: list[dict[str, Any]] = []  # subscription system topic
        self.arn_events: list[dict[str, Any]] = []  # Resource Notifications resources topic
        self.operations = Operations(self)
        self.faults = FaultBook()
        self._bucket_conf = write_bucket
        self._buckets: dict[str, TokenBucket] = {}
        self._deliveries: list[Delivery] = []
        self._runner: web.AppRunner | None = None
        self._tmp: str | None = None
        self.ca_path = ""
        self.endpoint = ""
        self.topics: Topics | None = None  # set by start()

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> Emulator:
        self._tmp = tempfile.mkdtemp(prefix="aca-emulator-")
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_path = os.path.join(self._tmp, "emulator-ca.pem")
        ca.cert_pem.write_to_path(self.ca_path)
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(server_ctx)
        app = web.Application(client_max_size=MAX_BODY + 1)
        app.router.add_route("GET", "/msi/token", self._token)
        app.router.add_route("GET", "/eventsubscriptions/{name}/validate", self._validate_url)
        app.router.add_route("GET", METADATA_PATH, self._metadata)
        add_graph_routes(app, self)  # the Microsoft Graph slice the Azure CLI asks
        self.topics = add_topic_routes(app, self)  # Event Grid custom topics (audit stream)
        app.router.add_route("*", "/{tail:.*}", self._arm)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=server_ctx)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.endpoint = f"https://127.0.0.1:{self.port}"
        return self

    async def stop(self) -> None:
        self.operations.cancel_timers()
        for d in self._deliveries:
            await d.close()
        self._deliveries.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def env(self) -> dict[str, str]:
        """The client environment of the contract."""
        return {
            "WARDEN_ARM_ENDPOINT": self.endpoint,
            "IDENTITY_ENDPOINT": f"{self.endpoint}/msi/token",
            "IDENTITY_HEADER": self.identity_header,
            "SSL_CERT_FILE": self.ca_path,
            "REQUESTS_CA_BUNDLE": self.ca_path,
            "AZURE_SUBSCRIPTION_ID": self.subscription_id,
        }

    def client_ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_path)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments that point an azure-mgmt client at the emulator."""
        return {
            "base_url": self.endpoint,
            "credential_scopes": [self.endpoint + "/.default"],
            "connection_verify": self.ca_path,
        }

    # -- principals and tokens ----------------------------------------------------
    def person_oid(self, name: str) -> str:
        oid = str(uuid.uuid5(_PERSON_NS, f"{self.tenant_id}/{name.lower()}"))
        if self.store.principal(oid) is None:
            self.store.add_principal(oid, "User", name=name, kind="person", age_s=86400)
        return oid

    def person_credential(self, name: str = "alice") -> PersonCredential:
        return PersonCredential(self.issuer, self.person_oid(name), name)

    def person_token(self, name: str = "alice") -> str:
        return self.issuer.mint(oid=self.person_oid(name), audience=self.endpoint, name=name,
                                user=True)[0]

    def service_token(self) -> str:
        return self.issuer.mint(oid=self.service_oid, audience=self.endpoint,
                                appid=self.service_appid, name="aca-warden")[0]

    def principal_token(self, oid: str, *, name: str | None = None) -> str:
        """A bearer token for any principal (e.g. one with no role at all)."""
        p = self.store.principal(oid)
        user = p is not None and p.type == "User"
        return self.issuer.mint(oid=oid.lower(), audience=self.endpoint, name=name,
                                appid=None if user else (p.app_id if p else None) or oid,
                                user=user)[0]

    # -- authorization ----------------------------------------------------------------
    def deploy(self, deployment: Deployment | None) -> None:
        """Give the service's identity exactly the template's roles (``infra/roles.json``)
        for these parameters, replacing the previous deployment; ``None``: no role at all."""
        if self.deployment is not None:
            uninstall(self.store, self.service_oid, self.deployment)
        self.deployment, self.deployment_keys = deployment, set()
        if deployment is not None:
            subs = (deployment.subscriptions if deployment.subscriptions is not None
                    else list(self.store.subscriptions))
            self.deployment_keys.update(install(self.store, self.service_oid, deployment, subs))

    def _watch_new_subscription(self, subscription: str) -> None:
        d = self.deployment
        if d is not None and d.subscriptions is None:
            self.deployment_keys.update(install(self.store, self.service_oid, d, [subscription]))

    def demote_person(self, name: str) -> str:
        """The person is no longer an Owner of every subscription: only the role
        assignments made for them count. Returns their object id."""
        oid = self.person_oid(name)
        self.authorizer.demoted.add(oid)
        return oid

    # -- knobs ----------------------------------------------------------------------
    def inject_fault(self, method: str, path_regex: str, status: int = 500,
                     code: str = "InternalServerError", count: int = 1,
                     apply_first: bool = False, reset: bool = False) -> None:
        self.faults.add(method, path_regex, status, code, count, apply_first, reset)

    def clear_faults(self) -> None:
        """Disarm every injected fault that has not fired yet."""
        self.faults.clear()

    def set_write_bucket(self, capacity: float | None, refill_per_s: float = 1.0) -> None:
        self._bucket_conf = None if capacity is None else (capacity, refill_per_s)
        self._buckets.clear()

    def count(self, kind: str | None = None, method: str | None = None,
              path_contains: str | None = None, principal: str | None = None) -> int:
        """Requests in the log. kind: arm (default, no tokens), read (incl. polls), write,
        poll, token."""
        if kind not in (None, "arm", "read", "write", "poll", "token"):
            raise ValueError(f"unknown request kind {kind!r}")
        n = 0
        for r in self.request_log:
            if kind in (None, "arm") and r.kind == "token":
                continue
            if kind == "read" and r.kind not in ("read", "poll"):
                continue
            if kind in ("write", "poll", "token") and r.kind != kind:
                continue
            if method and r.method != method.upper():
                continue
            if path_contains and path_contains.lower() not in r.path.lower():
                continue
            if principal and (r.principal_oid or "").lower() != principal.lower():
                continue
            n += 1
        return n

    def clear_log(self) -> None:
        self.request_log.clear()

    # -- pace ---------------------------------------------------------------------------
    @property
    def time_scale(self) -> float:
        """The fraction of Azure's real time a delay takes (1 real, 0 none)."""
        return self.pace.scale

    @time_scale.setter
    def time_scale(self, scale: float) -> None:
        self.pace = Pace(scale, self.pace.clock)
        if self._runner is not None:
            self.operations.rearm()

    def fail_operation(self, method: str, path_regex: str, code: str = "InternalServerError",
                       message: str = "The operation failed.", status: int = 500,
                       count: int = 1) -> None:
        """Let ARM accept the next matching long-running write (201/202 as usual) and make
        its operation end ``Failed`` later: the resource is rolled back, the status URL
        answers ``Failed`` with this error and ``ResourceWriteFailure`` goes out."""
        self.faults.add_later(method, path_regex, status, code, message, count)

    # -- events -----------------------------------------------------------------------
    def deliver_to(self, url: str, *, batch_size: int = 10, max_attempts: int = 30,
                   timeout_s: float = 30.0, validation_wait_s: float = 5.0,
                   schema: str = "eventgrid", source: str = "subscription",
                   listen_wait_s: float = 0.0, dead_letter_dir: str | None = None,
                   admits: Callable[[dict[str, Any]], bool] | None = None) -> Delivery:
        """Deliver every later event to ``url`` like an Event Grid subscription
        (``schema``: "eventgrid" or "cloudevents"; ``source``: "subscription" for the
        subscription system topic, "arn" for Azure Resource Notifications;
        ``listen_wait_s``: how long the handshake waits for ``url`` to start listening).
        Retries follow Event Grid's schedule at this emulator's time scale; what cannot
        be delivered is dead-lettered (to ``dead_letter_dir``, default the emulator's).
        ``admits``: the subscription's filter, a predicate on each event (None: all)."""
        if schema not in ("eventgrid", "cloudevents"):
            raise ValueError(f"unknown delivery schema {schema!r}")
        if source not in ("subscription", "arn"):
            raise ValueError(f"unknown event source {source!r}")
        d = Delivery(url, self.pace, batch_size, max_attempts, timeout_s,
                     topic=f"/subscriptions/{self.subscription_id}", schema=schema,
                     source=source, validation_base=self.endpoint,
                     validation_wait_s=validation_wait_s, listen_wait_s=listen_wait_s,
                     dead_letter_dir=dead_letter_dir or self.dead_letter_dir, admits=admits)
        d.start(self.client_ssl_context() if url.startswith("https") else None)
        self._deliveries.append(d)
        return d

    async def drain_deliveries(self) -> None:
        for d in list(self._deliveries):
            await d.drain()

    def publish(self, events: list[dict[str, Any]]) -> None:
        """Send events built elsewhere (Event Grid schema, as the subscription system
        topic writes them) to every subscription delivery, as if ARM had emitted them:
        what a benchmark needs for apps that were seeded rather than written."""
        for event in events:
            self.events.append(event)
            for d in self._deliveries:
                if d.source == "subscription":
                    d.put(event)

    def emit(self, ctx: Ctx, pending: list[PendingEvent]) -> None:
        """Record and deliver the events of a completed write."""
        for p in pending:
            event = build_event(self, ctx, p)
            self.events.append(event)
            arn = build_arn_event(self, ctx, p)
            if arn is not None:
                self.arn_events.append(arn)
            for d in self._deliveries:
                if d.source == "subscription":
                    d.put(event)
                elif arn is not None:
                    d.put(arn)

    # -- HTTP -------------------------------------------------------------------------
    def _log(self, request: web.Request, kind: str, status: int, oid: str | None,
             started: float = 0.0) -> None:
        now = time.time()
        record = RequestRecord(request.method, request.path, request.query_string, kind,
                               status, oid, now, started or now)
        self.request_log.append(record)
        if self.access_log is not None:
            self.access_log(record)

    async def _token(self, request: web.Request) -> web.Response:
        status, oid = 500, None
        try:
            status, oid, body = token_answer(self, request)
            return web.json_response(body, status=status)
        finally:
            self._log(request, "token", status, oid)

    async def _validate_url(self, request: web.Request) -> web.Response:
        """Event Grid's validationUrl: a GET confirms the subscription (no ARM auth)."""
        code = request.query.get("id", "")
        if any(d.confirm(code) for d in self._deliveries):
            return web.Response(text="Webhook successfully validated as a subscription endpoint.")
        return web.Response(status=404, text="Unknown validation code.")

    async def _metadata(self, request: web.Request) -> web.Response:
        """Endpoint discovery: no token needed, as on ARM."""
        status = 200
        try:
            body = cloud_metadata(self.endpoint, self.tenant_id,
                                  request.query.get("api-version", ""))
            return web.json_response(body)
        except ArmError as exc:
            status = exc.status
            return web.json_response(exc.body(), status=exc.status)
        finally:
            self._log(request, "read", status, None)

    async def _arm(self, request: web.Request) -> web.StreamResponse:
        started = time.time()
        low = [s.lower() for s in request.path.split("/") if s]
        if low == ["metadata", "endpoints"] and request.method == "GET":
            return await self._metadata(request)  # e.g. "//metadata/endpoints"
        kind = "poll" if poll_route(low) else (
            "write" if request.method in WRITE_METHODS else "read")
        status, oid = 500, None
        correlation = request.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())
        headers = {"x-ms-correlation-request-id": correlation,
                   "x-ms-request-id": str(uuid.uuid4())}
        try:
            if self.latency_ms:
                await asyncio.sleep(self.latency_ms / 1000)
            try:
                claims = self._authenticate(request)
                oid = claims.get("oid")
                reply = await self._process(request, kind, claims, correlation, headers)
            except ArmError as exc:
                reply = Reply(exc.status, exc.body(), exc.headers)
            except _Reset:
                status = 0
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError() from None
            except Exception:  # a bug in the emulator: answer like ARM, never crash
                log.exception("emulator error on %s %s", request.method, request.path)
                reply = Reply(500, {"error": {"code": "InternalServerError",
                                              "message": "Emulator internal error."}})
            status = reply.status
            headers.update(reply.headers)
            if reply.body is None:
                return web.Response(status=reply.status, headers=headers)
            return web.json_response(reply.body, status=reply.status, headers=headers)
        finally:
            self._log(request, kind, status, oid, started)

    def _authenticate(self, request: web.Request) -> dict[str, Any]:
        auth = request.headers.get("Authorization", "")
        challenge = {"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline'
                     f'.com/{self.tenant_id}", error="invalid_token"'}
        if not auth.lower().startswith("bearer "):
            raise ArmError(401, "AuthenticationFailed",
                           "Authentication failed. The 'Authorization' header is missing.",
                           challenge)
        try:
            return self.issuer.verify(auth[7:].strip())
        except TokenError as exc:
            raise ArmError(401, "InvalidAuthenticationToken", str(exc), challenge) from None

    async def _process(self, request: web.Request, kind: str, claims: dict[str, Any],
                       correlation: str, headers: dict[str, str]) -> Reply:
        if not request.query.get("api-version"):
            raise ArmError(400, "MissingApiVersionParameter",
                           "The api-version query parameter (?api-version=) is required for "
                           "all requests.")
        if (request.content_length or 0) > MAX_BODY:
            raise ArmError(413, "RequestEntityTooLarge", "The request content is too large.")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise ArmError(413, "RequestEntityTooLarge",
                           "The request content is too large.") from None
        ctx = Ctx(self, request.method, request.path, dict(request.query), raw, claims,
                  correlation, request.headers.get("x-ms-client-request-id", ""),
                  f"{self.endpoint}{request.path_qs}")
        check_api_version(ctx)
        fault = self.faults.take(request.method, request.path)
        if fault is not None and not fault.apply_first:
            self._raise_fault(fault)
        self.authorizer.authorize(ctx)
        if kind == "write":
            self._take_write_token(request, headers)
        self.operations.settle()
        reply = dispatch(ctx)
        if reply.status < 400:
            self.emit(ctx, ctx.events)
        if fault is not None:
            self._raise_fault(fault)
        return reply

    def _raise_fault(self, fault: Any) -> None:
        if fault.reset:
            raise _Reset()
        raise ArmError(fault.status, fault.code, f"Injected fault: {fault.code}.",
                       {"Retry-After": "0"} if fault.status in (429, 503) else None)

    def _take_write_token(self, request: web.Request, headers: dict[str, str]) -> None:
        if self._bucket_conf is None:
            headers["x-ms-ratelimit-remaining-subscription-writes"] = "1199"
            return
        segs = [s for s in request.path.split("/") if s]
        sub = segs[1].lower() if len(segs) > 1 and segs[0].lower() == "subscriptions" else ""
        bucket = self._buckets.get(sub)
        if bucket is None:
            bucket = self._buckets[sub] = TokenBucket(*self._bucket_conf)
        ok, remaining, retry = bucket.take()
        headers["x-ms-ratelimit-remaining-subscription-writes"] = str(remaining)
        if not ok:
            raise ArmError(429, "SubscriptionRequestsThrottled",
                           "Number of 'write' requests for subscription exceeded the limit. "
                           f"Please try again after '{retry}' seconds.",
                           {"Retry-After": str(retry)})
