"""Events of one app handled at the same time: in one process, and by two `serve` processes.

Whatever the interleaving, once every delivery is answered the app has exactly
the grants its tags ask for, each once; a deleted app's grants are gone; no
hand-made assignment is touched; nothing is deleted that a tag still asks for.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from integration.conftest import World, running_emulator, service_warden

from emulator import Emulator, EmulatorThread
from handlers.model import description_for
from handlers.warden import Warden

ROOT = Path(__file__).resolve().parents[2]
TAGS = {"grant:rg": "Reader@.",
        "grant:st": "Storage Blob Data Reader@Microsoft.Storage/storageAccounts/st1"}
RETAG = {"grant:rg": "Reader@.", "grant:st2": "Reader@Microsoft.Storage/storageAccounts/st1"}


def grants_of(world: World, app: str) -> list[tuple[str, str]]:
    """(role guid, scope) of every assignment aca-warden holds for the app, duplicates kept."""
    desc = description_for(world.app_id(app))
    return sorted((a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1],
                   a["properties"]["scope"].lower())
                  for a in world.emu.role_assignments()
                  if a["properties"].get("description") == desc)


def wanted(world: World, tags: dict[str, str]) -> list[tuple[str, str]]:
    out = set()
    for value in tags.values():
        role, _, scope = value.partition("@")
        scope = world.rg if scope == "." else f"{world.rg}/providers/{scope}"
        out.add((world.role_guid(role), scope.lower()))
    return sorted(out)


def no_duplicates(world: World) -> None:
    keys = [(a["properties"]["principalId"], a["properties"]["roleDefinitionId"].rsplit(
        "/", 1)[-1].lower(), a["properties"]["scope"].lower())
        for a in world.emu.role_assignments()]
    assert len(keys) == len(set(keys)), "duplicate role assignment"


# --- one process -------------------------------------------------------------------------------


@pytest.fixture
async def emu(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    async with running_emulator(monkeypatch, unset=(), time_scale=0, page_size=2,
                                principal_delay_s=0.3, retry_after_s=0, latency_ms=5) as e:
        yield e


@pytest.fixture
async def world(emu: Emulator) -> AsyncIterator[World]:
    async with World(emu) as w:
        yield w


def make(emu: Emulator) -> Warden:
    return service_warden(emu, retry_backoff_s=0.01)


async def test_same_app_events_handled_concurrently_in_one_warden(world, emu) -> None:
    events = await world.create_app("app1", TAGS)
    principal_free_events = events * 3  # one batch with the same event three times
    warden = make(emu)
    try:
        batches = [warden.handle_payload(events) for _ in range(6)]
        batches.append(warden.handle_payload(principal_free_events))
        results = await asyncio.gather(*batches)
    finally:
        await warden.close()
    outcomes = [o for batch in results for o in batch]
    assert {o.result for o in outcomes} <= {"applied", "unchanged"}, outcomes
    assert sum(o.result == "applied" for o in outcomes) == 1  # the per-app lock serialises
    assert grants_of(world, "app1") == wanted(world, TAGS)
    assert emu.count(method="PATCH") == 1
    assert emu.count(method="DELETE") == 0
    no_duplicates(world)


async def test_retag_and_delete_racing_in_two_wardens_converge(world, emu) -> None:
    """Two Wardens (no shared lock: like two processes) get every event of a busy app."""
    ev_create = await world.create_app("app1", TAGS, identity={"type": "SystemAssigned"})
    principal = world.principal("app1")
    foreign = await world.hand_assign(world.storage, "Storage Blob Data Reader", principal)
    ev_retag = await world.set_tags("app1", RETAG)
    ev_other = await world.create_app("app2", TAGS)
    ev_gone = await world.create_app("app3", TAGS)
    first = make(emu)
    await first.handle_payload(ev_gone)  # app3 has grants...
    await first.close()
    ev_gone += await world.delete_app("app3")  # ...then is deleted
    a, b = make(emu), make(emu)
    try:
        everything = ev_create + ev_retag + ev_other + ev_gone
        await asyncio.gather(
            a.handle_payload(everything), b.handle_payload(list(reversed(everything))),
            *(w.handle_payload([e]) for e in everything for w in (a, b)))
        # Event Grid delivers the newest event of each app last: one more round settles it.
        outs = await asyncio.gather(a.handle_payload(ev_retag[-1:]),
                                    b.handle_payload(ev_other[-1:] + ev_gone[-1:]))
    finally:
        await a.close()
        await b.close()
    assert all(o.result != "retry" for batch in outs for o in batch), outs
    assert grants_of(world, "app1") == wanted(world, RETAG)
    assert grants_of(world, "app2") == wanted(world, TAGS)
    assert grants_of(world, "app3") == []
    assert any(x["name"] == foreign for x in world.emu.role_assignments())
    no_duplicates(world)


# --- two `serve` processes ---------------------------------------------------------------------


@pytest.fixture
def emu_thread() -> Iterator[Any]:
    with EmulatorThread(time_scale=0, page_size=2, principal_delay_s=0.3, latency_ms=5) as e:
        yield e


def start_serve(emu: Any, tmp: Path) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WARDEN_", "AZURE_", "IDENTITY_", "MSI_"))}
    env.update(emu.env, PYTHONPATH=str(ROOT))
    with socket.socket() as s:  # serve takes ports 1-65535 only
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-m", "handlers", "serve", "--port", port],
                            cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            # keep draining stderr so the server never blocks on a full pipe
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, m.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"serve did not start: {proc.communicate()}")


def post(url: str, body: Any) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_two_serve_processes_given_the_same_events_converge(emu_thread, tmp_path) -> None:
    emu = emu_thread
    world = World(emu)
    names = [f"app{i}" for i in range(4)]
    for name in names:
        emu.seed_container_app(world.app_id(name), tags=TAGS)
    gone = world.app_id("gone")
    emu.seed_container_app(gone, tags=TAGS, identity="SystemAssigned")
    principal = world.principal("gone")
    hand = emu.seed_role_assignment(world.storage, world.role_guid("Reader"), principal)
    procs = [start_serve(emu, tmp_path) for _ in range(2)]
    try:
        urls = [u for _, u in procs]
        events = [world.event(world.app_id(n)) for n in names] + [world.event(gone)]
        with ThreadPoolExecutor(8) as pool:
            first = list(pool.map(lambda args: post(*args),
                                  [(u, [e]) for e in events for u in urls]
                                  + [(u, events) for u in urls]))
        assert all(status in (200, 503) for status, _ in first), first
        doomed = {a["name"] for a in emu.role_assignments()
                  if a["properties"].get("description") == description_for(gone)}
        assert len(doomed) == 2
        # The app "gone" is deleted; the deletion reaches both servers at once.
        emu.store.resources.pop(next(k for k in emu.store.resources if k.endswith("/gone")))
        delete = world.event(gone, op="Microsoft.App/containerApps/delete",
                             event_type="Microsoft.Resources.ResourceDeleteSuccess")
        with ThreadPoolExecutor(4) as pool:
            second = list(pool.map(lambda args: post(*args),
                                   [(u, [delete]) for u in urls] + [(u, events) for u in urls]))
        # Event Grid retries a 503; one more delivery of everything must be all 200.
        for u in urls:
            status, body = post(u, [*events, delete])
            assert status == 200, body
        assert all(status in (200, 503) for status, _ in second), second
    finally:
        for proc, _ in procs:
            proc.terminate()
        for proc, _ in procs:
            proc.communicate(timeout=30)
    for name in names:
        assert grants_of(world, name) == wanted(world, TAGS), name
    assert grants_of(world, "gone") == []
    assert any(a["name"] == hand["name"] for a in emu.role_assignments())
    deleted = {r.path.rsplit("/", 1)[-1] for r in emu.request_log
               if r.method == "DELETE" and r.status < 300}
    assert deleted <= doomed, "a delete of something still wanted"
    no_duplicates(world)
