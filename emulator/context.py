"""What a route handler sees (``Ctx``) and returns (``Reply``), and ARM paging."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from .state import ArmError, Store

if TYPE_CHECKING:
    from .core import Emulator

__all__ = ["Ctx", "PendingEvent", "Reply"]


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class PendingEvent:
    """An event to emit once the write completes (at once, or when its LRO finishes)."""

    event_type: str
    operation_name: str
    resource_uri: str


@dataclass
class Ctx:
    emu: Emulator
    method: str
    path: str
    query: dict[str, str]
    raw_body: bytes
    claims: dict[str, Any]
    correlation_id: str
    client_request_id: str
    url: str
    events: list[PendingEvent] = field(default_factory=list)

    @property
    def store(self) -> Store:
        return self.emu.store

    @property
    def segs(self) -> list[str]:
        return [s for s in self.path.split("/") if s]

    @property
    def low(self) -> list[str]:
        return [s.lower() for s in self.segs]

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "")

    @property
    def caller_oid(self) -> str:
        return str(self.claims.get("oid", ""))

    def json(self, required: bool = True) -> Any:
        """The request body as JSON; 400 InvalidRequestContent when it is not."""
        if not self.raw_body.strip():
            if required:
                raise ArmError(
                    400, "InvalidRequestContent", "The request content was invalid: it is empty."
                )
            return None
        try:
            return json.loads(self.raw_body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ArmError(
                400,
                "InvalidRequestContent",
                f"The request content was invalid and could not be deserialized: '{exc}'.",
            ) from None

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise ArmError(
                400, "InvalidRequestContent", "The request content must be a JSON object."
            )
        return body

    def event(self, operation_name: str, resource_uri: str, kind: str = "write") -> PendingEvent:
        event_type = {
            "write": "Microsoft.Resources.ResourceWriteSuccess",
            "delete": "Microsoft.Resources.ResourceDeleteSuccess",
            "action": "Microsoft.Resources.ResourceActionSuccess",
        }[kind]
        ev = PendingEvent(event_type, operation_name, resource_uri)
        self.events.append(ev)
        return ev

    def page(self, items: list[Any], view: Callable[[Any], dict[str, Any]] | None = None
             ) -> Reply:
        """ARM paging: ``value`` + ``nextLink`` carrying ``$skiptoken``. With ``view``, items
        are stored records and only this page's are turned into answers (a long listing is
        read page by page: building every answer for every page is quadratic)."""
        size = max(1, int(self.emu.page_size))
        try:
            start = int(self.query.get("$skiptoken", "0"))
        except ValueError:
            raise ArmError(400, "InvalidSkipToken", "The $skiptoken is not valid.") from None
        chunk = [copy.deepcopy(i) if view is None else view(i)
                 for i in items[start : start + size]]
        body: dict[str, Any] = {"value": chunk}
        if start + size < len(items):
            params = {k: v for k, v in self.query.items() if k != "$skiptoken"}
            params["$skiptoken"] = str(start + size)
            query = urlencode(params, safe="$", quote_via=quote)
            body["nextLink"] = f"{self.emu.endpoint}{self.path}?{query}"
        return Reply(200, body)
