"""Which Azure RBAC action an ARM request needs, and how action patterns match.

ARM authorizes every request against one *operation*: the action string of the
resource type and verb (``Microsoft.App/containerApps/write``) and a scope (the
request path). It is derived generically, so new routes need no entry here:

* ``{scope}/providers/{Namespace}/{type}/{name}[/{type}/{name}...]``: the last
  ``providers/{Namespace}`` names the provider; the types after it, joined,
  name the resource type (``Microsoft.App/locations/containerappOperationStatuses``).
  GET and HEAD are ``/read``; PUT and PATCH ``/write``; DELETE ``/delete``;
  POST ``.../{name}/{verb}`` is ``/{verb}/action``. A GET of a collection (the
  path ends with a type) is ``/read`` of that type over the path without it,
  as ARM words its messages (``.../providers/Microsoft.App``).
* a path without a provider (``/subscriptions/{s}/resourceGroups/{rg}``,
  ``.../resources``) is a ``Microsoft.Resources`` type made of its own type
  segments, spelled as the request spells them, as ARM's messages show
  (``az group create``, whose URL says ``resourcegroups``, is refused
  ``Microsoft.Resources/subscriptions/resourcegroups/write``).

Special cases (``SPECIAL`` below): a subscription's resource providers
(``Microsoft.Resources/subscriptions/providers/read``), and what any signed-in
caller may do: list its subscriptions (filtered to those it has access in), read
tenant-level resource providers, a provider's operations
(``/providers/{Namespace}/operations``) and role definitions.

Action patterns match as Azure matches them: case-insensitive, ``*`` matches
any run of characters (``/`` included), and each ``/*/`` also matches a single
``/`` (``Microsoft.App/containerApps/*/write`` allows
``Microsoft.App/containerApps/write``; ``Microsoft.App/*/*/write`` allows
``Microsoft.App/write``). :func:`action_matches` is its own code, not the
service's (``handlers.grants``), so that the emulator checks the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .ids import segments

__all__ = ["Operation", "action_matches", "canonical_type", "operation_for"]

_VERBS = {"GET": "read", "HEAD": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}
# ARM spells actions the way providers register them; request paths may be in any case.
_SPELLING = {
    s.lower(): s
    for s in (
        "Microsoft.App", "containerApps", "jobs", "managedEnvironments", "revisions",
        "containerappOperationStatuses", "containerappOperationResults",
        "containerappsjobOperationStatuses", "containerappsjobOperationResults",
        "managedEnvironmentOperationStatuses", "managedEnvironmentOperationResults",
        "locations", "listSecrets", "Microsoft.ManagedIdentity", "userAssignedIdentities",
        "Microsoft.Authorization", "roleAssignments", "roleDefinitions", "permissions",
        "Microsoft.Resources", "subscriptions", "resourceGroups", "resources", "providers",
        "tags", "deployments", "tenants", "Microsoft.Storage", "storageAccounts",
        "Microsoft.KeyVault", "vaults",
    )
}


@dataclass(frozen=True)
class Operation:
    """What ARM checks for one request."""

    action: str  # e.g. "Microsoft.App/containerApps/write"
    scope: str  # where it is checked, as ARM's messages name it
    public: bool = False  # any signed-in caller may do it (no role needed)


def canonical_type(segment: str) -> str:
    return _SPELLING.get(segment.lower(), segment)


def _join(namespace: str, types: list[str], verb: str) -> str:
    return "/".join([canonical_type(namespace), *(canonical_type(t) for t in types), verb])


def _as_spelled(namespace: str, types: list[str], verb: str) -> str:
    """Microsoft.Resources' own types in the request's spelling (ARM's messages)."""
    return "/".join([canonical_type(namespace), *types, verb])


def _special(method: str, low: list[str], path: str) -> Operation | None:
    """The few requests whose action the generic rule would not name."""
    if method != "GET" and method != "HEAD":
        return None
    if low[:1] == ["metadata"]:  # GET /metadata/endpoints: no token needed, as Azure
        return Operation("Microsoft.Resources/metadata/read", path, public=True)
    if low == ["subscriptions"]:  # the list is filtered to the caller's subscriptions
        return Operation("Microsoft.Resources/subscriptions/read", path, public=True)
    if low in (["tenants"], ["providers"]) or (len(low) == 2 and low[0] == "providers"):
        return Operation(_join("Microsoft.Resources", low[:1], "read"), path, public=True)
    if len(low) == 3 and low[0] == "providers" and low[2] == "operations":
        # a provider's operations list: readable by everyone
        return Operation(_join(low[1], low[2:3], "read"), path, public=True)
    if low[:2] == ["providers", "microsoft.authorization"] and len(low) in (3, 4) and low[2] in (
        "roledefinitions",
    ):  # tenant-level role definitions: readable by everyone
        return Operation(_join("Microsoft.Authorization", low[2:3], "read"), path, public=True)
    if len(low) in (3, 4) and low[0] == "subscriptions" and low[2] == "providers":
        return Operation("Microsoft.Resources/subscriptions/providers/read", path)
    return None


def operation_for(method: str, path: str) -> Operation:
    """The operation ARM authorizes for ``method path`` (path without the query)."""
    method = method.upper()
    segs = segments(path)
    low = [s.lower() for s in segs]
    shown = "/" + "/".join(segs)
    special = _special(method, low, shown)
    if special is not None:
        return special
    at = max((i for i in range(len(low) - 1) if low[i] == "providers"), default=None)
    if at is None:  # Microsoft.Resources' own types: subscriptions, resourceGroups, resources
        namespace, rest, base = "Microsoft.Resources", segs, []
        join = _as_spelled
    else:
        namespace, rest, base = segs[at + 1], segs[at + 2:], segs[: at + 2]
        join = _join
    types = rest[0::2]
    if len(rest) % 2 == 1:  # ends with a type (a collection) or with an action's verb
        if method == "POST" and len(rest) > 1:
            return Operation(join(namespace, types[:-1], f"{rest[-1]}/action"),
                             "/" + "/".join(segs[:-1]))
        if method == "POST":  # {scope}/providers/{Namespace}/register and the like
            return Operation(join(namespace, [], f"{rest[-1]}/action"), shown)
        scope = "/" + "/".join(segs[:-1]) if segs[:-1] else "/"
        return Operation(join(namespace, types, _VERBS.get(method, "read")), scope)
    if not rest:  # /subscriptions/{s}/providers/{Namespace} with another verb, or bare scope
        return Operation(join(namespace, [], _VERBS.get(method, "read")), "/" + "/".join(base))
    verb = _VERBS.get(method, "action" if method == "POST" else "read")
    return Operation(join(namespace, types, verb), shown)


def _fold(char: str) -> str:
    """A character as case-insensitive matching sees it (s, S and the long s U+017F alike)."""
    lower = char.lower()
    return lower.upper() if len(lower) == 1 else char


@lru_cache(maxsize=65536)  # a few roles' patterns against a few hundred actions
def action_matches(pattern: str, action: str) -> bool:
    """Azure's action matching (role permissions and ``ActionMatches``).

    Read the pattern left to right, keeping every place in `action` where what has
    been read so far can end: a letter moves each place one on when it matches
    (case-insensitively); ``*`` reaches every place from the first one on; a ``*``
    between two ``/`` may also vanish with the ``/`` after it (each ``/*/`` also
    matches a single ``/``, adjacent ones too).
    """
    text = [_fold(c) for c in action]
    chars = pattern.strip()
    ends = {0}
    i = 0
    while i < len(chars) and ends:
        if chars[i] != "*":
            ends = {j + 1 for j in ends if j < len(text) and text[j] == _fold(chars[i])}
            i += 1
            continue
        star = set(range(min(ends), len(text) + 1))
        if 0 < i < len(chars) - 1 and chars[i - 1] == chars[i + 1] == "/":
            ends = ends | {j + 1 for j in star if j < len(text) and text[j] == "/"}
            i += 2
        else:
            ends = star
            i += 1
    return len(text) in ends
