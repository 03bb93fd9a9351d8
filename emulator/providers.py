"""Resource providers (``/providers``, ``/subscriptions/{s}/providers[/{ns}[/register]]``)
and ARM's api-version check.

ARM refuses an api-version its provider does not serve before anything else:
Microsoft.Resources' own types answer ``400 InvalidApiVersionParameter`` ("The
api-version 'X' is invalid. The supported versions are '...'."), a resource
provider's types ``400 NoRegisteredProviderFound`` ("No registered resource
provider found for location 'L' and API version 'X' for type 'T'. The supported
api-versions are '...'. The supported locations are '...'.").
"""

from __future__ import annotations

import copy
from typing import Any

from .catalog import NAMESPACES, RESOURCES_API_VERSIONS, Namespace, location_key, namespace
from .context import Ctx, Reply
from .ids import norm, segments
from .state import ArmError

__all__ = ["check_api_version", "provider_type_of", "providers"]


def provider_type_of(path: str) -> tuple[str, str] | None:
    """(namespace, resource type) whose api-versions a request path must use.

    The last ``providers/{Namespace}`` of the path names the provider and the segment
    after it the type (a child type uses its parent's versions); a path without one is
    Microsoft.Resources'. None for paths outside ARM's resource tree.
    """
    segs = segments(path)
    low = [s.lower() for s in segs]
    if not low:
        return None
    idx = max((i for i, s in enumerate(low) if s == "providers"), default=-1)
    if idx == -1 or idx + 1 >= len(segs):
        if low[0] not in ("subscriptions", "providers", "tenants"):
            return None
        if idx == len(segs) - 1 and idx >= 0:  # .../providers: the provider list
            return "Microsoft.Resources", "providers"
        kind = "resourceGroups" if "resourcegroups" in low else (
            low[-1] if low[-1] in ("resources", "locations") else low[0])
        return "Microsoft.Resources", kind
    ns = segs[idx + 1]
    rest = segs[idx + 2:]
    if not rest or (len(rest) == 1 and rest[0].lower() in ("register", "unregister")):
        return "Microsoft.Resources", "providers"  # the provider itself
    if ns.lower() == "microsoft.app" and rest[0].lower() == "locations" and len(rest) >= 3:
        return ns, f"locations/{rest[2]}"
    return ns, rest[0]


def _where(ctx: Ctx) -> str:
    """The location ARM names in NoRegisteredProviderFound."""
    body = ctx.store.lookup(ctx.path)
    if body is None and ctx.raw_body:
        try:
            parsed = ctx.json(required=False)
        except ArmError:
            parsed = None
        body = parsed if isinstance(parsed, dict) else None
    if body is None:
        segs = segments(ctx.path)
        if len(segs) >= 4 and segs[2].lower() == "resourcegroups":
            body = ctx.store.groups.get(norm("/".join(segs[:4])))
    location = (body or {}).get("location")
    return location_key(location) if isinstance(location, str) and location else "global"


def check_api_version(ctx: Ctx) -> None:
    """Refuse an api-version the request's provider does not serve, as ARM does."""
    found = provider_type_of(ctx.path)
    if found is None:
        return
    ns_name, type_name = found
    version = ctx.api_version
    if ns_name.lower() == "microsoft.resources":
        if version.lower() not in {v.lower() for v in RESOURCES_API_VERSIONS}:
            raise ArmError(400, "InvalidApiVersionParameter",
                           f"The api-version '{version}' is invalid. The supported versions "
                           f"are '{','.join(RESOURCES_API_VERSIONS)}'.")
        return
    ns = namespace(ns_name)
    rtype = ns.type(type_name) if ns else None
    if rtype is None or not rtype.api_versions:
        return  # a plain stored resource: its provider is not emulated
    if version.lower() in {v.lower() for v in rtype.api_versions}:
        return
    versions = ", ".join(sorted(rtype.api_versions))
    regions = ", ".join(location_key(n) for n in rtype.locations)
    raise ArmError(400, "NoRegisteredProviderFound",
                   f"No registered resource provider found for location '{_where(ctx)}' and "
                   f"API version '{version}' for type '{rtype.name}'. The supported "
                   f"api-versions are '{versions}'. The supported locations are '{regions}'.")


def _state(ctx: Ctx, sub: str | None, ns: Namespace) -> str:
    if sub is None:
        return "NotRegistered"
    states = ctx.store.provider_states.get(sub.lower(), {})
    return states.get(ns.name.lower(), "Registered" if ns.registered else "NotRegistered")


def _view(ctx: Ctx, sub: str | None, ns: Namespace) -> dict[str, Any]:
    prefix = f"/subscriptions/{sub.lower()}" if sub else ""
    out: dict[str, Any] = {"id": f"{prefix}/providers/{ns.name}", "namespace": ns.name}
    if ns.authorizations:
        out["authorizations"] = [dict(a) for a in ns.authorizations]
    out["resourceTypes"] = [t.to_json() for t in ns.types]
    out["registrationState"] = _state(ctx, sub, ns)
    out["registrationPolicy"] = ns.registration_policy
    return copy.deepcopy(out)


def providers(ctx: Ctx, sub: str | None, name: str | None, action: str | None) -> Reply:
    """``[/subscriptions/{s}]/providers[/{namespace}[/register|/unregister]]``."""
    if sub is not None:
        ctx.store.require_subscription(sub)
    if name is None:
        if ctx.method != "GET":
            raise ArmError(405, "MethodNotAllowed", f"The method '{ctx.method}' is not allowed.")
        return ctx.page([_view(ctx, sub, ns) for ns in NAMESPACES])
    ns = namespace(name)
    if ns is None:
        raise ArmError(404, "InvalidResourceNamespace",
                       f"The resource namespace '{name}' is invalid.")
    if action is None:
        if ctx.method != "GET":
            raise ArmError(405, "MethodNotAllowed", f"The method '{ctx.method}' is not allowed.")
        return Reply(200, _view(ctx, sub, ns))
    if ctx.method != "POST" or sub is None or action.lower() not in ("register", "unregister"):
        raise ArmError(404, "NotFound", f"The requested path '{ctx.path}' does not exist.")
    states = ctx.store.provider_states.setdefault(sub.lower(), {})
    registering = action.lower() == "register"
    # ARM answers the transition; the emulator has finished it by the next read.
    view = _view(ctx, sub, ns)
    view["registrationState"] = "Registering" if registering else "Unregistering"
    states[ns.name.lower()] = "Registered" if registering else "NotRegistered"
    ctx.event(f"{ns.name}/{action.lower()}/action", ctx.path, "action")
    return Reply(200, view)
