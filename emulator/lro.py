"""Long-running operations of container app writes and actions.

The state changes when the request is handled; the operation *finishes*
(provisioningState Succeeded, the event emitted) ``lro_duration_s`` later, or
at the first poll after that. Azure-AsyncOperation answers the status form
(``{"status": ...}``); Location answers 202 until done, then the resource
(200) or nothing (204), as azure-core's ARM pollers expect.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .apps import app_view
from .context import Ctx, PendingEvent, Reply
from .ids import ResourceRef, norm
from .state import ArmError, utc_now

if TYPE_CHECKING:
    from .core import Emulator

__all__ = ["Operation", "Operations"]


@dataclass
class Operation:
    id: str
    ctx: Ctx
    events: list[PendingEvent]
    complete: Callable[[], None]
    final: Callable[[], dict[str, Any] | None] | None
    started: float = field(default_factory=time.time)
    status: str = "InProgress"
    ended: float | None = None


class Operations:
    """Every operation of one emulator, by id."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.ops: dict[str, Operation] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def start(self, ctx: Ctx, ref: ResourceRef, complete: Callable[[], None],
              final: Callable[[], dict[str, Any] | None] | None) -> dict[str, str]:
        """Register the operation; its pending events move to it. Answers the headers."""
        op = Operation(str(uuid.uuid4()), ctx, list(ctx.events), complete, final)
        ctx.events.clear()
        self.ops[op.id] = op
        self._timers[op.id] = asyncio.get_running_loop().call_later(
            self.emu.lro_duration_s, self._finish, op)
        body = self.emu.store.resources.get(norm(ref.id)) or {}
        loc = str(body.get("location", "eastus")).replace(" ", "").lower()
        base = f"{self.emu.endpoint}/subscriptions/{ref.subscription}/providers/Microsoft.App/" \
               f"locations/{loc}"
        query = f"?api-version={ctx.api_version}"
        return {
            "Azure-AsyncOperation": f"{base}/containerappOperationStatuses/{op.id}{query}",
            "Location": f"{base}/containerappOperationResults/{op.id}{query}",
            "Retry-After": str(self.emu.retry_after_s),
        }

    def cancel_timers(self) -> None:
        """On stop: operations still running stay InProgress."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _finish(self, op: Operation) -> None:
        timer = self._timers.pop(op.id, None)
        if timer is not None:
            timer.cancel()
        if op.status != "InProgress":
            return
        op.complete()
        op.status, op.ended = "Succeeded", time.time()
        self.emu._emit(op.ctx, op.events)

    def poll(self, ctx: Ctx, status_form: bool, op_id: str) -> Reply:
        op = self.ops.get(op_id.lower())
        if op is None:
            raise ArmError(404, "OperationNotFound", f"The operation '{op_id}' was not found.")
        if op.status == "InProgress" and time.time() >= op.started + self.emu.lro_duration_s:
            self._finish(op)
        retry = {"Retry-After": str(self.emu.retry_after_s)}
        if status_form:
            body = {"id": ctx.path, "name": op.id, "status": op.status,
                    "startTime": utc_now(op.started)}
            if op.ended:
                body["endTime"] = utc_now(op.ended)
            return Reply(200, body, retry if op.status == "InProgress" else {})
        if op.status == "InProgress":
            return Reply(202, None, {**retry, "Location": ctx.url})
        result = op.final() if op.final else None
        return Reply(200, app_view(result)) if result else Reply(204)
