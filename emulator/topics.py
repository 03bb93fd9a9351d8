"""Event Grid custom topics: an endpoint that receives what publishers send.

``POST /topics/{name}/api/events`` takes what azure-eventgrid's
``EventGridPublisherClient`` sends to a custom topic: a JSON array of
CloudEvents (``application/cloudevents-batch+json``) or of Event Grid schema
events, authenticated like Event Grid with the topic's key (``aeg-sas-key``)
or a bearer token the emulator issued. Received events are kept per topic for
tests (``emu.topics.received(name)``); nothing is delivered onwards.
"""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .auth import TokenError

if TYPE_CHECKING:
    from .core import Emulator

__all__ = ["Topics", "add_topic_routes"]

MAX_TOPIC_BODY = 1024 * 1024  # Event Grid's limit per publish


class Topics:
    """The custom topics of one emulator: keys, endpoints and what each received."""

    def __init__(self, emu: Emulator) -> None:
        self._emu = emu
        self.key = secrets.token_urlsafe(24)
        self._received: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def endpoint(self, name: str = "audit") -> str:
        return f"{self._emu.endpoint}/topics/{name}/api/events"

    def received(self, name: str = "audit") -> list[dict[str, Any]]:
        return list(self._received.get(name.lower(), []))

    def clear(self) -> None:
        self._received.clear()

    def _authorized(self, request: web.Request) -> bool:
        if secrets.compare_digest(request.headers.get("aeg-sas-key", ""), self.key):
            return True
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            try:
                self._emu.issuer.verify(auth[7:].strip())
            except TokenError:
                return False
            return True
        return False

    async def handle(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": {"code": "Unauthorized", "message":
                                      "The request authorization key is not authorized."}},
                                     status=401)
        raw = await request.read()
        if len(raw) > MAX_TOPIC_BODY:
            return web.json_response({"error": {"code": "RequestEntityTooLarge", "message":
                                      "The maximum size (1536000) has been exceeded."}},
                                     status=413)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list) or not all(isinstance(e, dict) for e in body):
            return web.json_response({"error": {"code": "BadRequest", "message":
                                      "The request body must be a JSON array of events."}},
                                     status=400)
        self._received[request.match_info["topic"].lower()].extend(body)
        return web.Response(status=200)


def add_topic_routes(app: web.Application, emu: Emulator) -> Topics:
    """Register the topic endpoint (before the catch-all ARM route) and return the topics."""
    topics = Topics(emu)
    app.router.add_route("POST", "/topics/{topic}/api/events", topics.handle)
    return topics
