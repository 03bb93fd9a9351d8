"""Fixtures for the Azure Functions entry points: the emulator as ARM, a fresh worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from integration.conftest import running_emulator

import function_app


@pytest.fixture
async def worker() -> AsyncIterator[Any]:
    """function_app as a fresh worker sees it: no Warden yet; closed afterwards."""
    await function_app._holder.aclose()
    yield function_app
    await function_app._holder.aclose()


@pytest.fixture
async def emu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, worker: Any) -> AsyncIterator[Any]:
    """The in-process emulator, its client environment set as the Functions host would."""
    async with running_emulator(monkeypatch, time_scale=0, page_size=2, principal_delay_s=0.3,
                                retry_after_s=0) as e:
        monkeypatch.setenv("WARDEN_SUBSCRIPTIONS", e.subscription_id)
        monkeypatch.chdir(tmp_path)  # the function app's root: no policy.toml, every default
        yield e
        await function_app._holder.aclose()  # before the emulator goes away
