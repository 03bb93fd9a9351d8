"""Shared fixtures of the emulator suite: a running emulator, SDK clients, raw HTTPS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import pathlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from emulator import Emulator

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def example() -> Any:
    """Load a copied published example from tests/emulator/fixtures."""
    return load_fixture


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """ARM mechanics with persons only: no deployment, so the service's identity holds no
    role and lists show only what a test made (test_emu_rbac.py covers the deployment)."""
    async with Emulator(page_size=2, principal_delay_s=0.5, time_scale=0, deployment=None) as e:
        yield e


class Raw:
    """Raw HTTPS to the emulator as one principal; answers (status, json, headers)."""

    def __init__(self, emu: Emulator, session: aiohttp.ClientSession, token: str | None) -> None:
        self.emu, self.session, self.token = emu, session, token

    async def __call__(self, method: str, path: str, body: Any = None, *,
                       api_version: str | None = "2022-04-01", data: bytes | None = None,
                       headers: dict[str, str] | None = None,
                       params: dict[str, str] | None = None) -> tuple[int, Any, Any]:
        query = dict(params or {})
        if api_version:
            query["api-version"] = api_version
        hdrs = dict(headers or {})
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        url = path if path.startswith("https://") else self.emu.endpoint + path
        kwargs: dict[str, Any] = {"headers": hdrs, "params": query or None}
        if data is not None:
            kwargs["data"] = data
        elif body is not None:
            kwargs["json"] = body
        async with self.session.request(method, url, **kwargs) as resp:
            text = await resp.text()
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = text
            return resp.status, parsed, resp.headers


@pytest.fixture
async def session(emu: Emulator) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(ssl=emu.client_ssl_context())
    async with aiohttp.ClientSession(connector=connector) as s:
        yield s


@pytest.fixture
def raw(emu: Emulator, session: aiohttp.ClientSession) -> Raw:
    """As the person 'alice'."""
    return Raw(emu, session, emu.person_token("alice"))


@pytest.fixture
def make_raw(emu: Emulator, session: aiohttp.ClientSession) -> Any:
    return lambda token: Raw(emu, session, token)


@pytest.fixture
def anon(emu: Emulator, session: aiohttp.ClientSession) -> Raw:
    return Raw(emu, session, None)


@pytest.fixture
async def raw_on() -> AsyncIterator[Callable[..., Raw]]:
    """``raw_on(other_emulator[, token])``: raw HTTPS to an emulator the test made itself
    (as 'alice' unless a token is given)."""
    sessions: list[aiohttp.ClientSession] = []

    def make(emu: Emulator, token: str | None = None) -> Raw:
        s = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=emu.client_ssl_context()))
        sessions.append(s)
        return Raw(emu, s, token or emu.person_token("alice"))

    yield make
    for s in sessions:
        await s.close()


@contextlib.asynccontextmanager
async def _alice_client(emu: Emulator, client_type: Any, **kwargs: Any) -> AsyncIterator[Any]:
    """An aio management client of `client_type`, signed in as the person 'alice'."""
    async with emu.person_credential("alice") as cred, client_type(
        cred, emu.subscription_id, **kwargs, **emu.client_kwargs()
    ) as client:
        yield client


@pytest.fixture
async def apps_client(emu: Emulator) -> AsyncIterator[Any]:
    from azure.mgmt.appcontainers.aio import ContainerAppsAPIClient

    async with _alice_client(emu, ContainerAppsAPIClient) as client:
        yield client


@pytest.fixture
async def msi_client(emu: Emulator) -> AsyncIterator[Any]:
    from azure.mgmt.msi.aio import ManagedServiceIdentityClient

    async with _alice_client(emu, ManagedServiceIdentityClient) as client:
        yield client


@pytest.fixture
async def authz_client(emu: Emulator) -> AsyncIterator[Any]:
    from azure.mgmt.authorization.aio import AuthorizationManagementClient

    async with _alice_client(emu, AuthorizationManagementClient,
                             api_version="2022-04-01") as client:
        yield client


class Hook:
    """A local webhook whose answers the test scripts."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.script: list[int | str] = []  # statuses to answer, or "sleep"
        self.validate_by_url = False  # answer the handshake without validationResponse

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "OPTIONS":
            self.requests.append(("OPTIONS", dict(request.headers)))
            origin = request.headers.get("WebHook-Request-Origin", "")
            return web.Response(headers={"WebHook-Allowed-Origin": origin})
        kind = request.headers.get("aeg-event-type", "")
        if request.content_type == "application/cloudevents-batch+json":
            kind = "Notification"
        body = json.loads(await request.text())
        self.requests.append((kind, body))
        if kind == "SubscriptionValidation":
            if self.validate_by_url:
                return web.json_response({})
            return web.json_response({"validationResponse": body[0]["data"]["validationCode"]})
        action = self.script.pop(0) if self.script else 200
        if action == "sleep":
            await asyncio.sleep(1)
            return web.Response(status=200)
        return web.Response(status=int(action))

    def notifications(self) -> list[list[dict[str, Any]]]:
        return [b for k, b in self.requests if k == "Notification"]


async def start_hook(port: int = 0) -> tuple[Hook, str, web.AppRunner]:
    """A scripted webhook listening on ``port`` (0: any free one)."""
    h = Hook()
    app = web.Application()
    app.router.add_route("*", "/api/events", h.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return h, f"http://127.0.0.1:{port}/api/events", runner


@pytest.fixture
async def hook() -> AsyncIterator[tuple[Hook, str]]:
    h, url, runner = await start_hook()
    yield h, url
    await runner.cleanup()


@pytest.fixture
async def start_webhook() -> AsyncIterator[Callable[[int], Awaitable[tuple[Hook, str]]]]:
    """Start a scripted webhook later in the test: ``await start_webhook(port)``."""
    runners: list[web.AppRunner] = []

    async def start(port: int) -> tuple[Hook, str]:
        h, url, runner = await start_hook(port)
        runners.append(runner)
        return h, url

    yield start
    for r in runners:
        await r.cleanup()




def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The replay report of the recorded Azure traffic (test_emu_recordings.py)."""
    from replay import REPORTS

    if not REPORTS:
        return
    terminalreporter.section("replay of recorded Azure traffic")
    for name in sorted(REPORTS):
        report = REPORTS[name]
        terminalreporter.write_line(report.line())
        for skip in report.skipped:
            terminalreporter.write_line(f"    skipped {skip}")
