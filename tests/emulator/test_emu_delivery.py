"""Event Grid delivery: its retry schedule (scaled by the time scale), for as long as Event
Grid keeps trying, then dead-letter files and a report on stderr; never a silent drop."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from emulator.delivery import retry_delay_s

ROOT = Path(__file__).resolve().parents[2]


def _write(emu: Emulator, raw: Any, name: str = "st1") -> Any:
    return raw("PUT", f"{emu.seed_resource_group('rg')}/providers/Microsoft.Storage"
                      f"/storageAccounts/{name}", {"location": "eastus"}, api_version="2023-05-01")


def _letters(folder: Path) -> list[tuple[Path, list[dict[str, Any]]]]:
    return [(p, json.loads(p.read_text())) for p in sorted(folder.rglob("*.json"))]


def test_the_schedule_is_event_grids() -> None:
    real = [retry_delay_s(n, 500) for n in range(1, 12)]
    assert real == [10, 30, 60, 300, 600, 1800, 3600, 10800, 21600, 43200, 43200]
    assert retry_delay_s(1, 408) == 120  # at least two minutes after a request timeout
    assert retry_delay_s(1, 503) == 30  # at least 30 s after a 503
    assert retry_delay_s(5, 503) == 600


async def test_a_failing_webhook_is_retried_for_24_hours_then_dead_lettered(
        emu, raw, hook, tmp_path, caplog) -> None:
    h, url = hook
    h.script = [500] * 40
    delivery = emu.deliver_to(url, dead_letter_dir=str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="emulator"):
        await _write(emu, raw)
        await emu.drain_deliveries()
    # 10 retries fit in 24 h of the schedule (the 11th would come after 34.8 h)
    assert len(h.notifications()) == 11
    assert delivery.delivered == []
    (event,) = emu.events
    [(path, [letter])] = _letters(tmp_path)
    assert path.relative_to(tmp_path).parts[0] == "ACA-WARDEN-EMULATOR"
    assert len(path.relative_to(tmp_path).parts) == 6  # SUBSCRIPTION/Y/M/D/H/uuid.json
    assert {k: letter[k] for k in event} == event  # the event itself, as delivered
    assert letter["deadLetterReason"] == "TimeToLiveExceeded"
    assert letter["deliveryAttempts"] == 11
    assert (letter["lastDeliveryOutcome"], letter["lastHttpStatusCode"]) == (
        "InternalServerError", 500)
    assert {"publishTime", "lastDeliveryAttemptTime"} <= set(letter)
    assert delivery.dead_lettered == [letter]
    assert event["id"] in caplog.text and "dead-lettered" in caplog.text


@pytest.mark.parametrize(("status", "outcome"), [(400, "BadRequest"), (404, "NotFound")])
async def test_other_4xx_is_dead_lettered_at_once(emu, raw, hook, tmp_path, status,
                                                  outcome) -> None:
    h, url = hook
    h.script = [status]
    delivery = emu.deliver_to(url, dead_letter_dir=str(tmp_path))
    await _write(emu, raw)
    await emu.drain_deliveries()
    assert len(h.notifications()) == 1
    [(_, [letter])] = _letters(tmp_path)
    assert (letter["deadLetterReason"], letter["deliveryAttempts"]) == (
        "MaxDeliveryAttemptsExceeded", 1)
    assert (letter["lastDeliveryOutcome"], letter["lastHttpStatusCode"]) == (outcome, status)
    assert len(delivery.dead_letters) == 1


async def test_cloudevents_dead_letters_use_lowercase_attributes(emu, raw, hook,
                                                                 tmp_path) -> None:
    h, url = hook
    h.script = [400]
    emu.deliver_to(url, schema="cloudevents", dead_letter_dir=str(tmp_path))
    await _write(emu, raw)
    await emu.drain_deliveries()
    [(_, [letter])] = _letters(tmp_path)
    assert letter["specversion"] == "1.0"
    assert letter["deadletterreason"] == "MaxDeliveryAttemptsExceeded"


async def test_retries_wait_the_scaled_schedule(raw_on, hook) -> None:
    h, url = hook
    h.script = [500, 500]
    async with Emulator(time_scale=0.002) as emu:  # 10 s -> 20 ms, 30 s -> 60 ms
        delivery = emu.deliver_to(url)
        started = time.monotonic()
        await _write(emu, raw_on(emu))
        await emu.drain_deliveries()
        took = time.monotonic() - started
        assert len(delivery.delivered) == 1 and len(h.notifications()) == 3
        assert took >= 0.08  # 20 ms + 60 ms of waits, at least


async def test_an_event_put_while_another_is_retried_is_not_held_up(emu, raw, hook) -> None:
    h, url = hook
    emu.time_scale = 0.01  # the retry waits 0.1 s
    h.script = [500]
    delivery = emu.deliver_to(url, batch_size=1)
    await _write(emu, raw, "st1")
    for _ in range(100):
        if h.notifications():
            break
        await asyncio.sleep(0.005)
    await _write(emu, raw, "st2")
    await emu.drain_deliveries()
    ids = [b[0]["id"] for b in h.notifications()]
    assert ids == [emu.events[0]["id"], emu.events[1]["id"], emu.events[0]["id"]]
    assert len(delivery.delivered) == 2


def test_the_cli_writes_dead_letters_and_says_so_on_stderr(tmp_path: Path) -> None:
    """``python -m emulator --deliver-to URL --dead-letter-dir DIR`` with a webhook that
    answers 400: the event lands in DIR and on stderr."""
    script = f"""
import asyncio, json, ssl, sys
from aiohttp import web, ClientSession, TCPConnector

async def main():
    async def hook(request):
        body = await request.json()
        if request.headers.get("aeg-event-type") == "SubscriptionValidation":
            return web.json_response({{"validationResponse": body[0]["data"]["validationCode"]}})
        return web.Response(status=400)
    app = web.Application(); app.router.add_post("/api/events", hook)
    runner = web.AppRunner(app); await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0); await site.start()
    port = runner.addresses[0][1]
    env_file = {str(tmp_path / 'emu.env')!r}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulator", "--env-file", env_file, "--time-scale", "0",
        "--deliver-to", f"http://127.0.0.1:{{port}}/api/events",
        "--dead-letter-dir", {str(tmp_path / 'dead')!r},
        cwd={str(ROOT)!r}, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    import os
    for _ in range(500):
        if os.path.exists(env_file):
            break
        await asyncio.sleep(0.02)
    env = dict(l.split("=", 1) for l in open(env_file).read().splitlines())
    ctx = ssl.create_default_context(cafile=env["SSL_CERT_FILE"])
    async with ClientSession(connector=TCPConnector(ssl=ctx)) as s:
        async with s.get(env["IDENTITY_ENDPOINT"], params={{"resource": "x",
                "api-version": "2019-08-01", "person": "alice"}},
                headers={{"X-IDENTITY-HEADER": env["IDENTITY_HEADER"]}}) as r:
            token = (await r.json())["access_token"]
        sub = env["AZURE_SUBSCRIPTION_ID"]
        url = env["WARDEN_ARM_ENDPOINT"] + f"/subscriptions/{{sub}}/resourcegroups/rg1"
        async with s.put(url, params={{"api-version": "2024-11-01"}}, json={{"location": "eastus"}},
                         headers={{"Authorization": f"Bearer {{token}}"}}) as r:
            assert r.status == 201, await r.text()
    for _ in range(500):
        if os.path.isdir({str(tmp_path / 'dead')!r}):
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    proc.terminate()
    _, err = await proc.communicate()
    sys.stdout.write(err.decode())
    await runner.cleanup()

asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    [(_, [letter])] = _letters(tmp_path / "dead")
    assert letter["eventType"] == "Microsoft.Resources.ResourceWriteSuccess"
    assert letter["lastHttpStatusCode"] == 400
    assert "dead-lettered" in done.stdout and letter["id"] in done.stdout


async def test_a_subscription_filter_delivers_only_what_it_admits_and_each_post_is_kept(
        emu, raw, hook) -> None:
    h, url = hook
    delivery = emu.deliver_to(url, batch_size=5, admits=lambda e: e["subject"].endswith("st2"))
    await _write(emu, raw, "st1")
    await _write(emu, raw, "st2")
    await emu.drain_deliveries()
    assert [b[0]["subject"].rsplit("/", 1)[-1] for b in h.notifications()] == ["st2"]
    [post] = delivery.history
    assert post.status == 200 and post.events == 1 and 0 <= post.seconds < 5
    assert post.started <= time.time()


async def test_published_events_go_to_every_delivery_as_arm_would_send_them(emu, hook) -> None:
    h, url = hook
    delivery = emu.deliver_to(url)
    event = {"id": "e1", "topic": f"/subscriptions/{emu.subscription_id}", "subject": "/x",
             "eventType": "Microsoft.Resources.ResourceWriteSuccess", "data": {},
             "eventTime": "2026-01-01T00:00:00Z", "dataVersion": "2", "metadataVersion": "1"}
    emu.publish([event])
    await emu.drain_deliveries()
    assert [b[0]["id"] for b in h.notifications()] == ["e1"]
    assert emu.events[-1] is event and delivery.delivered == [event]


async def test_every_batch_is_sent_at_once_however_many_are_pending(emu, hook) -> None:
    # a webhook that takes 1 s to answer each of 120 batches: all are in flight together,
    # none waits for a free connection (its 30 s are the webhook's)
    h, url = hook
    h.script = ["sleep"] * 120
    delivery = emu.deliver_to(url, batch_size=1)
    emu.publish([{"id": f"e{i}", "topic": f"/subscriptions/{emu.subscription_id}",
                  "subject": f"/x{i}", "eventType": "Microsoft.Resources.ResourceWriteSuccess",
                  "data": {}, "eventTime": "2026-01-01T00:00:00Z", "dataVersion": "2",
                  "metadataVersion": "1"} for i in range(120)])
    await emu.drain_deliveries()
    assert len(delivery.delivered) == 120
    assert max(post.seconds for post in delivery.history) < 1.9
