"""Azure's built-in role definitions, as the emulator serves them.

Every role of ``handlers/data/builtin-roles.json`` (Microsoft's published
catalog; its SOURCES file says where each came from), with its real GUID and
permissions, turned into the ARM JSON of ``Microsoft.Authorization/roleDefinitions``.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = ["BUILTIN_CATALOG", "builtin_role_definitions"]

BUILTIN_CATALOG = "handlers/data/builtin-roles.json"
# The catalog does not say when a role was made; ARM's answers always carry both stamps.
_STAMP = "2015-02-02T21:55:09.8806423Z"


@lru_cache(maxsize=1)
def _catalog() -> tuple[dict[str, Any], ...]:
    text = resources.files("handlers").joinpath("data", "builtin-roles.json").read_text(
        encoding="utf-8")
    return tuple(json.loads(text))


def builtin_role_definitions() -> list[dict[str, Any]]:
    """ARM JSON of every built-in role, tenant-scoped ids (fresh copies)."""
    out = []
    for role in _catalog():
        out.append({
            "id": f"/providers/Microsoft.Authorization/roleDefinitions/{role['name']}",
            "type": "Microsoft.Authorization/roleDefinitions",
            "name": role["name"].lower(),
            "properties": {
                "roleName": role["roleName"],
                "type": role.get("roleType", "BuiltInRole"),
                "description": role.get("description", ""),
                "assignableScopes": list(role.get("assignableScopes") or ["/"]),
                "permissions": copy.deepcopy(role.get("permissions") or []),
                "createdOn": _STAMP,
                "updatedOn": _STAMP,
                "createdBy": None,
                "updatedBy": None,
            },
        })
    return out
