"""Which subscriptions a tenant-wide command covers, and progress for people.

``plan --all``, ``inventory`` and ``release --subscription`` take their
subscriptions like ``reconcile``: ``--subscription`` (repeatable), else
``WARDEN_SUBSCRIPTIONS`` (comma-separated), else every subscription the
credential can read. One that is malformed (not a GUID: it never becomes part
of a URL), does not exist or cannot be read is a *problem*: named, with where
it came from, and the command exits 2 after processing the others.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from handlers.armapi import ArmApi
from handlers.ids import ArmId, subscription_problem
from handlers.policy import SUBSCRIPTIONS_ENV, subscriptions_from_env
from handlers.report import Outcome

__all__ = ["Progress", "Subscriptions", "given_subscriptions", "subscriptions", "unreadable",
           "unswept"]

EVERY = "every subscription the credential can read"


@dataclass(frozen=True)
class Subscriptions:
    """The subscriptions to process (lower-case, in order, no repeats), where they came
    from, and the ones named that cannot be (malformed), each as a message."""

    ids: tuple[str, ...]
    source: str
    problems: tuple[str, ...] = ()


def given_subscriptions(cli: Sequence[str] | None, env: Mapping[str, str] | None = None
                        ) -> tuple[list[str], str]:
    """The subscriptions named on the command line, else in WARDEN_SUBSCRIPTIONS, and
    which of the two it was; ([], EVERY) when neither names any."""
    if cli:
        return list(cli), "--subscription"  # as given: a blank one is named, not dropped
    named = subscriptions_from_env(os.environ if env is None else env)
    return (named, SUBSCRIPTIONS_ENV) if named else ([], EVERY)


async def subscriptions(arm: ArmApi, cli: Sequence[str] | None,
                        env: Mapping[str, str] | None = None) -> Subscriptions:
    """The subscriptions a command covers (see the module doc); listing every readable
    one raises what ARM raised."""
    given, source = given_subscriptions(cli, env)
    if not given:
        found = await arm.list_subscriptions()
        return Subscriptions(tuple(dict.fromkeys(s.lower() for s in found)), source)
    ok: dict[str, None] = {}
    problems: list[str] = []
    for sub in given:
        problem = subscription_problem(sub)
        if problem is None:
            ok[sub.lower()] = None
        else:
            problems.append(f"{problem} (from {source})")
    return Subscriptions(tuple(ok), source, tuple(problems))


def unreadable(sub: str, source: str, error: object) -> str:
    """The problem of a subscription that does not exist or cannot be read."""
    return (f"cannot read subscription {sub} (from {source}): not found, or this "
            f"credential cannot read it: {error}")


def unswept(o: Outcome) -> str | None:
    """The subscription a sweep's outcome stands for when the sweep could not read the
    subscription at all (the outcome's app is the subscription's id), else None."""
    scope = ArmId.try_parse(o.app)
    if scope is None or scope.subscription is None or scope.parent != ArmId.parse("/"):
        return None
    return scope.subscription


class Progress:
    """Progress lines on stderr for long work (never on stdout, which scripts read)."""

    def __init__(self, command: str, stream: TextIO | None = None, every: int = 100) -> None:
        self.command = command
        self.stream = stream
        self.every = every
        self._done = 0
        self._total = 0

    def say(self, text: str) -> None:
        stream = self.stream or sys.stderr
        stream.write(f"{self.command}: {text}\n")
        stream.flush()

    def expect(self, n: int) -> None:
        self._total += n

    def tick(self) -> None:
        """One workload done: a line every `every` workloads, and at the last one."""
        self._done += 1
        if self._total >= self.every and (self._done % self.every == 0
                                          or self._done == self._total):
            self.say(f"{self._done}/{self._total} workloads")
