"""handlers.flight: the one shared look-up helper and the one gather-with-failures helper."""

from __future__ import annotations

import asyncio

import pytest

from handlers.errors import Permanent, Transient
from handlers.flight import Shared, gather_all, gather_settled


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Source:
    """A look-up that counts its calls and answers when told."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: BaseException | None = None

    async def __call__(self) -> int:
        self.calls += 1
        number = self.calls
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return number


async def test_concurrent_look_ups_of_one_key_share_one_call() -> None:
    shared: Shared[str, int] = Shared()
    source = Source()
    source.gate.clear()
    waiting = [asyncio.ensure_future(shared.get("k", source)) for _ in range(50)]
    await asyncio.sleep(0)
    source.gate.set()
    assert await asyncio.gather(*waiting) == [1] * 50
    assert source.calls == 1


async def test_different_keys_do_not_share() -> None:
    shared: Shared[str, int] = Shared(60)
    a, b = Source(), Source()
    assert (await shared.get("a", a), await shared.get("b", b)) == (1, 1)
    assert (a.calls, b.calls) == (1, 1)


async def test_without_ttl_a_finished_answer_is_not_kept() -> None:
    shared: Shared[str, int] = Shared()
    source = Source()
    assert await shared.get("k", source) == 1
    assert await shared.get("k", source) == 2
    assert len(shared) == 0


async def test_a_kept_answer_expires_after_its_ttl() -> None:
    clock = Clock()
    shared: Shared[str, int] = Shared(10, clock=clock)
    source = Source()
    assert await shared.get("k", source) == 1
    clock.now += 9.9
    assert await shared.get("k", source) == 1
    clock.now += 0.2
    assert await shared.get("k", source) == 2


async def test_ttl_is_chosen_per_answer_and_none_is_never_kept() -> None:
    clock = Clock()
    shared: Shared[str, int | None] = Shared(lambda v: 5 if v is not None else None,
                                             clock=clock)
    answers = iter([None, 7, 8])

    async def fetch() -> int | None:
        return next(answers)

    assert await shared.get("k", fetch) is None
    assert await shared.get("k", fetch) == 7  # "unknown" was not remembered
    assert await shared.get("k", fetch) == 7
    clock.now += 6
    assert await shared.get("k", fetch) == 8


async def test_a_failed_look_up_is_not_kept_and_every_waiter_sees_the_failure() -> None:
    shared: Shared[str, int] = Shared(60)
    source = Source()
    source.fail = Transient("boom")
    source.gate.clear()
    waiting = [asyncio.ensure_future(shared.get("k", source)) for _ in range(3)]
    await asyncio.sleep(0)
    source.gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, Transient) for r in results)
    source.fail = None
    assert await shared.get("k", source) == 2 and len(shared) == 1


async def test_not_before_refuses_answers_and_flights_that_started_earlier() -> None:
    clock = Clock()
    shared: Shared[str, int] = Shared(60, clock=clock)
    source = Source()
    assert await shared.get("k", source, not_before=clock.now) == 1
    assert await shared.get("k", source, not_before=clock.now) == 1  # started at that moment
    clock.now += 1
    assert await shared.get("k", source, not_before=clock.now) == 2
    assert await shared.get("k", source, not_before=clock.now - 5) == 2


async def test_not_before_starts_a_new_flight_while_an_older_one_runs() -> None:
    clock = Clock()
    shared: Shared[str, int] = Shared(clock=clock)
    source = Source()
    source.gate.clear()
    old = asyncio.ensure_future(shared.get("k", source))
    await asyncio.sleep(0)
    clock.now += 1
    new = asyncio.ensure_future(shared.get("k", source, not_before=clock.now))
    same = asyncio.ensure_future(shared.get("k", source, not_before=clock.now))
    await asyncio.sleep(0)
    source.gate.set()
    assert (await old, await new, await same) == (1, 2, 2)
    assert source.calls == 2


async def test_a_cancelled_waiter_does_not_cancel_the_shared_look_up() -> None:
    shared: Shared[str, int] = Shared(60)
    source = Source()
    source.gate.clear()
    first = asyncio.ensure_future(shared.get("k", source))
    second = asyncio.ensure_future(shared.get("k", source))
    await asyncio.sleep(0)
    first.cancel()
    source.gate.set()
    assert await second == 1
    assert shared.peek("k") == 1


async def test_put_and_peek() -> None:
    clock = Clock()
    shared: Shared[str, bool] = Shared(60, clock=clock)
    assert shared.peek("k") is None
    shared.put("k", True, 5)
    assert shared.peek("k") is True

    async def never() -> bool:
        raise AssertionError("a put answer is used")

    assert await shared.get("k", never) is True
    clock.now += 6
    assert shared.peek("k") is None


async def test_gather_settled_keeps_the_expected_failures_in_place() -> None:
    async def ok(v: int) -> int:
        return v

    async def refused() -> int:
        raise Permanent("no")

    out = await gather_settled([ok(1), refused(), ok(3)], Permanent)
    assert out[0] == 1 and isinstance(out[1], Permanent) and out[2] == 3


async def test_gather_settled_raises_other_failures_after_everything_finished() -> None:
    finished: list[str] = []

    async def slow() -> str:
        await asyncio.sleep(0.01)
        finished.append("slow")
        return "slow"

    async def broken() -> str:
        raise Transient("retry me")

    with pytest.raises(Transient):
        await gather_settled([broken(), slow()], Permanent)
    assert finished == ["slow"]  # not abandoned half-way


async def test_gather_all_returns_results_in_order_or_raises_the_first_failure() -> None:
    async def value(v: int) -> int:
        await asyncio.sleep(0.001 * (3 - v))
        return v

    assert await gather_all(value(i) for i in range(3)) == [0, 1, 2]

    async def bad(e: Exception) -> int:
        raise e

    with pytest.raises(Permanent):
        await gather_all([value(1), bad(Permanent("first")), bad(Transient("second"))])
