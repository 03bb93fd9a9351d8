"""Azure RBAC in the emulator: every ARM request is authorized before it is handled.

The caller (the token's ``oid``) may perform an operation (:mod:`.operations`)
when one of its role assignments at the operation's scope or above has a role
whose ``actions`` match the action and whose ``notActions`` (same permission
block) do not, and whose condition (:mod:`.abac`), if any, allows it. Data
actions never authorize a control-plane request. A write that adds a
user-assigned identity to a resource also needs
``Microsoft.ManagedIdentity/userAssignedIdentities/assign/action`` on that
identity, and a container app or job that names its managed environment needs
``Microsoft.App/managedEnvironments/join/action`` on it: ARM's linked access
checks. Refusals are ARM's: 403 ``AuthorizationFailed`` (caller, action,
scope) and 403 ``LinkedAuthorizationFailed``.

Persons (``person=<name>`` tokens) are Owners of every subscription unless
demoted (``Emulator.demote_person``); everyone else holds exactly the role
assignments in the store. A request under a subscription that does not exist
is not authorized here: ARM answers it 404 ``SubscriptionNotFound`` first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from . import abac
from .ids import norm, scope_contains, segments
from .operations import Operation, action_matches, operation_for
from .state import ArmError

if TYPE_CHECKING:
    from .context import Ctx
    from .state import Principal, Store

__all__ = ["ASSIGN_IDENTITY", "JOIN_ENVIRONMENT", "Authorizer", "permits"]

ASSIGN_IDENTITY = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"
JOIN_ENVIRONMENT = "Microsoft.App/managedEnvironments/join/action"
_RA_WRITE = "microsoft.authorization/roleassignments/write"
_RA_DELETE = "microsoft.authorization/roleassignments/delete"
_RA_ATTR = "microsoft.authorization/roleassignments:"
_ENV_TYPES = ("microsoft.app/containerapps", "microsoft.app/jobs")


def permits(permissions: Iterable[dict[str, Any]], action: str) -> bool:
    """Whether a role's permission blocks allow a control-plane ``action``."""
    for block in permissions:
        if any(action_matches(p, action) for p in block.get("actions") or []) and not any(
            action_matches(p, action) for p in block.get("notActions") or []
        ):
            return True
    return False


def _guid_of(role_definition_id: object) -> str:
    return str(role_definition_id or "").rstrip("/").rsplit("/", 1)[-1].lower()


def _client(claims: dict[str, Any]) -> str:
    """How ARM names the caller: a user's UPN, an application's client id."""
    oid = str(claims.get("oid", ""))
    if claims.get("idtyp") == "user":
        return str(claims.get("upn") or oid)
    return str(claims.get("appid") or oid)


def _body(ctx: Ctx) -> dict[str, Any]:
    try:
        body = json.loads(ctx.raw_body) if ctx.raw_body.strip() else {}
    except (ValueError, UnicodeDecodeError):
        return {}  # the handler answers the malformed body
    return body if isinstance(body, dict) else {}


class Authorizer:
    """Decides every request of one emulator from its store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.demoted: set[str] = set()  # object ids of persons who are not Owners

    # -- who holds what -----------------------------------------------------------
    def _is_owner(self, principal: Principal | None) -> bool:
        return (principal is not None and principal.kind == "person"
                and principal.object_id not in self.demoted)

    def _assignments(self, oid: str) -> Iterator[dict[str, Any]]:
        yield from self.store.role_assignments.for_principal(oid)

    def holds(self, oid: str, action: str, scope: str,
              context: abac.Context | None = None) -> bool:
        """Whether ``oid`` may perform ``action`` at ``scope`` (conditions evaluated in
        ``context``; without one, only against the action)."""
        if self._is_owner(self.store.principal(oid)):
            return True
        ctx = context or abac.Context(action)
        for ra in self._assignments(oid):
            props = ra["properties"]
            if not scope_contains(props["scope"], scope):
                continue
            role = self.store.role_definitions.get(_guid_of(props["roleDefinitionId"]))
            if role is None or not permits(role["properties"].get("permissions") or [], action):
                continue
            condition = props.get("condition")
            if condition and not abac.evaluate(condition, ctx):
                continue
            return True
        return False

    def sees_subscription(self, oid: str, subscription: str) -> bool:
        """A subscription is listed (and readable) for whoever has access anywhere in it."""
        if self._is_owner(self.store.principal(oid)):
            return True
        sub = f"/subscriptions/{subscription}"
        return any(scope_contains(ra["properties"]["scope"], sub)
                   or scope_contains(sub, ra["properties"]["scope"])
                   for ra in self._assignments(oid))

    # -- one request ---------------------------------------------------------------
    def authorize(self, ctx: Ctx) -> None:
        """Raise ARM's 403 unless the caller may make this request."""
        op = operation_for(ctx.method, ctx.path)
        if op.public:
            return
        segs = segments(ctx.path)
        if (len(segs) >= 2 and segs[0].lower() == "subscriptions"
                and segs[1].lower() not in self.store.subscriptions):
            return  # ARM answers SubscriptionNotFound before it authorizes
        oid = ctx.caller_oid.lower()
        if len(segs) == 2 and ctx.method in ("GET", "HEAD") and self.sees_subscription(
                oid, segs[1].lower()):
            return
        if not self.holds(oid, op.action, op.scope, self._context(ctx, op)):
            raise ArmError(
                403, "AuthorizationFailed",
                f"The client '{_client(ctx.claims)}' with object id '{oid}' does not have "
                f"authorization to perform action '{op.action}' over scope '{op.scope}' or the "
                "scope is invalid. If access was recently granted, please refresh your "
                "credentials.")
        missing = [(action, scope) for action, scope in self._linked(ctx, op)
                   if not self.holds(oid, action, scope)]
        if missing:
            raise ArmError(
                403, "LinkedAuthorizationFailed",
                f"The client '{_client(ctx.claims)}' with object id '{oid}' has permission to "
                f"perform action '{op.action}' on scope '{op.scope}'; however, it does not have "
                f"permission to perform action(s) '{', '.join(a for a, _ in missing)}' on the "
                f"linked scope(s) '{', '.join(s for _, s in missing)}' (respectively) or the "
                "linked scope(s) are invalid.")

    def _context(self, ctx: Ctx, op: Operation) -> abac.Context:
        """The attributes a condition may look at: the request's and the target's."""
        action = op.action.lower()
        if action == _RA_WRITE:
            props = _body(ctx).get("properties")
            props = props if isinstance(props, dict) else {}
            request = {
                _RA_ATTR + "roledefinitionid": _guid_of(props.get("roleDefinitionId")),
                _RA_ATTR + "principalid": str(props.get("principalId") or ""),
                _RA_ATTR + "principaltype": str(props.get("principalType") or ""),
            }
            if not request[_RA_ATTR + "principaltype"]:  # ARM resolves it from the directory
                known = self.store.principal(request[_RA_ATTR + "principalid"])
                request[_RA_ATTR + "principaltype"] = known.type if known else ""
            return abac.Context(op.action, request={k: v for k, v in request.items() if v})
        if action == _RA_DELETE:
            target = self.store.role_assignments.get(norm(ctx.path))
            if target is None:  # nothing to delete (204): nothing for a condition to judge
                return abac.Context("")
            p = target["properties"]
            return abac.Context(op.action, resource={
                _RA_ATTR + "roledefinitionid": _guid_of(p["roleDefinitionId"]),
                _RA_ATTR + "principalid": p["principalId"],
                _RA_ATTR + "principaltype": p["principalType"],
            })
        return abac.Context(op.action)

    def _linked(self, ctx: Ctx, op: Operation) -> list[tuple[str, str]]:
        """ARM's linked access checks of a write: (action, linked scope) pairs."""
        if ctx.method not in ("PUT", "PATCH"):
            return []
        body = _body(ctx)
        current = self.store.resources.get(norm(ctx.path)) or {}
        linked: list[tuple[str, str]] = []
        identity = body.get("identity")
        wanted = identity.get("userAssignedIdentities") if isinstance(identity, dict) else None
        if isinstance(wanted, dict):
            had = (current.get("identity") or {}).get("userAssignedIdentities") or {}
            have = {norm(k) for k in had}
            linked += [(ASSIGN_IDENTITY, key) for key, value in wanted.items()
                       if value is not None and norm(key) not in have]
        if op.action.lower().rsplit("/", 1)[0] in _ENV_TYPES:
            props = body.get("properties")
            if isinstance(props, dict):
                env = props.get("environmentId") or props.get("managedEnvironmentId")
                if isinstance(env, str) and env:
                    linked.append((JOIN_ENVIRONMENT, env))
        return linked
