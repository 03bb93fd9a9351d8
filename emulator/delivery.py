"""Webhook delivery like an Event Grid subscription, retries and dead-lettering included.

A ``SubscriptionValidation`` handshake first (answered with ``validationResponse``,
or confirmed by a GET of ``validationUrl`` within ``validation_wait_s``); with
``schema="cloudevents"`` CloudEvents' HTTP OPTIONS abuse protection instead. Then
``aeg-event-type: Notification`` POSTs of JSON-array batches (CloudEvents 1.0 as
``application/cloudevents-batch+json``), each batch on its own so that one being
retried never holds up the others.

Retries follow Event Grid's schedule (Microsoft Learn, "Event Grid message
delivery and retry"): 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h,
then every 12 h, at least 2 min after a 408 and 30 s after a 503, for at most 30
attempts and 24 hours of retry waits, every wait scaled by the emulator's time scale
(so at scale 0 the whole schedule runs at once: 11 attempts, then the event's time
to live is over). Only
408, 429, 5xx and timeouts (no answer within ``timeout_s``, 30 s as Event Grid
waits) are retried; any other 4xx is final. An event that cannot be delivered is
dead-lettered: written to ``dead_letter_dir`` as Event Grid writes its blobs
(``{SUBSCRIPTION}/{Y}/{M}/{D}/{H}/{uuid}.json``, a JSON array of the event with
``deadLetterReason``, ``deliveryAttempts``, ``lastDeliveryOutcome``,
``lastHttpStatusCode``, ``publishTime``, ``lastDeliveryAttemptTime``), kept in
``dead_letters`` and reported at WARNING level (the CLI prints it on stderr).
Nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from .events import to_cloudevent
from .pace import (
    EVENT_GRID_MAX_ATTEMPTS,
    EVENT_GRID_RETRY_S,
    EVENT_GRID_RETRY_TAIL_S,
    EVENT_GRID_TTL_S,
    Pace,
)
from .state import utc_now

__all__ = ["RETRY_STATUSES", "Attempt", "Delivery", "retry_delay_s"]

log = logging.getLogger(__name__)
RETRY_STATUSES = {408, 429} | set(range(500, 600))
_AT_LEAST_S = {408: 120.0, 503: 30.0}  # Event Grid waits longer after these


def retry_delay_s(attempt: int, status: int | None) -> float:
    """Event Grid's real wait before retry ``attempt`` (1 = the first retry)."""
    base = EVENT_GRID_RETRY_S[attempt - 1] if attempt <= len(EVENT_GRID_RETRY_S) \
        else EVENT_GRID_RETRY_TAIL_S
    return max(base, _AT_LEAST_S.get(status or 0, 0.0))


def _outcome(status: int | None, timed_out: bool) -> str:
    if status is None:
        return "TimedOut" if timed_out else "GenericError"
    try:
        return http.HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return str(status)


@dataclass
class Attempt:
    """One POST of a batch: what the webhook answered, and when."""

    status: int | None
    answer: Any = None
    timed_out: bool = False
    at: str = field(default_factory=utc_now)
    events: int = 0  # in the batch (0: the validation handshake)
    started: float = 0.0  # time.time() when it was sent
    seconds: float = 0.0  # until the answer (or the failure)


@dataclass
class Delivery:
    """One webhook subscription: a queue, its senders and what became of each event."""

    url: str
    pace: Pace = field(default_factory=Pace)
    batch_size: int = 10
    max_attempts: int = EVENT_GRID_MAX_ATTEMPTS
    timeout_s: float = 30.0
    topic: str = ""
    schema: str = "eventgrid"  # or "cloudevents"
    source: str = "subscription"  # or "arn": the Resource Notifications resources topic
    validation_base: str = ""  # the emulator's endpoint, for validationUrl
    validation_wait_s: float = 5.0
    # How long to keep knocking while nothing listens at the URL yet (the CLI
    # may be started before the webhook it delivers to); 0 = one round only.
    listen_wait_s: float = 0.0
    dead_letter_dir: str | None = None
    # An event subscription's filter: only events it admits are delivered (None: all).
    admits: Callable[[dict[str, Any]], bool] | None = None
    subscription_name: str = "ACA-WARDEN-EMULATOR"
    validated: bool = False
    code: str = field(default_factory=lambda: str(uuid.uuid4()))
    delivered: list[dict[str, Any]] = field(default_factory=list)
    # (event, reason) of every event given up on; ``dead_lettered`` has them as written.
    dead_letters: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    dead_lettered: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    history: list[Attempt] = field(default_factory=list)  # every notification POST
    _queue: asyncio.Queue[tuple[dict[str, Any], str]] = field(default_factory=asyncio.Queue)
    _task: asyncio.Task[None] | None = None
    _senders: set[asyncio.Task[None]] = field(default_factory=set)
    _session: aiohttp.ClientSession | None = None
    _confirmed: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self, ssl: Any) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            # no cap on connections: every batch is sent at once, as Event Grid sends them,
            # and the 30 s are the webhook's, never spent waiting for a free connection
            connector=aiohttp.TCPConnector(ssl=ssl, limit=0),
        )
        self._task = asyncio.get_running_loop().create_task(self._run())

    def put(self, event: dict[str, Any]) -> None:
        if self.admits is None or self.admits(event):
            self._queue.put_nowait((event, utc_now()))

    async def drain(self) -> None:
        """Wait until every event put so far is delivered or dead-lettered."""
        await self._queue.join()
        while self._senders:
            await asyncio.gather(*list(self._senders), return_exceptions=True)

    async def close(self) -> None:
        for task in [self._task, *self._senders]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._senders.clear()
        if self._session is not None:
            await self._session.close()

    # -- one POST -------------------------------------------------------------------
    async def _post(self, body: Any, event_type: str, count: int) -> Attempt:
        assert self._session is not None
        self.attempts += 1
        headers = {
            "aeg-event-type": event_type,
            "aeg-subscription-name": self.subscription_name,
            "aeg-delivery-count": str(count),
            "aeg-data-version": "2",
            "aeg-metadata-version": "1",
            "Content-Type": "application/cloudevents-batch+json; charset=utf-8"
            if self.schema == "cloudevents" else "application/json",
        }
        started = time.time()
        attempt = await self._send(body, headers)
        attempt.started, attempt.seconds = started, time.time() - started
        if event_type == "Notification":
            attempt.events = len(body)
            self.history.append(attempt)
        return attempt

    async def _send(self, body: Any, headers: dict[str, str]) -> Attempt:
        assert self._session is not None
        try:
            async with self._session.post(self.url, data=json.dumps(body), headers=headers) as r:
                text = await r.text()
                try:
                    return Attempt(r.status, json.loads(text) if text else None)
                except ValueError:
                    return Attempt(r.status)
        except TimeoutError:
            return Attempt(None, timed_out=True)
        except (aiohttp.ClientError, OSError) as exc:
            log.debug("delivery to %s failed: %s", self.url, exc)
            return Attempt(None)

    # -- the handshake ------------------------------------------------------------------
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
        try:
            async with self._session.options(self.url, headers=headers) as r:
                allowed = r.headers.get("WebHook-Allowed-Origin", "")
                self.validated = 200 <= r.status < 300 and allowed in (origin, "*")
        except (TimeoutError, aiohttp.ClientError, OSError):
            self.validated = False

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
            "id": str(uuid.uuid4()), "topic": self.topic, "subject": "",
            "data": {"validationCode": self.code, "validationUrl": self.validation_url},
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": utc_now(), "metadataVersion": "1", "dataVersion": "1",
        }
        while True:
            attempt = await self._post([event], "SubscriptionValidation", 0)
            if attempt.status is not None or loop.time() >= deadline:
                break
            await asyncio.sleep(0.5)
        ok = attempt.status is not None and 200 <= attempt.status < 300
        answer = attempt.answer
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

    # -- delivery -----------------------------------------------------------------------
    async def _run(self) -> None:
        await self._validate()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            sender = asyncio.get_running_loop().create_task(self._deliver(batch))
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)

    async def _deliver(self, batch: list[tuple[dict[str, Any], str]]) -> None:
        events = [e for e, _ in batch]
        try:
            if not self.validated:
                self._dead_letter(batch, "SubscriptionValidationFailed", 0, None)
                return
            body = [to_cloudevent(e) for e in events] if self.schema == "cloudevents" \
                else events
            age_s = 0.0  # in Azure's time: the retry waits so far, unscaled
            attempt_no = 0
            while True:
                attempt_no += 1
                attempt = await self._post(body, "Notification", attempt_no - 1)
                if attempt.status is not None and 200 <= attempt.status < 300:
                    self.delivered.extend(events)
                    return
                retryable = attempt.status is None or attempt.status in RETRY_STATUSES
                if not retryable or attempt_no >= self.max_attempts:
                    self._dead_letter(batch, "MaxDeliveryAttemptsExceeded", attempt_no, attempt)
                    return
                wait_s = retry_delay_s(attempt_no, attempt.status)
                if age_s + wait_s > EVENT_GRID_TTL_S:
                    self._dead_letter(batch, "TimeToLiveExceeded", attempt_no, attempt)
                    return
                age_s += wait_s
                await asyncio.sleep(self.pace.seconds(wait_s))
        finally:
            for _ in batch:
                self._queue.task_done()

    def _dead_letter(self, batch: list[tuple[dict[str, Any], str]], reason: str,
                     attempts: int, last: Attempt | None) -> None:
        outcome = "Probation" if last is None else _outcome(last.status, last.timed_out)
        for event, published in batch:
            extra: dict[str, Any] = {
                "deadLetterReason": reason, "deliveryAttempts": attempts,
                "lastDeliveryOutcome": outcome, "publishTime": published,
                "lastDeliveryAttemptTime": last.at if last else utc_now(),
            }
            if last is not None and last.status is not None:
                extra["lastHttpStatusCode"] = last.status
            if self.schema == "cloudevents":
                letter = {**to_cloudevent(event), **{k.lower(): v for k, v in extra.items()}}
            else:
                letter = {**event, **extra}
            self.dead_letters.append((event, f"{reason} ({outcome})"))
            self.dead_lettered.append(letter)
            where = self._write(letter)
            log.warning("event %s (%s) dead-lettered after %d attempt(s): %s, last outcome %s%s",
                        event.get("id"), event.get("eventType"), attempts, reason, outcome,
                        f"; written to {where}" if where else "")

    def _write(self, letter: dict[str, Any]) -> str | None:
        if not self.dead_letter_dir:
            return None
        now = datetime.now(UTC)
        folder = os.path.join(self.dead_letter_dir, self.subscription_name.upper(),
                              str(now.year), str(now.month), str(now.day), str(now.hour))
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{uuid.uuid4()}.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump([letter], fh, indent=1)
        return path
