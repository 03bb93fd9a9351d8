"""ARM answers in aca-warden's terms: errors, tokens, JSON (pure; no I/O).

Kept apart from handlers.azure so that the mapping rules — which failures are
transient (retry) and which permanent — can be read and tested on their own.
Contract: network errors and timeouts, 408, 429, 5xx, 409 for an operation in
progress, ``PrincipalNotFound`` and 403 on reading or patching an app are
transient (except ``LinkedAuthorizationFailed``: no right to attach an identity
the write names, which refuses that identity); every other 4xx is permanent.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from handlers.errors import ArmError, Permanent, Transient
from handlers.model import Assignment

__all__ = [
    "assignment_from_json",
    "credential_attempts",
    "role_from_model",
    "to_arm_error",
    "token_claims",
]

_TRANSIENT_CODES = frozenset({"principalnotfound"})
# A 403 on the identities an app write links to (no .../assign/action on one of them): the
# identity is refused, the app's own permission is not in doubt.
_LINKED = frozenset({"linkedauthorizationfailed"})


def token_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, decoded without verification (the token is our own)."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return data if isinstance(data, dict) else {}
    except (IndexError, ValueError):
        return {}


def credential_attempts(message: str) -> dict[str, str]:
    """The "Attempted credentials" of azure-identity's chained-credential error message:
    credential name -> the first line of what it said (in the order tried)."""
    _, found, rest = message.partition("Attempted credentials:")
    if not found:
        return {}
    tried: dict[str, str] = {}
    for line in rest.split("\n"):
        if not line.startswith("\t"):
            continue
        name, _, said = line.strip().partition(":")
        if name and " " not in name:
            tried[name] = said.strip()
    return tried


def _error_code(e: Any) -> str | None:
    err = getattr(e, "error", None)
    code = getattr(err, "code", None)
    if code:
        return str(code)
    resp = getattr(e, "response", None)
    try:
        body = resp.json() if resp is not None else None
        code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    except Exception:  # noqa: BLE001 - any unreadable body just has no code
        code = None
    return str(code) if code else None


def to_arm_error(e: BaseException, what: str, *, app_level: bool = False) -> ArmError:
    """Map an azure-core / transport failure to Transient or Permanent per the contract."""
    from azure.core.exceptions import HttpResponseError

    if isinstance(e, ArmError):
        return e
    status = getattr(e, "status_code", None) if isinstance(e, HttpResponseError) else None
    if status is None:
        return Transient(f"{what}: {type(e).__name__}: {e}".strip())
    code = _error_code(e)
    msg = getattr(getattr(e, "error", None), "message", None) or getattr(e, "reason", "") or ""
    text = f"{what}: {status} {code or ''} {msg}".replace("  ", " ").strip()
    if (status in (408, 429) or status >= 500
            or (status == 409 and "progress" in (code or msg).lower())
            or (code or "").lower() in _TRANSIENT_CODES
            or (status in (401, 403) and app_level and (code or "").lower() not in _LINKED)):
        return Transient(text, status=status, code=code)
    return Permanent(text, status=status, code=code)


def assignment_from_json(v: dict[str, Any]) -> Assignment:
    p = v.get("properties") or {}
    return Assignment(id=v.get("id", ""), name=v.get("name", ""), scope=p.get("scope", ""),
                      role_definition_id=p.get("roleDefinitionId", ""),
                      principal_id=p.get("principalId") or "", description=p.get("description"))


def role_from_model(m: Any) -> dict[str, Any]:
    perms = [{"actions": list(p.actions or []), "notActions": list(p.not_actions or []),
              "dataActions": list(p.data_actions or []),
              "notDataActions": list(p.not_data_actions or [])} for p in (m.permissions or [])]
    return {"id": m.id, "name": m.name, "roleName": m.role_name, "permissions": perms}
