"""Fixtures for the webhook host: a scripted Warden and an in-process server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from integration.conftest import running_emulator
from serve_helpers import ScriptedWarden

from handlers.serve import make_app


@pytest.fixture
def warden() -> ScriptedWarden:
    return ScriptedWarden(delay=1.0)


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., Any]]:
    """Factory: an HTTP client for make_app(warden, **kwargs) on 127.0.0.1."""
    clients: list[TestClient[Any, Any]] = []

    async def factory(warden: Any, **kwargs: Any) -> TestClient[Any, Any]:
        client = TestClient(TestServer(make_app(warden, **kwargs), host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture
async def client(make_client: Callable[..., Any], warden: ScriptedWarden) -> TestClient[Any, Any]:
    return await make_client(warden)


@pytest.fixture
async def emu(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> AsyncIterator[Any]:
    """The in-process emulator, its client environment set for Warden.from_env()."""
    async with running_emulator(monkeypatch, time_scale=0, page_size=2, principal_delay_s=0.3,
                                retry_after_s=0) as e:
        monkeypatch.chdir(tmp_path)  # no policy.toml here: every default
        yield e


@pytest.fixture
async def real_warden(emu: Any) -> AsyncIterator[Any]:
    from handlers.warden import Warden

    warden = Warden.from_env()
    yield warden
    await warden.close()
