"""Event Grid events of the subscription system topic, and their webhook delivery.

Delivery behaves like an Event Grid subscription: a SubscriptionValidation
handshake first (answered with ``validationResponse``, or confirmed by a GET
of ``validationUrl`` within ``validation_wait_s``), then
``aeg-event-type: Notification`` POSTs of JSON-array batches; 408, 429, 5xx
and timeouts are retried with exponential backoff a bounded number of times,
any other 4xx is dropped (dead-lettered) at once. With ``schema="cloudevents"``
the handshake is CloudEvents' HTTP OPTIONS abuse protection and the batches are
CloudEvents 1.0 (``application/cloudevents-batch+json``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from .auth import event_claims
from .context import Ctx, PendingEvent
from .ids import parse_resource_id, segments
from .state import utc_now

if TYPE_CHECKING:
    from .core import Emulator

__all__ = ["Delivery", "build_arn_event", "build_event", "to_cloudevent"]

log = logging.getLogger(__name__)
RETRY_STATUSES = {408, 429} | set(range(500, 600))


def build_event(emu: Emulator, ctx: Ctx, pending: PendingEvent) -> dict[str, Any]:
    """The Event Grid schema event for one completed write."""
    uri = pending.resource_uri
    segs = segments(uri)
    sub = segs[1].lower() if len(segs) > 1 else emu.subscription_id
    provider = pending.operation_name.split("/", 1)[0]
    data: dict[str, Any] = {
        "authorization": {
            "scope": uri,
            "action": pending.operation_name,
            "evidence": {"role": "Emulated", "principalId": ctx.caller_oid.replace("-", "")},
        },
        "claims": event_claims(ctx.claims),
        "correlationId": ctx.correlation_id,
        "httpRequest": {
            "clientRequestId": ctx.client_request_id,
            "clientIpAddress": "127.0.0.1",
            "method": ctx.method,
            "url": ctx.url,
        },
        "resourceProvider": provider,
        "resourceUri": uri,
        "operationName": pending.operation_name,
        "status": "Succeeded",
        "subscriptionId": sub,
        "tenantId": emu.tenant_id,
    }
    return {
        "subject": uri,
        "eventType": pending.event_type,
        "eventTime": utc_now(),
        "id": str(uuid.uuid4()),
        "data": data,
        "dataVersion": "2",
        "metadataVersion": "1",
        "topic": f"/subscriptions/{sub}",
    }


_TAGS = "/providers/microsoft.resources/tags/default"


def build_arn_event(emu: Emulator, ctx: Ctx, pending: PendingEvent) -> dict[str, Any] | None:
    """The Azure Resource Notifications (resources topic) event of a completed write
    or delete of a resource in a group; None for anything else (groups, role
    assignments, actions)."""
    uri = pending.resource_uri
    if uri.lower().endswith(_TAGS):
        uri = uri[: -len(_TAGS)]
    ref = parse_resource_id(uri)
    if ref is None or pending.event_type.endswith("ActionSuccess"):
        return None
    info: dict[str, Any] = {"id": uri, "name": ref.name, "type": ref.type}
    if pending.event_type.endswith("DeleteSuccess") and uri == pending.resource_uri:
        event_type = "Microsoft.ResourceNotifications.Resources.Deleted"
        data: dict[str, Any] = {"resourceInfo": info}
    else:
        body = emu.get(uri)
        if body is None:
            return None
        event_type = "Microsoft.ResourceNotifications.Resources.CreatedOrUpdated"
        info = {"tags": body.get("tags") or {}, **info, "location": body.get("location"),
                "properties": body.get("properties") or {}}
        data = {"resourceInfo": info, "apiVersion": ctx.api_version}
    now = utc_now()
    data["operationalInfo"] = {"resourceEventTime": now}
    return {
        "id": str(uuid.uuid4()),
        "topic": f"/subscriptions/{ref.subscription}",
        "subject": uri,
        "data": data,
        "eventType": event_type,
        "dataVersion": "1",
        "metadataVersion": "1",
        "eventTime": now,
    }


def to_cloudevent(event: dict[str, Any]) -> dict[str, Any]:
    """The CloudEvents 1.0 form of an Event Grid schema event (same id and data)."""
    return {
        "source": event["topic"],
        "subject": event["subject"],
        "type": event["eventType"],
        "time": event["eventTime"],
        "id": event["id"],
        "data": event["data"],
        "specversion": "1.0",
    }


@dataclass
class Delivery:
    """One webhook subscription: a queue, a worker task and what became of each event."""

    url: str
    batch_size: int = 10
    max_attempts: int = 5
    backoff_s: float = 0.05
    timeout_s: float = 10.0
    topic: str = ""
    schema: str = "eventgrid"  # or "cloudevents"
    source: str = "subscription"  # or "arn": the Resource Notifications resources topic
    validation_base: str = ""  # the emulator's endpoint, for validationUrl
    validation_wait_s: float = 5.0
    # How long to keep knocking while nothing listens at the URL yet (the CLI
    # may be started before the webhook it delivers to); 0 = one round only.
    listen_wait_s: float = 0.0
    validated: bool = False
    code: str = field(default_factory=lambda: str(uuid.uuid4()))
    delivered: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    attempts: int = 0
    _queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    _task: asyncio.Task[None] | None = None
    _session: aiohttp.ClientSession | None = None
    _confirmed: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self, ssl: Any) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            connector=aiohttp.TCPConnector(ssl=ssl),
        )
        self._task = asyncio.get_running_loop().create_task(self._run())

    def put(self, event: dict[str, Any]) -> None:
        self._queue.put_nowait(event)

    async def drain(self) -> None:
        await self._queue.join()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    async def _post(self, body: Any, event_type: str, count: int) -> tuple[int | None, Any]:
        """(status or None for a timeout/network error, parsed body)."""
        assert self._session is not None
        self.attempts += 1
        headers = {
            "aeg-event-type": event_type,
            "aeg-subscription-name": "ACA-WARDEN-EMULATOR",
            "aeg-delivery-count": str(count),
            "aeg-data-version": "2",
            "aeg-metadata-version": "1",
            "Content-Type": "application/cloudevents-batch+json; charset=utf-8"
            if self.schema == "cloudevents" else "application/json",
        }
        try:
            async with self._session.post(self.url, data=json.dumps(body), headers=headers) as r:
                text = await r.text()
                try:
                    return r.status, json.loads(text) if text else None
                except ValueError:
                    return r.status, None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.debug("delivery to %s failed: %s", self.url, exc)
            return None, None

    async def _send(self, body: Any, event_type: str) -> tuple[bool, str]:
        reason = ""
        for attempt in range(self.max_attempts):
            status, answer = await self._post(body, event_type, attempt)
            if status is not None and 200 <= status < 300:
                return True, answer
            reason = f"HTTP {status}" if status is not None else "timeout or network error"
            if status is not None and status not in RETRY_STATUSES:
                return False, reason
            await asyncio.sleep(self.backoff_s * (2**attempt))
        return False, reason + f" after {self.max_attempts} attempts"

    @property
    def validation_url(self) -> str:
        return (f"{self.validation_base}/eventsubscriptions/emulator/validate?id={self.code}"
                f"&apiVersion=2018-05-01-preview&token={self.code[:8]}")

    def confirm(self, code: str) -> bool:
        """A GET of validationUrl: the manual form of the handshake."""
        if code != self.code:
            return False
        self._confirmed.set()
        return True

    async def _options_handshake(self) -> None:
        """CloudEvents 1.0 webhook abuse protection: OPTIONS, then WebHook-Allowed-Origin."""
        assert self._session is not None
        origin = "eventgrid.azure.net"
        headers = {"WebHook-Request-Origin": origin, "WebHook-Request-Rate": "120"}
        for attempt in range(self.max_attempts):
            try:
                async with self._session.options(self.url, headers=headers) as r:
                    allowed = r.headers.get("WebHook-Allowed-Origin", "")
                    if 200 <= r.status < 300:
                        self.validated = allowed in (origin, "*")
                        return
                    if r.status not in RETRY_STATUSES:
                        return
            except (TimeoutError, aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(self.backoff_s * (2**attempt))

    async def _validate(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.listen_wait_s
        if self.schema == "cloudevents":
            await self._options_handshake()
            while not self.validated and loop.time() < deadline:
                await asyncio.sleep(0.5)
                await self._options_handshake()
            if not self.validated:
                log.warning("webhook %s failed the CloudEvents handshake", self.url)
            return
        event = {
            "id": str(uuid.uuid4()),
            "topic": self.topic,
            "subject": "",
            "data": {"validationCode": self.code, "validationUrl": self.validation_url},
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": utc_now(),
            "metadataVersion": "1",
            "dataVersion": "1",
        }
        while True:
            ok, answer = await self._send([event], "SubscriptionValidation")
            if ok or not answer.startswith("timeout or network error") \
                    or loop.time() >= deadline:
                break
            await asyncio.sleep(0.5)
        self.validated = bool(ok and isinstance(answer, dict)
                              and answer.get("validationResponse") == self.code)
        if ok and not self.validated:
            try:
                await asyncio.wait_for(self._confirmed.wait(), self.validation_wait_s)
                self.validated = True
            except TimeoutError:
                pass
        if not self.validated:
            log.warning("webhook %s failed the validation handshake", self.url)

    async def _run(self) -> None:
        await self._validate()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                if not self.validated:
                    ok, reason = False, "subscription validation failed"
                else:
                    body = [to_cloudevent(e) for e in batch] \
                        if self.schema == "cloudevents" else batch
                    ok, reason = await self._send(body, "Notification")
                if ok:
                    self.delivered.extend(batch)
                else:
                    self.dead_letters.extend((e, reason) for e in batch)
            finally:
                for _ in batch:
                    self._queue.task_done()
