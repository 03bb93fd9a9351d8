"""ARM resource ids: parsing, case-insensitive comparison and scope relations.

ARM treats every segment of an id case-insensitively. The emulator keys its
state by the lower-cased id and keeps a canonical spelling for answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ResourceRef",
    "is_guid",
    "mixed_case_id",
    "norm",
    "parse_resource_id",
    "scope_contains",
    "segments",
]

_GUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)

# Canonical spelling of the types the emulator knows by name.
CANONICAL_TYPES = {
    "microsoft.app/containerapps": ("Microsoft.App", "containerApps"),
    "microsoft.app/jobs": ("Microsoft.App", "jobs"),
    "microsoft.app/managedenvironments": ("Microsoft.App", "managedEnvironments"),
    "microsoft.managedidentity/userassignedidentities": (
        "Microsoft.ManagedIdentity",
        "userAssignedIdentities",
    ),
}


def is_guid(value: str) -> bool:
    return bool(_GUID.match(value or ""))


def segments(path: str) -> list[str]:
    """Path segments without empty ones (``/a//b/`` -> ``[a, b]``)."""
    return [s for s in path.split("/") if s]


def norm(resource_id: str) -> str:
    """The lookup key of an id: lower case, one leading slash, no trailing slash."""
    return "/" + "/".join(segments(resource_id)).lower()


def scope_contains(outer: str, inner: str) -> bool:
    """True when ``inner`` equals ``outer`` or lies below it (segment-wise)."""
    o, i = segments(outer.lower()), segments(inner.lower())
    return i[: len(o)] == o


@dataclass(frozen=True)
class ResourceRef:
    """A resource in a group: ``.../providers/{namespace}/{type}/{name}[/{type}/{name}]``."""

    subscription: str
    resource_group: str
    namespace: str
    types: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def type(self) -> str:
        return "/".join((self.namespace, *self.types))

    @property
    def name(self) -> str:
        return self.names[-1]

    @property
    def provider_path(self) -> str:
        parts = [self.namespace]
        for t, n in zip(self.types, self.names, strict=True):
            parts += [t, n]
        return "/".join(parts)

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/{self.provider_path}"
        )

    @property
    def rg_id(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"


def parse_resource_id(resource_id: str) -> ResourceRef | None:
    """Parse a resource id inside a resource group; ``None`` for anything else."""
    segs = segments(resource_id)
    low = [s.lower() for s in segs]
    if len(segs) < 7 or low[0] != "subscriptions" or low[2] != "resourcegroups":
        return None
    if low[4] != "providers" or (len(segs) - 6) % 2 != 0:
        return None
    rest = segs[6:]
    types = tuple(rest[0::2])
    names = tuple(rest[1::2])
    if any(t.lower() == "providers" for t in types):
        return None  # an extension resource: not a plain resource id
    namespace = segs[5]
    canon = CANONICAL_TYPES.get(f"{namespace}/{types[0]}".lower())
    if canon and len(types) == 1:
        namespace, first = canon
        types = (first,)
    return ResourceRef(low[1], segs[3], namespace, types, names)


def mixed_case_id(resource_id: str) -> str:
    """The spelling ARM uses for identity map keys: ``.../resourcegroups/...``."""
    ref = parse_resource_id(resource_id)
    if ref is None:
        return resource_id
    return (
        f"/subscriptions/{ref.subscription}/resourcegroups/{ref.resource_group}"
        f"/providers/{ref.provider_path}"
    )
