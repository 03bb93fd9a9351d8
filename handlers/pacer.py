"""Pacing writes to ARM's write token bucket (issue 5: sit at the limit, not beyond it).

ARM limits writes per principal and subscription with a token bucket and says
how many remain in ``x-ms-ratelimit-remaining-subscription-writes``; beyond it
answers 429 with ``Retry-After``. :class:`WritePacer` is an azure-core policy
(it runs once per attempt, inside the retry policy) that keeps one
:class:`_Bucket` per subscription and makes writes wait for a token instead of
sending them into a 429: a burst then proceeds at ARM's refill rate, with no
event left over for Event Grid to deliver again.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Mapping
from typing import Any

from handlers.ids import subscription_in_path
from handlers.telemetry import arm_request

__all__ = ["WritePacer"]

_WRITES = frozenset({"PUT", "PATCH", "DELETE", "POST"})
_REMAINING = "x-ms-ratelimit-remaining-subscription-writes"


class _Bucket:
    """What we know of ARM's write token bucket for one subscription.

    Until the first answer tells how many writes remain, one write goes at a
    time (a probe). From then on we keep our own count (tokens spent, refill
    since) and send while it is at one or more, else wait for the refill. ARM's
    figure, minus the writes still in flight, corrects the count when the two
    differ by a token or more. A 429 blocks every write until its Retry-After.
    """

    def __init__(self, refill: float) -> None:
        self.refill = refill
        self.tokens: float | None = None  # unknown until ARM's first answer
        self.last = time.monotonic()
        self.blocked_until = 0.0
        self.inflight = 0
        self._answered = asyncio.Event()

    async def acquire(self) -> None:
        """Wait for a write token."""
        while True:
            now = time.monotonic()
            if now < self.blocked_until:
                await asyncio.sleep(self.blocked_until - now)
                continue
            if self.tokens is None:
                if self.inflight:
                    try:
                        await asyncio.wait_for(self._answered.wait(), 5)
                    except TimeoutError:
                        self.tokens = math.inf  # no answer to learn from: do not pace
                    continue
            else:
                self.tokens += (now - self.last) * self.refill
                self.last = now
                if self.tokens < 1:
                    await asyncio.sleep((1 - self.tokens) / self.refill)
                    continue
                self.tokens -= 1
            self.inflight += 1
            return

    def observe(self, status: int | None, headers: Mapping[str, str]) -> None:
        now = time.monotonic()
        if status == 429:
            try:
                wait = float(headers.get("Retry-After", "1"))
            except ValueError:
                wait = 1.0
            self.blocked_until = max(self.blocked_until, now + wait)
            self.tokens, self.last = 0.0, now + wait
            self._answered.set()
            return
        remaining = headers.get(_REMAINING)
        if remaining is None:
            if status is not None and self.tokens is None:
                self.tokens, self.last = math.inf, now  # ARM does not say: do not pace
                self._answered.set()
            return
        try:
            estimate = float(remaining) - self.inflight
        except ValueError:
            return
        if self.tokens is not None and self.tokens != math.inf:
            self.tokens += (now - self.last) * self.refill
            self.last = now
        if self.tokens is None or abs(estimate - self.tokens) >= 1:
            self.tokens, self.last = estimate, now
        self._answered.set()


@functools.cache
def _pacer_class() -> type:
    from azure.core.pipeline.policies import AsyncHTTPPolicy

    class _Pacer(AsyncHTTPPolicy):  # type: ignore[type-arg]
        def __init__(self, owner: WritePacer) -> None:
            super().__init__()
            self._owner = owner

        async def send(self, request: Any) -> Any:
            http = request.http_request
            method = http.method.upper()
            if method not in _WRITES:
                answer: int | None = None
                try:
                    response = await self.next.send(request)
                    answer = response.http_response.status_code
                    return response
                finally:
                    arm_request(method, answer)  # every ARM request is counted (telemetry)
            bucket = self._owner.bucket(http.url)
            await bucket.acquire()
            status, headers = None, {}
            try:
                response = await self.next.send(request)
                status, headers = response.http_response.status_code, response.http_response.headers
                return response
            finally:
                bucket.inflight -= 1
                bucket.observe(status, headers)
                arm_request(method, status)

    return _Pacer


class WritePacer:
    """Paces writes per subscription to ARM's token bucket (refill assumed 10/s)."""

    def __init__(self, refill_per_s: float = 10.0) -> None:
        # A touch slower than ARM refills, so our count never runs ahead of it.
        self.refill = refill_per_s * 0.99
        self._buckets: dict[str, _Bucket] = {}

    def bucket(self, url: str) -> _Bucket:
        sub = subscription_in_path(url)
        if sub not in self._buckets:
            self._buckets[sub] = _Bucket(self.refill)
        return self._buckets[sub]

    def policy(self) -> Any:
        """A new azure-core policy for one pipeline (a policy links to the next one of its
        own pipeline), sharing this pacer's buckets."""
        return _pacer_class()(self)
