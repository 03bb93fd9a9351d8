"""The audit stream: one CloudEvent per change and per refusal, to an Event Grid topic.

Optional: on when ``WARDEN_AUDIT_TOPIC_ENDPOINT`` names a custom topic
(``https://<topic>.<region>-1.eventgrid.azure.net/api/events``). The key comes
from ``WARDEN_AUDIT_TOPIC_KEY``; without one the service's own identity is used
(``DefaultAzureCredential``, which needs "EventGrid Data Sender" on the topic).

Publishing never holds up an event: :meth:`AuditStream.submit` only queues
(bounded; when full, the oldest audit records are dropped and counted), one
background task sends batches with azure-eventgrid's aio
``EventGridPublisherClient`` (azure-core retries each batch), and
:meth:`AuditStream.close` flushes what is left. An audit batch that still
fails is logged with its size and dropped: the role assignments themselves are
the truth, and the next sweep reports them again.

Event types: ``AcaWarden.Change`` (``data.change``) and ``AcaWarden.Refusal``
(``data.refusal`` with ``tag`` or ``identity`` and ``reason``); ``subject`` is
the app id, ``source`` ``/aca-warden``; ``data`` also carries every field of
the outcome line (``event_id``, ``app``, ``result``, ``changes``, ``refused``,
``error``, ``correlation_id``, ``caller``, ``reason``, ``notes``, ...) and
``dry_run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import Mapping
from typing import Any

__all__ = ["CHANGE", "ENDPOINT_ENV", "KEY_ENV", "REFUSAL", "AuditStream"]

log = logging.getLogger("aca_warden")

ENDPOINT_ENV = "WARDEN_AUDIT_TOPIC_ENDPOINT"
KEY_ENV = "WARDEN_AUDIT_TOPIC_KEY"
CHANGE = "AcaWarden.Change"
REFUSAL = "AcaWarden.Refusal"
SOURCE = "/aca-warden"
BATCH = 100
FLUSH_TIMEOUT_S = 10.0


class AuditStream:
    """Queues audit CloudEvents and publishes them in the background."""

    def __init__(self, endpoint: str, key: str | None = None, *,
                 ca_bundle: str | None = None, max_queue: int = 10_000) -> None:
        self.endpoint = endpoint
        self._key = key
        self._ca_bundle = ca_bundle
        self._queue: deque[Any] = deque(maxlen=max_queue)
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: Any = None
        self._credential: Any = None
        self._closing = False
        self.sent = 0
        self.dropped = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AuditStream | None:
        env = os.environ if env is None else env
        endpoint = env.get(ENDPOINT_ENV)
        if not endpoint:
            return None
        ca = env.get("SSL_CERT_FILE") or env.get("REQUESTS_CA_BUNDLE") or None
        return cls(endpoint, env.get(KEY_ENV) or None, ca_bundle=ca)

    # -- building ----------------------------------------------------------------
    @staticmethod
    def events_for(record: Mapping[str, Any]) -> list[Any]:
        """The CloudEvents for one outcome record: a change or refusal each."""
        from azure.core.messaging import CloudEvent

        base = {k: v for k, v in record.items() if k != "arm_calls"}
        base["dry_run"] = bool(record.get("dry_run"))
        subject = record.get("app") or None
        out = [CloudEvent(source=SOURCE, type=CHANGE, subject=subject,
                          data={**base, "change": change})
               for change in record.get("changes") or []]
        out += [CloudEvent(source=SOURCE, type=REFUSAL, subject=subject,
                           data={**base, "refusal": dict(refusal)})
                for refusal in record.get("refused") or []]
        return out

    def submit(self, record: Mapping[str, Any]) -> None:
        """Queue the audit events of one outcome; never blocks, never raises."""
        try:
            events = self.events_for(record)
        except Exception:
            log.exception("audit: could not build events for %s", record.get("event_id"))
            return
        if not events:
            return
        for e in events:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
            self._queue.append(e)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: flushed by close()
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run(), name="aca-warden-audit")
        assert self._wake is not None
        self._wake.set()

    # -- sending -----------------------------------------------------------------
    def _publisher(self) -> Any:
        if self._client is None:
            from azure.eventgrid.aio import EventGridPublisherClient

            if self._key:
                from azure.core.credentials import AzureKeyCredential

                credential: Any = AzureKeyCredential(self._key)
            else:
                from azure.identity.aio import DefaultAzureCredential

                kw = {"connection_verify": self._ca_bundle} if self._ca_bundle else {}
                credential = self._credential = DefaultAzureCredential(**kw)
            kw = {"connection_verify": self._ca_bundle} if self._ca_bundle else {}
            self._client = EventGridPublisherClient(self.endpoint, credential,
                                                    retry_total=3, **kw)
        return self._client

    async def _send_some(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
            try:
                await self._publisher().send(batch)
                self.sent += len(batch)
            except Exception as e:  # noqa: BLE001 - logged and counted, never raised
                self.dropped += len(batch)
                log.warning("audit: %d event(s) not published to %s: %s: %s", len(batch),
                            self.endpoint, type(e).__name__, e)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._send_some()
            if self._closing:
                return

    async def close(self) -> None:
        """Publish what is queued (within FLUSH_TIMEOUT_S), then release the client."""
        self._closing = True
        task, self._task = self._task, None
        try:
            if task is not None and not task.done():
                assert self._wake is not None
                self._wake.set()
                await asyncio.wait_for(asyncio.shield(task), FLUSH_TIMEOUT_S)
            await asyncio.wait_for(self._send_some(), FLUSH_TIMEOUT_S)
        except TimeoutError:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.dropped += len(self._queue)
            log.warning("audit: %d event(s) not published before shutdown", len(self._queue))
            self._queue.clear()
        for closeable in (self._client, self._credential):
            if closeable is not None:
                await closeable.close()
        self._client = self._credential = None
        self._closing = False
