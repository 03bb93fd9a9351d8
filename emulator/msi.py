"""The App Service-style managed-identity endpoint (``IDENTITY_ENDPOINT``).

``GET {IDENTITY_ENDPOINT}?resource=...&api-version=2019-08-01`` with header
``X-IDENTITY-HEADER``; answers ``access_token``, ``expires_on`` (epoch seconds
as a string), ``resource``, ``token_type`` and ``client_id`` as App Service does,
which is what azure-identity's AppServiceCredential parses. ``client_id``,
``principal_id`` (or its alias ``object_id``, which MSAL and azure-identity send:
``az login --identity --object-id``) or ``mi_res_id`` select a user-assigned identity.

``person=<name>`` (an emulator extension, same header required) answers a
token for that *person* (a User principal) instead, so that scripts outside
the emulator's process can make changes that are not the service's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .ids import norm

if TYPE_CHECKING:
    from .core import Emulator

__all__ = ["token_answer"]


def _error(status: int, code: str, message: str) -> tuple[int, None, dict[str, Any]]:
    return status, None, {"error": {"code": code, "message": message}}


def token_answer(emu: Emulator, request: web.Request) -> tuple[int, str | None, dict[str, Any]]:
    """(status, principal oid, JSON body) for one token request."""
    if request.headers.get("X-IDENTITY-HEADER") != emu.identity_header:
        return _error(401, "Unauthorized", "X-IDENTITY-HEADER is missing or wrong.")
    resource = request.query.get("resource")
    if not resource or request.query.get("api-version") != "2019-08-01":
        return _error(400, "BadRequest", "resource and api-version=2019-08-01 are required.")
    person = request.query.get("person")
    if person:
        oid = emu.person_oid(person)
        token, exp = emu.issuer.mint(oid=oid, audience=resource, name=person, user=True)
        return 200, oid, {"access_token": token, "expires_on": str(exp), "resource": resource,
                          "token_type": "Bearer"}
    oid, appid = emu.service_oid, emu.service_appid
    wanted = (request.query.get("client_id") or request.query.get("principal_id")
              or request.query.get("object_id"))
    if wanted or request.query.get("mi_res_id"):
        found = _find_uami(emu, wanted, request.query.get("mi_res_id"))
        if found is None:
            return _error(400, "BadRequest", "No such managed identity.")
        oid, appid = found
    token, exp = emu.issuer.mint(oid=oid, audience=resource, appid=appid)
    return 200, oid, {"access_token": token, "expires_on": str(exp), "resource": resource,
                      "token_type": "Bearer", "client_id": appid}


def _find_uami(emu: Emulator, wanted: str | None, res_id: str | None) -> tuple[str, str] | None:
    for key, body in emu.store.resources.items():
        props = body.get("properties") or {}
        if "clientId" not in props:
            continue
        if (res_id and key == norm(res_id)) or (
            wanted and wanted.lower() in (props["clientId"], props["principalId"])
        ):
            return props["principalId"], props["clientId"]
    return None
