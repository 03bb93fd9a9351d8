"""The slice of Microsoft Graph the Azure CLI asks when it manages role assignments.

``az role assignment create/list/delete`` resolve principals (``--assignee``) and fill
in their names through Graph. The emulator's cloud metadata names the emulator itself
as the cloud's Graph endpoint (``microsoftGraphResourceId``), so these calls come
here instead of going to graph.microsoft.com:

* ``POST /v1.0/directoryObjects/getByIds`` (``{"ids": [...], "types": [...]}``);
* ``GET /v1.0/servicePrincipals?$filter=servicePrincipalNames/any(c:c eq 'X')``,
  ``GET /v1.0/users?$filter=userPrincipalName eq 'X'``;
* ``GET /v1.0/{servicePrincipals|users|directoryObjects}/{id}``, ``GET /v1.0/me``.

Every principal the emulator knows is a directory object: persons are users
(``{name}@emulator.example``), the rest service principals (managed identities
and the service). A valid bearer token from the emulator is required; Graph's
own permissions are not modelled.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .auth import TokenError
from .state import Principal

if TYPE_CHECKING:
    from .core import Emulator

__all__ = ["add_graph_routes"]

_CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#directoryObjects"


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _object(emu: Emulator, p: Principal) -> dict[str, Any]:
    if p.type == "User":
        return {"@odata.type": "#microsoft.graph.user", "id": p.object_id,
                "displayName": p.display_name,
                "userPrincipalName": f"{p.display_name}@emulator.example",
                "mail": None}
    kind = "Application" if p.kind == "service" else "ManagedIdentity"
    names = [n for n in (p.app_id, p.display_name) if n]
    return {"@odata.type": "#microsoft.graph.servicePrincipal", "id": p.object_id,
            "appId": p.app_id, "displayName": p.display_name or p.object_id,
            "servicePrincipalNames": names, "servicePrincipalType": kind,
            "appOwnerOrganizationId": emu.tenant_id}


def _known(emu: Emulator) -> list[Principal]:
    return [p for p in emu.store.principals.values() if not p.deleted]


def _filtered(emu: Emulator, collection: str, text: str) -> list[dict[str, Any]]:
    want_type = "User" if collection == "users" else None
    m = re.fullmatch(r"servicePrincipalNames/any\(c:c eq '(.*)'\)", text.strip()) or \
        re.fullmatch(r"userPrincipalName eq '(.*)'", text.strip()) or \
        re.fullmatch(r"appId eq '(.*)'", text.strip())
    value = m.group(1).replace("''", "'").lower() if m else None
    out = []
    for p in _known(emu):
        if (want_type == "User") != (p.type == "User"):
            continue
        obj = _object(emu, p)
        names = {str(n).lower() for n in (obj.get("servicePrincipalNames") or [])}
        names |= {str(obj.get("userPrincipalName", "")).lower(), str(obj.get("appId")).lower()}
        if value is None or value in names:
            out.append(obj)
    return out


def add_graph_routes(app: web.Application, emu: Emulator) -> None:
    """Register ``/v1.0/...`` (before the catch-all ARM route)."""

    async def handle(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        try:
            claims = emu.issuer.verify(auth[7:].strip()) if auth.lower().startswith(
                "bearer ") else None
        except TokenError:
            claims = None
        if claims is None:
            return _error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        segs = [s for s in request.match_info["tail"].split("/") if s]
        low = [s.lower() for s in segs]
        if request.method == "POST" and low == ["directoryobjects", "getbyids"]:
            try:
                body = json.loads(await request.read() or b"{}")
            except ValueError:
                return _error(400, "Request_BadRequest", "The request body is not JSON.")
            ids = {str(i).lower() for i in (body.get("ids") or [])}
            found = [_object(emu, p) for p in _known(emu) if p.object_id in ids]
            return web.json_response({"@odata.context": _CONTEXT, "value": found})
        if request.method != "GET":
            return _error(405, "Request_BadRequest", "The method is not supported.")
        if low == ["me"]:
            p = emu.store.principal(str(claims.get("oid", "")))
            if p is None or p.type != "User":
                return _error(400, "BadRequest", "/me request is only valid with delegated "
                              "authentication flow.")
            return web.json_response(_object(emu, p))
        if len(low) == 1 and low[0] in ("serviceprincipals", "users"):
            return web.json_response({"value": _filtered(emu, low[0],
                                                         request.query.get("$filter", ""))})
        if len(low) == 2 and low[0] in ("serviceprincipals", "users", "directoryobjects"):
            p = emu.store.principal(segs[1])
            if p is not None and (low[0] == "directoryobjects"
                                  or (low[0] == "users") == (p.type == "User")):
                return web.json_response(_object(emu, p))
            return _error(404, "Request_ResourceNotFound",
                          f"Resource '{segs[1]}' does not exist or one of its queried reference-"
                          "property objects are not present.")
        return _error(400, "BadRequest", f"Resource not found for the segment '{segs[0]}'.")

    app.router.add_route("*", "/v1.0/{tail:.*}", handle)
