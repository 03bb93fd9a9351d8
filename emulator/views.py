"""What a stored resource looks like in an answer, by type and api-version.

Stored records keep everything the emulator needs (secret values, the accepted
template, ...); answers show what ARM shows. One entry point, :func:`view`, so
that a GET, a list and the inspection API (``emu.get``) always agree.
"""

from __future__ import annotations

import copy
from typing import Any

from .common import api_since
from .environments import ENV_TYPE, environment_view
from .workloads import kind_of, workload_view

__all__ = ["UAMI_TYPE_NAME", "identity_resource_view", "view"]

UAMI_TYPE_NAME = "Microsoft.ManagedIdentity/userAssignedIdentities"


def identity_resource_view(stored: dict[str, Any], api_version: str = "") -> dict[str, Any]:
    """A user-assigned identity (MSI, RANG#0, USR#10): no systemData; ``isolationScope``
    since 2024-11-30 and ``assignmentRestrictions`` since 2026-04-30."""
    body = {k: copy.deepcopy(v) for k, v in stored.items() if k != "systemData"}
    props = body.setdefault("properties", {})
    if not api_since(api_version, "2024-11-30"):
        props.pop("isolationScope", None)
    if not api_since(api_version, "2026-04-30"):
        props.pop("assignmentRestrictions", None)
    return body


def view(stored: dict[str, Any], api_version: str = "") -> dict[str, Any]:
    """The GET answer for any stored resource."""
    rtype = str(stored.get("type", ""))
    if kind_of(stored) is not None:
        return workload_view(stored, api_version)
    if rtype.lower() == ENV_TYPE.lower():
        return environment_view(stored, api_version)
    if rtype.lower() == UAMI_TYPE_NAME.lower():
        return identity_resource_view(stored, api_version)
    return copy.deepcopy(stored)
