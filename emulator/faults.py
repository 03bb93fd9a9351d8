"""Knobs for tests and benchmarks: injected faults and ARM's write token bucket.

Two kinds of fault: one that answers a request with an error at once (``add``), and
one that lets ARM accept a long-running write and makes its operation end ``Failed``
later (``add_later``), as when Azure cannot apply an accepted identity change.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

__all__ = ["Fault", "FaultBook", "TokenBucket"]


@dataclass
class Fault:
    method: str  # "*" matches any
    pattern: re.Pattern[str]
    status: int
    code: str
    remaining: int
    apply_first: bool = False
    reset: bool = False

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and self.method in ("*", method.upper())
            and self.pattern.search(path) is not None
        )


@dataclass
class FaultBook:
    faults: list[Fault] = field(default_factory=list)
    later: list[Fault] = field(default_factory=list)
    messages: dict[int, str] = field(default_factory=dict)  # id(fault) -> its message

    def add(
        self,
        method: str,
        path_regex: str,
        status: int,
        code: str,
        count: int = 1,
        apply_first: bool = False,
        reset: bool = False,
    ) -> Fault:
        fault = Fault(method.upper(), re.compile(path_regex, re.I), status, code, count,
                      apply_first, reset)
        self.faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first armed fault matching the request, consumed once."""
        for fault in self.faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                return fault
        return None

    def add_later(self, method: str, path_regex: str, status: int, code: str, message: str,
                  count: int = 1) -> Fault:
        fault = Fault(method.upper(), re.compile(path_regex, re.I), status, code, count)
        self.later.append(fault)
        self.messages[id(fault)] = message
        return fault

    def take_later(self, method: str, path: str) -> tuple[int, str, str] | None:
        """(status, code, message) an accepted operation of this request must end with."""
        for fault in self.later:
            if fault.matches(method, path):
                fault.remaining -= 1
                return fault.status, fault.code, self.messages[id(fault)]
        return None

    def clear(self) -> None:
        self.faults.clear()
        self.later.clear()
        self.messages.clear()


@dataclass
class TokenBucket:
    """ARM's per-subscription write bucket: ``capacity`` tokens, refilled per second."""

    capacity: float
    refill_per_s: float
    tokens: float = -1.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.refill_per_s)
        self.stamp = now

    def take(self) -> tuple[bool, int, int]:
        """(allowed, remaining, retry_after_s)."""
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return True, int(self.tokens), 0
        wait = (1 - self.tokens) / self.refill_per_s if self.refill_per_s > 0 else 3600
        return False, 0, max(1, math.ceil(wait))
