"""Azure Functions entry points (Python v2 programming model): triggers -> handlers.

Wiring only; the service lives in ``handlers``.

``on_event``
    Event Grid trigger. The deployment subscribes with the Event Grid schema
    (azure-functions 1.x does not surface CloudEvents attributes). The event is
    turned back into its Event Grid JSON and runs exactly the code path of
    ``python -m handlers handle``. A transient outcome raises
    :class:`DeliveryRetry`, so the host answers 500 and Event Grid delivers the
    event again; every other outcome (applied, unchanged, deleted, ignored,
    refused) returns normally and acknowledges it.
``reconcile_timer``
    Timer trigger on the NCRONTAB schedule in the app setting
    ``WARDEN_RECONCILE_SCHEDULE``: the ``reconcile`` sweep. The host resolves
    ``%WARDEN_RECONCILE_SCHEDULE%`` from the app settings and refuses to load the
    function when it is missing, so the default, every 6 hours
    (``0 0 */6 * * *``), is set by ``infra/`` and in
    ``local.settings.json.example``.

One :class:`handlers.warden.Warden` (credential and ARM clients) serves
every invocation of a worker process. It is created on first use, not at
import (indexing the functions must not touch the network or the policy), and
closed when the worker exits. Handlers are imported lazily for the same reason:
importing this module costs little more than importing ``azure.functions``.
A policy that does not load, or a ``WARDEN_DRY_RUN`` value that is not one of
the accepted ones, makes every invocation fail with that error, logged at
ERROR on each attempt: nothing is written, events are retried and, if it is
not fixed in time, dead-lettered, from where they can be fed back to
``handle``. The sweep fails the same way.
"""

from __future__ import annotations

import atexit
import logging
from typing import TYPE_CHECKING, Any

import azure.functions as func

if TYPE_CHECKING:
    import asyncio

    from handlers.warden import Warden

__all__ = ["DeliveryRetry", "app", "event_to_dict", "on_event", "reconcile_timer"]

log = logging.getLogger("aca_warden.functions")

DEFAULT_RECONCILE_SCHEDULE = "0 0 */6 * * *"

app = func.FunctionApp()


class DeliveryRetry(RuntimeError):
    """Raised so that the host fails the invocation and Event Grid redelivers."""


class _WardenHolder:
    """The worker's one Warden, created lazily and closed at exit.

    The ARM clients belong to the event loop they were created on. The Python
    worker runs every async function on one loop, so in Azure this creates
    exactly one Warden per worker; should the loop ever change (as it does
    between tests), the old Warden is dropped and a new one made.
    """

    def __init__(self) -> None:
        self._warden: Warden | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def get(self) -> Warden:
        import asyncio

        loop = asyncio.get_running_loop()
        if self._warden is not None and self._loop is not loop:
            stale, self._warden = self._warden, None
            log.info("event loop changed; replacing the worker's Warden")
            if self._loop is not None and not self._loop.is_closed():
                _close_on(self._loop, stale)
        if self._warden is None:
            from handlers.errors import PolicyError
            from handlers.warden import Warden

            # No await between the check and the assignment: concurrent
            # invocations on this loop cannot create two Wardens.
            try:
                self._warden = Warden.from_env()
            except PolicyError as e:
                # Never a silent write, never a silent stop: the invocation fails (Event
                # Grid retries, then dead-letters) and every attempt says why.
                log.error("aca-warden cannot start, nothing is written until this is "
                          "fixed; the event will be retried, then dead-lettered: %s", e)
                raise
            self._loop = loop
        return self._warden

    async def aclose(self) -> None:
        """Close the Warden from the loop it lives on (tests, orderly shutdown)."""
        warden, self._warden, self._loop = self._warden, None, None
        if warden is not None:
            await warden.close()

    def close_at_exit(self) -> None:
        """atexit hook: close the Warden's clients if the worker left them open."""
        warden, loop = self._warden, self._loop
        self._warden, self._loop = None, None
        if warden is None or loop is None or loop.is_closed() or loop.is_running():
            return
        _close_on(loop, warden)


def _close_on(loop: asyncio.AbstractEventLoop, warden: Warden) -> None:
    """Best-effort close of ``warden`` on ``loop``; never raises at shutdown."""
    try:
        if loop.is_running():
            loop.create_task(warden.close())
        else:
            loop.run_until_complete(warden.close())
    except Exception:
        log.debug("closing the Warden failed", exc_info=True)


_holder = _WardenHolder()
atexit.register(_holder.close_at_exit)


def event_to_dict(event: func.EventGridEvent) -> dict[str, Any]:
    """The Event Grid-schema JSON of an event as the trigger hands it over."""
    event_time = event.event_time
    return {
        "id": event.id,
        "topic": event.topic,
        "subject": event.subject,
        "eventType": event.event_type,
        "eventTime": event_time.isoformat() if event_time is not None else None,
        "data": event.get_json(),
        "dataVersion": event.data_version,
        "metadataVersion": "1",
    }


@app.function_name(name="on_event")
@app.event_grid_trigger(arg_name="event")
async def on_event(event: func.EventGridEvent) -> None:
    """Reconcile or clean up the container app or job an Event Grid event points to."""
    from handlers.warden import exit_code

    warden = await _holder.get()
    # The Warden logs one structured line per outcome (event, app, correlation id).
    outcomes = await warden.handle_payload(event_to_dict(event))
    if exit_code(outcomes):
        errors = "; ".join(o.error or o.result for o in outcomes if o.result == "retry")
        raise DeliveryRetry(f"event {event.id}: transient failure, Event Grid will retry: {errors}")


@app.function_name(name="reconcile_timer")
@app.timer_trigger(
    arg_name="timer",
    schedule="%WARDEN_RECONCILE_SCHEDULE%",
    run_on_startup=False,
    use_monitor=True,
)
async def reconcile_timer(timer: func.TimerRequest) -> None:
    """Sweep every container app and job; a sweep that met transient failures fails the run."""
    from handlers.warden import exit_code

    if timer.past_due:
        log.warning("reconcile sweep is running late")
    warden = await _holder.get()
    outcomes = await warden.reconcile_all()
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.result] = counts.get(outcome.result, 0) + 1
    log.info("reconcile sweep: %d apps, %s", len(outcomes), counts)
    if exit_code(outcomes):
        raise DeliveryRetry(
            f"reconcile sweep: {counts.get('retry', 0)} apps hit transient failures; "
            "the next run tries again"
        )
