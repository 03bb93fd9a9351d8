"""The demo's world: the emulator, the webhook in front of the Warden, and delivery between them.

`open_world` starts the emulator (local ARM over HTTPS), points the Warden's
environment at it, serves the webhook (the same aiohttp app as `serve`) and
subscribes it to the emulator's events the way Event Grid would, validation
handshake first. Shutdown runs in reverse: delivery, webhook (lets running
deliveries finish), the Warden's clients, then the emulator they talk to.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo.report import Narrator

# Variables that would point DefaultAzureCredential (or the Warden) somewhere
# other than the emulator; they are hidden while the demo runs.
FOREIGN_ENV = (
    "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_TENANT_ID", "AZURE_USERNAME",
    "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
    "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT",
    "WARDEN_ARM_SCOPE", "WARDEN_DRY_RUN", "WARDEN_SUBSCRIPTIONS", "WARDEN_WEBHOOK_KEY",
)

QUIET_S = 0.3  # no new event and no new outcome for this long = delivery has settled
PRINCIPAL_DELAY_S = 0.5  # directory replication delay of new principals, shortened
# Azure's pace, a hundred times faster: an identity change takes 0.1 s instead of 10 s.
TIME_SCALE = 0.01
HANDSHAKE_TIMEOUT_S = 10.0
WEBHOOK_TIMEOUT_S = 8.0  # the webhook answers within this; Event Grid's own limit is 30 s


class _Timeout(Exception):
    """A wait of the demo ran out of time."""


class OutcomeRecorder:
    """Stands in for the Warden in front of the webhook and keeps every outcome.

    The webhook only answers Event Grid with a status code; the recorder is how
    the narrative gets at the outcomes (changes, refusals and their reasons).
    """

    def __init__(self, warden: Any) -> None:
        self._warden = warden
        self.outcomes: list[Any] = []

    async def handle_payload(self, payload: object) -> list[Any]:
        outcomes = await self._warden.handle_payload(payload)
        self.outcomes.extend(outcomes)
        return outcomes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._warden, name)

    def final_event_ids(self) -> set[str]:
        return {str(o.event_id) for o in self.outcomes if o.result != "retry" and o.event_id}


@dataclass
class World:
    """The running emulator, its Event Grid subscription to the webhook, and the outcomes."""

    emu: Any
    delivery: Any
    recorder: OutcomeRecorder

    async def settle(self, timeout_s: float) -> float:
        """Wait until every event produced so far has a final outcome and all is quiet."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + timeout_s
        seen: tuple[int, int, int] | None = None
        quiet_since = start
        while True:
            now = loop.time()
            produced = [str(e.get("id")) for e in self.emu.events]
            dead = {str(e.get("id")) for e, _ in self.delivery.dead_letters}
            pending = set(produced) - self.recorder.final_event_ids() - dead
            state = (len(produced), len(self.recorder.outcomes), len(dead))
            if state != seen:
                seen, quiet_since = state, now
            elif not pending and now - quiet_since >= QUIET_S:
                return now - start
            if now >= deadline:
                raise _Timeout(f"{len(pending)} of {len(produced)} events still without a "
                               f"final outcome after {timeout_s:.0f} s")
            await asyncio.sleep(0.05)

    async def handshake(self, within_s: float) -> None:
        """Wait for the webhook to answer Event Grid's subscription validation."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while not self.delivery.validated:
            if loop.time() >= deadline:
                raise _Timeout(f"the webhook did not answer the Event Grid validation handshake "
                               f"within {within_s:g} s")
            await asyncio.sleep(0.02)


@contextlib.contextmanager
def scoped_environ(values: Mapping[str, str], hide: tuple[str, ...]) -> Iterator[None]:
    """Set `values` and hide `hide` in os.environ, and put everything back afterwards."""
    saved = {k: os.environ.get(k) for k in (*values, *hide)}
    try:
        for k in hide:
            os.environ.pop(k, None)
        os.environ.update(values)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


async def start_webhook(recorder: OutcomeRecorder) -> tuple[Any, str]:
    """Serve the webhook on a free local port; returns its runner and its URL."""
    from aiohttp import web

    from handlers.serve import make_app

    app = make_app(recorder, timeout=WEBHOOK_TIMEOUT_S, key=None)  # type: ignore[arg-type]
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=WEBHOOK_TIMEOUT_S)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}/api/events"


@contextlib.asynccontextmanager
async def open_world(say: Narrator, policy_toml: str,
                     step_timeout: float) -> AsyncIterator[World]:
    """Start everything, tell what was started, and shut it all down afterwards."""
    from emulator import Deployment, Emulator
    from handlers.warden import Warden

    with tempfile.TemporaryDirectory(prefix="aca-warden-demo-") as tmp, \
            contextlib.ExitStack() as env_scope:
        policy_path = Path(tmp, "policy.toml")
        await asyncio.to_thread(policy_path.write_text, policy_toml, encoding="utf-8")
        async with contextlib.AsyncExitStack() as stack:
            emu = Emulator(principal_delay_s=PRINCIPAL_DELAY_S, retry_after_s=0,
                           time_scale=TIME_SCALE)
            await emu.start()
            stack.push_async_callback(emu.stop)
            say.detail(f"local Azure emulator (ARM over HTTPS) at {emu.endpoint}, time scale "
                       f"{TIME_SCALE:g} (Azure's real pace, {1 / TIME_SCALE:g} times faster)")
            env_scope.enter_context(scoped_environ(
                {**emu.env, "WARDEN_POLICY": str(policy_path)}, FOREIGN_ENV))
            warden = Warden.from_env(dict(os.environ))
            stack.push_async_callback(warden.close)
            # exactly the roles `azd up` would give it for this policy (infra/roles.json)
            emu.deploy(Deployment(grantable_roles=tuple(warden.policy.allowed_roles),
                                  create_missing_identities=warden.policy.create_missing))
            say.detail("aca-warden's identity holds exactly the deployment template's roles "
                       "(infra/roles.json); the people are Owners")
            recorder = OutcomeRecorder(warden)
            runner, url = await start_webhook(recorder)
            stack.push_async_callback(runner.cleanup)
            say.detail(f"aca-warden webhook (as `serve`) at {url}, with the policy")
            for text in policy_toml.splitlines():
                if text.strip() and not text.startswith("#"):
                    say.detail(f"  {text}")
            delivery = emu.deliver_to(url, max_attempts=6, timeout_s=WEBHOOK_TIMEOUT_S + 2)
            stack.push_async_callback(delivery.close)
            world = World(emu, delivery, recorder)
            await world.handshake(max(step_timeout, HANDSHAKE_TIMEOUT_S))
            say.detail("Event Grid subscription to the webhook: validation handshake answered")
            yield world
