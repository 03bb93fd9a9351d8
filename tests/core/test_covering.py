"""Across deliveries: events join a convergence that reads ARM after they arrived
(handlers.covering), and a finished convergence answers nothing more."""

from __future__ import annotations

import asyncio
from typing import Any

from handlers.covering import COVERED, MAX_EVENTS, Ledger
from handlers.ids import ArmId

from .conftest import write
from .fakearm import FakeArm

TWO = {"grant:rg": "Reader@.", "grant:blob": "Storage Blob Data Reader@."}


def reads(arm: FakeArm, app: str) -> int:
    return sum(1 for m, args in arm.calls if m == "get_app" and str(args[0]).lower()
               == app.lower())


async def until(condition: Any) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def redelivered_while_running(arm: FakeArm, warden: Any, event: dict[str, Any]
                                    ) -> tuple[asyncio.Future[Any], asyncio.Future[Any]]:
    """Deliver ``event``, hold its convergence in flight (the answer went out 5xx, say),
    and deliver it again."""
    arm.pause = asyncio.Event()
    first = asyncio.ensure_future(warden.handle_payload([event]))
    await until(lambda: arm.in_flight)
    again = asyncio.ensure_future(warden.handle_payload([dict(event)]))
    await asyncio.sleep(0)
    return first, again


async def test_an_event_joins_a_convergence_of_its_app_that_waits_for_its_turn(
        arm: FakeArm, make: Any) -> None:
    warden = make(concurrency=1)
    busy, app = arm.app("busy", TWO), arm.app("web", TWO)
    arm.pause = asyncio.Event()
    first = asyncio.ensure_future(warden.handle_payload([write(busy)]))
    await until(lambda: arm.in_flight)  # holds the only slot
    waiting = asyncio.ensure_future(warden.handle_payload([write(app)]))
    joining = asyncio.ensure_future(warden.handle_payload([write(app)]))  # another event
    await until(lambda: len(warden.ledger._latest) == 2)
    arm.pause.set()
    await first
    [one], [other] = await asyncio.gather(waiting, joining)
    assert one.result == other.result == "applied" and one.changes == other.changes
    assert arm.count("patch_app") == 2  # busy once, web once
    assert reads(arm, app) == 2  # its read and the read back after the PATCH: once


async def test_a_redelivery_joins_the_convergence_its_first_delivery_started(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    first, again = await redelivered_while_running(arm, warden, write(app))
    arm.pause.set()
    [out], [echo] = await asyncio.gather(first, again)
    assert out.result == "applied" and len(out.changes) == 3
    assert echo.result == "unchanged" and echo.changes == () and COVERED in echo.notes
    assert echo.event_id == out.event_id
    assert arm.count("patch_app") == 1 and reads(arm, app) == 2


async def test_a_new_event_does_not_join_a_convergence_that_may_have_read_before_it(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    arm.pause = asyncio.Event()
    first = asyncio.ensure_future(warden.handle_payload([write(app)]))
    await until(lambda: arm.in_flight)
    later = asyncio.ensure_future(warden.handle_payload([write(app)]))
    await asyncio.sleep(0)
    arm.pause.set()
    [out], [after] = await asyncio.gather(first, later)
    assert out.result == "applied" and after.result == "unchanged"
    assert after.notes == () or COVERED not in after.notes
    assert reads(arm, app) == 3  # read, read back, then read again for the later event


async def test_a_repeated_event_after_its_convergence_finished_reads_arm_again(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    event = write(app)
    await warden.handle_payload([event])
    arm.set_tags(app, {})  # changed meanwhile, with no event of its own reaching us
    [out] = await warden.handle_payload([dict(event)])
    assert out.result == "applied" and arm.ours(app) == []


async def test_when_the_convergence_joined_is_cancelled_the_event_converges_on_its_own(
        arm: FakeArm, warden: Any) -> None:
    app = arm.app("web", TWO)
    first, again = await redelivered_while_running(arm, warden, write(app))
    first.cancel()  # e.g. the host stopped the first delivery
    arm.pause.set()
    [out] = await again
    assert out.result == "applied" and len(arm.ours(app)) == 2


def test_the_ledger_forgets_the_oldest_arrivals_first() -> None:
    ledger = Ledger()
    ledger.arrived(["first"], 1.0)
    ledger.arrived([str(i) for i in range(MAX_EVENTS)], 2.0)
    assert ledger.arrived(["first"], 3.0) == 3.0  # forgotten: a new arrival
    assert ledger.arrived(["7"], 4.0) == 2.0  # remembered: its first arrival


async def test_the_ledger_covers_by_first_arrival() -> None:
    ledger = Ledger()
    app = ArmId.parse("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/"
                      "rg/providers/Microsoft.App/containerApps/web")
    received = ledger.arrived(["e1"], 10.0)
    conv = ledger.start(app, ["e1"])
    assert ledger.covering(app, 11.0) is conv  # waiting: reads after anything
    conv.started = 12.0
    assert ledger.covering(app, ledger.arrived(["e1"], 13.0)) is conv  # a redelivery
    assert ledger.covering(app, ledger.arrived(["e2"], 13.0)) is None  # new: may miss it
    conv.future.set_result(None)  # type: ignore[arg-type]
    assert ledger.covering(app, received) is None  # finished: answers nothing more
