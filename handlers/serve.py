"""A local Event Grid webhook endpoint: ``python -m handlers serve``.

It speaks to Event Grid the way the Azure Functions host does, so the same
event subscription (or any client: curl, ``EventGridPublisherClient``) can
deliver to it:

* ``POST /api/events`` and ``POST /runtime/webhooks/eventgrid`` (the Functions
  host's path; its ``functionName`` query parameter is accepted and ignored).
* The Event Grid ``SubscriptionValidation`` handshake, announced by the
  ``aeg-event-type`` header or recognised in the body, answered with
  ``{"validationResponse": code}``. The header is optional otherwise: a POST
  without it is a notification.
* The CloudEvents 1.0 abuse-protection handshake: ``OPTIONS`` with
  ``WebHook-Request-Origin`` is answered with ``WebHook-Allowed-Origin`` (and
  ``WebHook-Allowed-Rate`` when a rate was asked for).
* One event or a JSON array of them, in the Event Grid or CloudEvents schema
  (``application/json``, ``application/cloudevents+json``,
  ``application/cloudevents-batch+json``).

A delivery is answered after it was processed: ``200`` with the outcomes as a
JSON array when nothing needs a retry, ``503`` exactly when ``handle`` would
exit 75 (a transient failure, or events still unfinished at the deadline), so
that Event Grid delivers the batch again. Event Grid waits 30 s for a webhook;
the answer comes within ``timeout`` (25 s by default).

Bound to a loopback address (127.0.0.0/8, ``::1`` or ``localhost``: see
:func:`is_loopback`) it needs no key. Bound to any other address it refuses to
start without ``WARDEN_WEBHOOK_KEY``. Whenever that is set, on any address,
every request to the event paths must carry the key as ``?code=`` or in the
``aeg-sas-key`` header (``x-functions-key`` too, like the Functions host);
``GET /healthz`` never needs it. Requests refused before any event is read
(400, 401, 413) are logged at info, never with the key. A request aiohttp itself
refuses before any handler runs (malformed HTTP, a header line over its 8190-byte
limit) is one WARNING line naming the client and the reason, with no traceback and
none of the bytes sent (an over-long line may be a key's header).

A batch that holds a ``SubscriptionValidation`` event and other events is
answered ``{"validationResponse": code, "outcomes": [...]}`` once the other
events are processed (503 when they need a retry): nothing is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import math
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from handlers.errors import PolicyError
from handlers.events import is_validation_event
from handlers.warden import exit_code

if TYPE_CHECKING:
    import argparse

    from handlers.warden import Outcome, Warden

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_TIMEOUT", "MAX_BODY_BYTES", "main", "make_app"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_048_576
DEFAULT_TIMEOUT = 25.0
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7071
KEY_ENV = "WARDEN_WEBHOOK_KEY"
EVENT_PATHS = ("/api/events", "/runtime/webhooks/eventgrid")
# How long shutdown waits for deliveries that outlived their answer.
SHUTDOWN_GRACE = 30.0
# What an answer keeps back from its deadline to be written (at most a tenth of it).
ANSWER_MARGIN = 1.0

_WARDEN: web.AppKey[Warden] = web.AppKey("warden")
_BACKGROUND: web.AppKey[set[asyncio.Task[list[Outcome]]]] = web.AppKey("background")


def make_app(
    warden: Warden, *, timeout: float = DEFAULT_TIMEOUT, key: str | None = None
) -> web.Application:
    """Build the webhook application around an existing :class:`Warden`.

    The caller owns ``warden`` and closes it; the application only waits for
    deliveries still running in the background when it is cleaned up.
    """
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive, finite number of seconds, not {timeout}")
    app = web.Application(
        # aiohttp answers 413 itself once a body grows past this many bytes.
        client_max_size=MAX_BODY_BYTES,
        middlewares=[_key_middleware(key)] if key else [],
    )
    app[_WARDEN] = warden
    app[_BACKGROUND] = set()
    handler = _EventHandler(timeout)
    for path in EVENT_PATHS:
        app.router.add_post(path, handler.post)
        app.router.add_route("OPTIONS", path, _options)
    app.router.add_get("/healthz", _healthz)
    app.on_cleanup.append(_drain_background)
    return app


def _key_middleware(key: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Require ``key`` on every event path, compared in constant time."""
    expected = key.encode()

    @web.middleware
    async def check_key(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path in EVENT_PATHS:
            given = (
                request.query.get("code")
                or request.headers.get("aeg-sas-key")
                or request.headers.get("x-functions-key")
                or ""
            )
            # compare_digest on bytes: constant time for equal lengths, no early exit.
            if not hmac.compare_digest(given.encode(), expected):
                return _reject(request, 401, "missing or wrong key (?code= or aeg-sas-key)")
        return await handler(request)

    return check_key


class _EventHandler:
    """POST handler: handshake or notification, answered within the deadline."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    async def post(self, request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        # Stop waiting a little before the deadline, so that writing the answer (outcomes
        # to serialise on a busy loop) still lands within it.
        deadline = loop.time() + self.timeout - min(ANSWER_MARGIN, self.timeout / 10)
        too_large = f"body larger than {MAX_BODY_BYTES} bytes"
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return _reject(request, 413, too_large)
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _reject(request, 413, too_large)
        except web.RequestPayloadError as exc:  # a Content-Encoding the body does not match
            return _reject(request, 400, f"body cannot be read: {str(exc).strip()}")
        try:
            payload = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            return _reject(request, 400, f"body is not JSON: {exc}")

        aeg_type = request.headers.get("aeg-event-type", "")
        code = _validation_code(payload)
        if code is None and aeg_type.lower() == "subscriptionvalidation":
            return _reject(request, 400, "SubscriptionValidation without a validationCode")
        if code is not None:
            log.info("answered Event Grid subscription validation on %s", request.path)
            if not _other_events(payload):
                return _json({"validationResponse": code}, 200)

        warden = request.app[_WARDEN]
        task = asyncio.ensure_future(warden.handle_payload(payload))
        background = request.app[_BACKGROUND]
        background.add(task)
        task.add_done_callback(background.discard)
        task.add_done_callback(_log_failure)
        # The task is shielded from the request: if the client goes away or the
        # deadline passes, the delivery is NOT cancelled. Cancelling mid-way
        # could stop between two ARM writes (identity attached, grants not yet
        # written) or after a PUT was sent but before its answer was read;
        # letting it finish leaves ARM in a state the redelivery reads back as
        # "unchanged", and every step is idempotent, so a redelivery racing
        # the late finish is harmless. Shutdown waits for such tasks (bounded).
        done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - loop.time()))
        if not done:
            log.warning(
                "delivery unfinished after %.1f s: answering 503 so Event Grid retries",
                self.timeout,
            )
            error = {"error": f"events unfinished after {self.timeout:g} s; retry"}
            return _json(error if code is None else {"validationResponse": code, **error}, 503)
        if task.exception() is not None:
            return _json({"error": "internal error; retry"}, 500)
        outcomes = task.result()
        status = 503 if exit_code(outcomes) else 200
        body = [outcome.to_json() for outcome in outcomes]
        if code is None:
            return _json(body, status)
        # A validation that came with other events: Event Grid reads validationResponse,
        # and the other events are answered (and retried on 503) like any batch.
        return _json({"validationResponse": code, "outcomes": body}, status)


def _other_events(payload: Any) -> bool:
    """Whether a delivery holds anything besides subscription validation events."""
    items = payload if isinstance(payload, list) else [payload]
    return any(is_validation_event(item) is None for item in items)


def _reject(request: web.Request, status: int, error: str) -> web.Response:
    """Answer a request that is refused before any event is read, and say so in the log
    (at info: a sender's mistake, or a probe, is not the service's failure)."""
    log.info("rejected %s %s from %s: %d %s", request.method, request.path,
             request.remote or "?", status, error)
    return _json({"error": error}, status)


def _validation_code(payload: Any) -> str | None:
    """The validationCode of a SubscriptionValidation delivery, if it is one."""
    items = payload if isinstance(payload, list) else [payload]
    for item in items:
        code = is_validation_event(item)
        if code is not None:
            return code
    return None


class _ServerLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server logger for the webhook: a request aiohttp's parser refuses is the
    sender's mistake, not the service's failure (aiohttp logs it at ERROR with a
    traceback); everything else goes to aiohttp's logger as aiohttp logs it."""

    def exception(self, msg: object, *args: object, exc_info: Any = True,
                  **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            # aiohttp: "Error handling request from %s", request.remote
            client = args[0] if args and args[0] else "?"
            log.warning("refused a malformed request from %s: %s", client,
                        _parse_error(exc_info))
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)


def _parse_error(exc: HttpProcessingError) -> str:
    """The status and what was wrong, without the bytes the client sent (aiohttp quotes
    them after a colon or in quotes: an over-long header line may hold the key)."""
    first = (exc.message or "").strip().splitlines()[:1]
    reason = re.split(r"[:'\"]", first[0], maxsplit=1)[0].strip().rstrip(".") if first else ""
    return f"{exc.code} {reason or type(exc).__name__}"


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("delivery failed unexpectedly", exc_info=task.exception())


async def _options(request: web.Request) -> web.StreamResponse:
    """CloudEvents 1.0 webhook abuse protection (validation handshake)."""
    headers = {"Allow": "POST, OPTIONS"}
    origin = request.headers.get("WebHook-Request-Origin")
    if origin:
        headers["WebHook-Allowed-Origin"] = origin
        if "WebHook-Request-Rate" in request.headers:
            headers["WebHook-Allowed-Rate"] = "*"
        log.info("answered CloudEvents validation for origin %s", origin)
    return web.Response(status=200, headers=headers)


async def _healthz(request: web.Request) -> web.StreamResponse:
    return _json({"status": "ok"}, 200)


async def _drain_background(app: web.Application) -> None:
    """Let deliveries that outlived their answer finish, then cancel leftovers."""
    running: set[asyncio.Task[list[Outcome]]] = app[_BACKGROUND]
    tasks = set(running)
    if not tasks:
        return
    log.info("waiting up to %.0f s for %d unfinished deliveries", SHUTDOWN_GRACE, len(tasks))
    _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)


def _json(body: Any, status: int) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body, default=str), content_type="application/json"
    )


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def main(args: argparse.Namespace) -> int:
    """Run the webhook until SIGTERM/SIGINT; the exit code of the contract."""
    host = getattr(args, "host", None) or DEFAULT_HOST
    port = getattr(args, "port", None)
    port = DEFAULT_PORT if port is None else int(port)
    timeout = getattr(args, "timeout", None)
    timeout = DEFAULT_TIMEOUT if timeout is None else float(timeout)
    if not 1 <= port <= 65535:
        print(f"aca-warden serve: --port must be 1-65535, not {port}", file=sys.stderr)
        return 2
    if not (math.isfinite(timeout) and timeout > 0):
        print(f"aca-warden serve: --timeout must be a positive, finite number of seconds, "
              f"not {timeout:g}", file=sys.stderr)
        return 2
    if timeout >= 30:
        print(
            f"aca-warden serve: warning: --timeout {timeout:g} s; Event Grid stops waiting "
            "for a webhook after 30 s",
            file=sys.stderr,
        )
    key = os.environ.get(KEY_ENV) or None
    if not is_loopback(host) and not key:
        print(
            f"aca-warden serve: refusing to listen on {host} without a key; "
            f"set {KEY_ENV} (checked as ?code= or the aeg-sas-key header), "
            "or bind a loopback address (127.0.0.1, ::1, localhost)",
            file=sys.stderr,
        )
        return 2
    from handlers.warden import Warden

    try:
        warden = Warden.from_env()
    except PolicyError as exc:
        print(f"aca-warden serve: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_run(warden, host, port, timeout, key))


def _start_line(warden: Warden, addresses: list[Any], key: str | None) -> str:
    """The one start-up line: address, policy source, dry run or not, key or not."""
    urls = []
    for address in addresses:
        bound_host, bound_port = address[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        urls.append(f"http://{shown}:{bound_port}{EVENT_PATHS[0]}")
    policy = warden.policy
    source = policy.source or "built-in defaults (no policy file)"
    dry_run = "on (plans and reports, writes nothing)" if policy.dry_run else "off"
    needs_key = (f"required ({KEY_ENV}, as ?code= or aeg-sas-key)" if key
                 else "not required (loopback only)")
    return (f"aca-warden serve: listening on {' and '.join(urls)} (and "
            f"{', '.join(EVENT_PATHS[1:])}); policy: {source}; dry run: {dry_run}; "
            f"key: {needs_key}")


async def _run(warden: Warden, host: str, port: int, answer_within: float, key: str | None) -> int:
    """Serve until a stop signal, then shut down in order: HTTP, deliveries, clients."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    # aiohttp's access log ("aiohttp.access", a line per request) shows only with -v.
    runner = web.AppRunner(make_app(warden, timeout=answer_within, key=key),
                           logger=_ServerLog(logging.getLogger("aiohttp.server")))
    try:
        await runner.setup()
        site = web.TCPSite(runner, host, port, shutdown_timeout=answer_within)
        try:
            await site.start()
        except OSError as exc:
            print(f"aca-warden serve: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
            return 2
        print(_start_line(warden, list(runner.addresses), key), file=sys.stderr, flush=True)
        await stop.wait()
        print("aca-warden serve: stopping", file=sys.stderr, flush=True)
    finally:
        await runner.cleanup()
        await warden.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    return 0
