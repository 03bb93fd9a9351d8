"""Long-running operations of Microsoft.App writes, as ARM runs them.

A write changes the state when it is handled and starts an operation that stays
``InProgress`` for its duration (``pace.REAL``, scaled) on the pace's clock. When
it ends the write *completes* (``complete()``: provisioningState ``Succeeded``, a
new revision...) and its events go out; an operation armed to fail ends ``Failed``
instead, rolls the resource back (``rollback()``) and emits
``ResourceWriteFailure`` / ``ResourceDeleteFailure``.

Clients follow either URL, both on ``.../providers/Microsoft.App/locations/{region}/``:

* ``{family}OperationStatuses/{id}`` (``Azure-AsyncOperation``, answered for PUT):
  200 ``{id, name, status, startTime}`` with ``status`` ``InProgress`` then
  ``Succeeded`` (no ``endTime``, FACT 18), or ``Failed`` with ``error``;
* ``{family}OperationResults/{id}`` (``Location``, answered for PATCH, DELETE and
  actions): 202 while in progress, then 200 with the resource (or what the action
  returned), 204 when nothing is left, or the failure's status and error.

No ``Retry-After`` unless the ``retry_after_s`` knob asks for one. Operations end
lazily (``settle()`` at every request) and, on the real clock, by a timer too, so
events go out even when nobody polls.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .catalog import location_key
from .context import Ctx, PendingEvent, Reply
from .ids import segments
from .pace import REAL
from .state import ArmError, utc_now

if TYPE_CHECKING:
    from .core import Emulator

__all__ = ["FAMILIES", "Operation", "Operations", "poll_route"]

# family -> (status resource type, result resource type)
FAMILIES = {
    "containerapp": ("containerappOperationStatuses", "containerappOperationResults"),
    "containerappsjob": ("containerappsjobOperationStatuses", "containerappsjobOperationResults"),
    "managedEnvironment": ("managedEnvironmentOperationStatuses",
                           "managedEnvironmentOperationResults"),
}
_KINDS = {t.lower(): (family, t == pair[0]) for family, pair in FAMILIES.items() for t in pair}
_FAILED_EVENT = {
    "Microsoft.Resources.ResourceWriteSuccess": "Microsoft.Resources.ResourceWriteFailure",
    "Microsoft.Resources.ResourceDeleteSuccess": "Microsoft.Resources.ResourceDeleteFailure",
    "Microsoft.Resources.ResourceActionSuccess": "Microsoft.Resources.ResourceActionFailure",
}


def poll_route(low: list[str]) -> tuple[str, bool] | None:
    """(family, is-status-URL) of ``/subscriptions/{s}/providers/Microsoft.App/locations/
    {region}/{kind}/{id}`` (lower-cased segments); None for any other path."""
    if (len(low) == 8 and low[0] == "subscriptions"
            and low[2:5] == ["providers", "microsoft.app", "locations"]):
        return _KINDS.get(low[6])
    return None


@dataclass
class Operation:
    id: str
    ctx: Ctx
    key: str  # the resource it writes (lookup key)
    family: str
    region: str
    began: float  # on the pace's clock
    real_s: float  # how long it takes in Azure
    complete: Callable[[], None]
    rollback: Callable[[], None] | None
    final: Callable[[], dict[str, Any] | None] | None
    events: list[PendingEvent]
    failure: tuple[int, str, str] | None = None  # (status, code, message) to end with
    started: float = field(default_factory=time.time)
    status: str = "InProgress"

    def path(self, results: bool) -> str:
        kind = FAMILIES[self.family][1 if results else 0]
        subscription = segments(self.key)[1]
        return (f"/subscriptions/{subscription}/providers/Microsoft.App/locations/"
                f"{self.region}/{kind}/{self.id}")


class Operations:
    """Every operation of one emulator, by id."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.ops: dict[str, Operation] = {}
        self._busy: dict[str, str] = {}  # resource key -> its running operation's id
        self._timers: list[asyncio.TimerHandle] = []

    def start(self, ctx: Ctx, *, key: str, family: str, location: str, pace: str,
              complete: Callable[[], None], rollback: Callable[[], None] | None,
              final: Callable[[], dict[str, Any] | None] | None, via: str,
              lock: bool = True) -> dict[str, str]:
        """Register the write's operation, as long as ``pace.REAL[pace]`` at the current
        time scale (its pending events move to it); answers the LRO header:
        ``Azure-AsyncOperation`` (``via="azure-async"``) or ``Location``. ``lock``: other
        writes to the resource are refused (409) while it runs."""
        op = Operation(str(uuid.uuid4()), ctx, key, family, location_key(location),
                       self.emu.pace.now(), REAL[pace], complete, rollback, final,
                       list(ctx.events))
        op.failure = self.emu.faults.take_later(ctx.method, ctx.path)
        ctx.events.clear()
        self.ops[op.id] = op
        if lock:
            self._busy[key] = op.id
        self._arm(op)
        version = ctx.api_version
        if via == "azure-async":
            url = f"{self.emu.endpoint}{op.path(False)}?api-version={version}" \
                  "&azureAsyncOperation=true"
            headers = {"Azure-AsyncOperation": url}
        else:
            headers = {"Location": f"{self.emu.endpoint}{op.path(True)}?api-version={version}"}
        if self.emu.retry_after_s is not None:
            headers["Retry-After"] = str(self.emu.retry_after_s)
        return headers

    def accept_write(self, ctx: Ctx, *, key: str, family: str, location: str, pace: str,
                     stored: dict[str, Any], view: Callable[..., dict[str, Any]],
                     complete: Callable[[], None],
                     rollback: Callable[[], None] | None) -> Reply:
        """The answer of an accepted PUT (201, the accepted resource, Azure-AsyncOperation)
        or PATCH (202, no body, Location) whose operation ends as ``pace`` says; polls of
        its Location end with ``view(resource, api_version)``."""
        store = self.emu.store

        def final() -> dict[str, Any] | None:
            current = store.resources.get(key)
            return None if current is None else view(current, ctx.api_version)

        patching = ctx.method == "PATCH"
        headers = self.start(ctx, key=key, family=family, location=location, pace=pace,
                             complete=complete, rollback=rollback, final=final,
                             via="location" if patching else "azure-async")
        if patching:
            return Reply(202, None, headers)
        return Reply(201, view(stored, ctx.api_version, accepted=True), headers)

    def deadline(self, op: Operation) -> float:
        return op.began + self.emu.pace.seconds(op.real_s)

    def _arm(self, op: Operation) -> None:
        """On the real clock, a timer ends the operation even if nobody polls."""
        if self.emu.pace.clock is time.monotonic:
            wait = max(0.0, self.deadline(op) - self.emu.pace.now())
            self._timers.append(asyncio.get_running_loop().call_later(wait, self.settle))

    def rearm(self) -> None:
        """After the time scale changed: running operations end on the new pace."""
        self.cancel_timers()
        for op in self.ops.values():
            if op.status == "InProgress":
                self._arm(op)
        self.settle()

    def busy(self, key: str) -> Operation | None:
        """The operation still running on a resource, if any."""
        self.settle()
        op = self.ops.get(self._busy.get(key, ""))
        return op if op is not None and op.status == "InProgress" else None

    def settle(self) -> None:
        """End every operation whose time has come, oldest deadline first."""
        now = self.emu.pace.now()
        due = sorted((op for op in self.ops.values()
                      if op.status == "InProgress" and self.deadline(op) <= now),
                     key=self.deadline)
        for op in due:
            self._end(op)

    def _end(self, op: Operation) -> None:
        if self._busy.get(op.key) == op.id:
            del self._busy[op.key]
        if op.failure is None:
            op.complete()
            op.status = "Succeeded"
            events = op.events
        else:
            if op.rollback is not None:
                op.rollback()
            op.status = "Failed"
            events = [PendingEvent(_FAILED_EVENT.get(e.event_type, e.event_type),
                                   e.operation_name, e.resource_uri) for e in op.events]
        self.emu.emit(op.ctx, events)

    def cancel_timers(self) -> None:
        """On stop: operations still running stay InProgress."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def poll(self, ctx: Ctx, family: str, status_url: bool, op_id: str) -> Reply:
        self.settle()
        op = self.ops.get(op_id.lower())
        if op is None or op.family != family:
            raise ArmError(404, "OperationNotFound", f"The operation '{op_id}' was not found.")
        retry = {} if self.emu.retry_after_s is None else {
            "Retry-After": str(self.emu.retry_after_s)}
        if status_url:
            body: dict[str, Any] = {"id": op.path(False), "name": op.id, "status": op.status,
                                    "startTime": utc_now(op.started).rstrip("Z")}
            if op.failure is not None:
                body["error"] = {"code": op.failure[1], "message": op.failure[2]}
            return Reply(200, body, retry if op.status == "InProgress" else {})
        if op.status == "InProgress":
            return Reply(202, None, {**retry, "Location": ctx.url})
        if op.failure is not None:
            raise ArmError(*op.failure)
        result = op.final() if op.final else None
        return Reply(200, result) if result is not None else Reply(204)
