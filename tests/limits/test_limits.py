"""Limits: Event Grid's largest delivery (5,000 events, 1 MB) and 50 grant tags on one app.

The batch is what a busy subscription sends: mostly events that are not for
aca-warden (other resource types) and repeats, with real container apps among
them. It must be handled with bounded concurrency (never more apps in flight
than the Warden's bound) and bounded memory, and converge every app.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from integration.conftest import World, running_emulator

from emulator import Emulator
from handlers.azure import Arm
from handlers.model import description_for
from handlers.policy import Policy
from handlers.serve import MAX_BODY_BYTES
from handlers.warden import Warden

APPS = 25
BATCH = 5000


@pytest.fixture
async def emu(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    async with running_emulator(monkeypatch, unset=(), time_scale=0, page_size=100,
                                principal_delay_s=0.0, retry_after_s=0) as e:
        yield e


@pytest.fixture
async def world(emu: Emulator) -> AsyncIterator[World]:
    async with World(emu) as w:
        yield w


def noise(world: World, i: int) -> dict[str, Any]:
    """Events of the same system topic that are not for aca-warden (no ARM request)."""
    if i % 2:
        return {"id": f"n{i:05d}", "eventType": "Microsoft.Resources.ResourceActionSuccess",
                "data": {}}
    return {"id": f"n{i:05d}", "eventType": "Microsoft.Resources.ResourceWriteSuccess",
            "data": {"operationName": "Microsoft.Storage/storageAccounts/write",
                     "resourceUri": f"{world.rg}/providers/Microsoft.Storage/"
                                    f"storageAccounts/n{i:05d}"}}


def big_batch(world: World, apps: list[str]) -> list[dict[str, Any]]:
    """5,000 events, padded (an unknown field, as dead-lettered events carry) to just under
    1 MB; each real app's event three times over the batch."""
    real = [world.event(world.app_id(a)) for a in apps]
    batch: list[dict[str, Any]] = []
    i = 0
    while len(batch) < BATCH:
        batch.append(real[(i // 40) % len(real)] if i % 40 == 0 else noise(world, i))
        i += 1
    size = len(json.dumps(batch, separators=(",", ":")))
    noisy = [e for e in batch if e["id"].startswith("n")]
    pad = (MAX_BODY_BYTES - 4096 - size) // len(noisy) - len(',"pad":""')
    assert pad >= 0, size
    for e in noisy:
        e["pad"] = "x" * pad
    return batch


class RssSampler:
    """Samples the process's resident memory every few milliseconds (cheap, unlike
    tracemalloc); ``growth`` is the peak above the level at start."""

    def __init__(self) -> None:
        self.start = self.peak = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())

    @property
    def growth(self) -> int:
        return self.peak - self.start


def count_in_flight(warden: Warden) -> dict[str, int]:
    """Wrap the work the Warden does per app (under its bound) to count it in flight."""
    seen = {"now": 0, "peak": 0, "total": 0}
    original = warden.core.converge

    async def converge(*args: Any, **kwargs: Any) -> Any:
        seen["now"] += 1
        seen["total"] += 1
        seen["peak"] = max(seen["peak"], seen["now"])
        try:
            await asyncio.sleep(0.002)  # hold the slot a moment: overlap shows
            return await original(*args, **kwargs)
        finally:
            seen["now"] -= 1

    warden.core.converge = converge  # type: ignore[method-assign]
    return seen


@pytest.mark.parametrize("bound", [8, None], ids=["bound-8", "default-bound"])
async def test_5000_event_1mb_batch_is_handled_with_bounded_concurrency_and_memory(
        world, emu, bound) -> None:
    apps = [f"app{i:02d}" for i in range(APPS)]
    for a in apps:
        emu.seed_container_app(world.app_id(a), tags={"grant:rg": "Reader@."})
    batch = big_batch(world, apps)
    body = json.dumps(batch, separators=(",", ":")).encode()
    assert len(batch) == BATCH and 1_000_000 < len(body) <= MAX_BODY_BYTES, len(body)
    arm = Arm.from_env(emu.env)
    warden = Warden(Policy(), arm) if bound is None else Warden(Policy(), arm,
                                                                 concurrency=bound)
    limit = warden._concurrency
    seen = count_in_flight(warden)
    payload = json.loads(body)
    del batch
    start = time.monotonic()
    try:
        with RssSampler() as memory:
            outcomes = await warden.handle_payload(payload)
    finally:
        await warden.close()
    elapsed = time.monotonic() - start
    assert len(outcomes) == BATCH
    assert [o.event_id for o in outcomes] == [e["id"] for e in payload]
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.result] = counts.get(o.result, 0) + 1
    assert counts.get("retry", 0) == 0, counts
    real = sum(1 for e in payload if not e["id"].startswith("n"))
    # one convergence per app in the delivery; every event of an app shares its result
    assert counts == {"applied": real, "ignored": BATCH - real}
    assert seen["total"] == APPS
    assert 1 < seen["peak"] <= limit, seen
    assert memory.growth < 64 * 1024 * 1024, f"grew {memory.growth / 1e6:.1f} MB"
    assert elapsed < 60
    for a in apps:
        ours = [x for x in emu.role_assignments()
                if x["properties"]["description"] == description_for(world.app_id(a))]
        assert len(ours) == 1, a
    # No ARM request for any of the 4,880 ignored events.
    assert emu.count(path_contains="storageAccounts/n") == 0


async def test_50_grant_tags_on_one_app(world, emu) -> None:
    tags = {}
    for i in range(50):  # Azure allows 50 tags on a resource: all of them grant tags
        emu.seed_resource(f"{world.rg}/providers/Microsoft.Storage/storageAccounts/st{i:02d}")
        tags[f"grant:s{i:02d}"] = f"Reader@Microsoft.Storage/storageAccounts/st{i:02d}"
    events = await world.create_app("big", tags)
    emu.clear_log()
    warden = Warden(Policy(), Arm.from_env(emu.env))
    try:
        [out] = await warden.handle_payload(events)
        assert out.result == "applied" and not out.refused, out
        assert len(out.changes) == 51  # the system identity, then 50 grants
        assert emu.count(kind="write", method="PUT") == 50
        assert emu.count(kind="write") == 51
        [again] = await warden.handle_payload(events)
        assert again.result == "unchanged"
        tags.pop("grant:s07")
        events = await world.set_tags("big", tags)
        [out] = await warden.handle_payload(events)
        assert list(out.changes) == [f"revoke Reader on {world.rg}/providers/Microsoft.Storage/"
                               "storageAccounts/st07"]
    finally:
        await warden.close()
    ours = [x for x in emu.role_assignments()
            if x["properties"]["description"] == description_for(world.app_id("big"))]
    assert len(ours) == 49


async def test_the_largest_delivery_through_the_webhook_is_answered_in_time(world, emu) -> None:
    """The same 5,000-event, ~1 MB batch POSTed to the webhook: accepted (not 413) and
    answered 200 well within Event Grid's 30 s, one outcome per event."""
    from aiohttp.test_utils import TestClient, TestServer

    from handlers.serve import make_app

    apps = [f"web{i:02d}" for i in range(APPS)]
    for a in apps:
        emu.seed_container_app(world.app_id(a), tags={"grant:rg": "Reader@."})
    body = json.dumps(big_batch(world, apps), separators=(",", ":")).encode()
    assert len(body) <= MAX_BODY_BYTES
    warden = Warden(Policy(), Arm.from_env(emu.env))
    client = TestClient(TestServer(make_app(warden), host="127.0.0.1"))
    await client.start_server()
    try:
        start = time.monotonic()
        resp = await client.post("/api/events", data=io.BytesIO(body),
                                 headers={"Content-Type": "application/json",
                                          "aeg-event-type": "Notification"})
        answer = await resp.json()
        elapsed = time.monotonic() - start
        padded = body + b" " * (MAX_BODY_BYTES - len(body) + 1)
        too_big = await client.post("/api/events", data=io.BytesIO(padded),
                                    headers={"Content-Type": "application/json"})
    finally:
        await client.close()
        await warden.close()
    assert resp.status == 200, answer
    assert len(answer) == BATCH and elapsed < 25
    assert too_big.status == 413
