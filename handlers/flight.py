"""Two asyncio helpers the pipeline shares: look-ups in flight, and gathering with failures.

:class:`Shared` is the one cache of the service. Concurrent callers asking
for the same key share one look-up in flight (single flight: a burst of 1,000
apps reading one role definition sends one request); a finished answer is
kept for its time to live, chosen per answer (a role for minutes, "unknown"
never, a listing not at all); a caller can ask for an answer no older than a
moment (``not_before``), so a finished or in-flight look-up that started
earlier is not reused. A failed look-up is never kept.

:func:`gather_settled` runs awaitables to the end, all of them, and hands
back each result, with the failures of one expected kind in place of their
results; any other failure is raised once every awaitable has finished
(``asyncio.gather`` would raise the first and leave the others running).
:func:`gather_all` is the same with no failure expected.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Shared", "gather_all", "gather_settled"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


@dataclass
class _Entry(Generic[V]):
    started: float
    task: asyncio.Future[V]
    expires: float | None = None  # None while in flight


class Shared(Generic[K, V]):
    """Single-flight look-ups by key, with an optional time to live per answer.

    ``ttl(value)`` is how long a finished answer stays (seconds; 0 or None: not
    kept once finished). ``clock`` is ``time.monotonic`` unless a test says.
    """

    def __init__(self, ttl: Callable[[V], float | None] | float | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[K, _Entry[V]] = {}

    def _usable(self, entry: _Entry[V], now: float, not_before: float | None) -> bool:
        if not_before is not None and entry.started < not_before:
            return False
        return entry.expires is None or entry.expires > now

    async def get(self, key: K, fetch: Callable[[], Awaitable[V]], *,
                  not_before: float | None = None) -> V:
        """The answer for `key`: kept, in flight, or fetched now (and shared)."""
        now = self._clock()
        entry = self._entries.get(key)
        if entry is None or not self._usable(entry, now, not_before):
            entry = self._start(key, fetch, now)
        return await asyncio.shield(entry.task)

    def _start(self, key: K, fetch: Callable[[], Awaitable[V]], now: float) -> _Entry[V]:
        task: asyncio.Future[V] = asyncio.ensure_future(fetch())
        entry: _Entry[V] = _Entry(now, task)
        self._entries[key] = entry

        def finished(t: asyncio.Future[V]) -> None:
            if self._entries.get(key) is not entry:
                return  # replaced meanwhile
            if t.cancelled() or t.exception() is not None:
                del self._entries[key]
                return
            ttl = self._ttl(t.result()) if callable(self._ttl) else self._ttl
            if not ttl:
                del self._entries[key]
            else:
                entry.expires = self._clock() + ttl

        task.add_done_callback(finished)
        return entry

    def put(self, key: K, value: V, ttl: float) -> None:
        """Remember `value` for `key` for `ttl` seconds (what a write just established)."""
        loop_future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        loop_future.set_result(value)
        now = self._clock()
        self._entries[key] = _Entry(now, loop_future, now + ttl)

    def peek(self, key: K) -> V | None:
        """The kept, finished answer for `key`, if any (never starts a look-up)."""
        entry = self._entries.get(key)
        if entry is None or entry.expires is None or entry.expires <= self._clock():
            return None
        return entry.task.result()

    def __len__(self) -> int:
        return len(self._entries)


async def gather_settled(aws: Iterable[Awaitable[T]], keep: type[E]) -> list[T | E]:
    """Every result of `aws`, in order, with failures of type `keep` in place of results;
    any other failure is raised after all of them finished."""
    out: list[T | E] = []
    for r in await asyncio.gather(*aws, return_exceptions=True):
        if isinstance(r, keep) or not isinstance(r, BaseException):
            out.append(r)
        else:
            raise r
    return out


async def gather_all(aws: Iterable[Awaitable[T]]) -> list[T]:
    """Every result of `aws`, in order; the first failure is raised after all finished."""
    out: list[T] = []
    for r in await asyncio.gather(*aws, return_exceptions=True):
        if isinstance(r, BaseException):
            raise r
        out.append(r)
    return out
