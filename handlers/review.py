"""A parsed policy, reviewed once at start: what can never apply, and what manages nothing.

handlers.policy checks each key on its own (type, shape, placeholders, names
Azure can never carry). What needs the privilege floor (handlers.grants) and
Azure's built-in roles (``handlers/data/builtin-roles.json``) is checked here:

* **can never apply** -- :class:`~handlers.errors.PolicyError`, the service
  does not start: ``grants.allowed_roles`` naming only built-in roles that fall
  under the privilege floor (``["Owner"]``): no grant tag could ever be
  admitted by what the policy says it admits;
* **manages nothing** -- a warning (the policy is coherent, but likely not
  what was meant): an empty ``apps.resource_groups`` (no app is managed), an
  empty ``grants.allowed_roles`` or ``grants.allowed_scopes`` (every grant tag
  is refused), a floor role listed next to grantable ones (that entry never
  applies).

Custom roles cannot be known before ARM is asked, so only built-in names,
GUIDs and role-definition ids are judged.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from handlers.errors import PolicyError
from handlers.grants import classify_role, role_guid_of
from handlers.policy import Policy

__all__ = ["builtin_roles", "floor_roles", "review_policy"]


@lru_cache(maxsize=1)
def builtin_roles() -> tuple[dict[str, Any], ...]:
    """Azure's built-in role definitions as the project ships them
    (``handlers/data/builtin-roles.json``: ``name`` is the GUID, ``roleName`` the name)."""
    text = resources.files("handlers").joinpath("data", "builtin-roles.json").read_text(
        encoding="utf-8")
    return tuple(json.loads(text))


@lru_cache(maxsize=1)
def floor_roles() -> dict[str, tuple[str, str]]:
    """Built-in roles under the floor: lower-case name and GUID -> (name, what makes it so)."""
    out: dict[str, tuple[str, str]] = {}
    for role in builtin_roles():
        level = classify_role(role.get("permissions"))
        if level.level == "floor":
            entry = (str(role["roleName"]), level.why)
            out[str(role["roleName"]).lower()] = entry
            out[str(role["name"]).lower()] = entry
    return out


def _floor_entry(entry: str) -> tuple[str, str] | None:
    """(role name, why) when an ``allowed_roles`` entry names a built-in floor role."""
    key = entry.strip().lower()
    return floor_roles().get(key) or floor_roles().get((role_guid_of(key) or "").lower())


def review_policy(policy: Policy) -> list[str]:
    """Warnings about `policy` (see the module docstring); PolicyError for what can never
    apply. Messages name the file and the key."""
    where = f"policy {policy.source or '(built-in defaults)'}"
    warnings: list[str] = []
    floor = {e: hit for e in policy.allowed_roles if (hit := _floor_entry(e)) is not None}
    if floor:
        named = ", ".join(f"{e!r} ({name}: {why})" for e, (name, why) in floor.items())
        if len(floor) == len(policy.allowed_roles):
            raise PolicyError(
                f"{where}: grants.allowed_roles names only roles under the privilege floor, "
                f"which can never be granted (no setting allows them): {named}; expected "
                'roles that cannot grant access, or "*"')
        warnings.append(f"{where}: grants.allowed_roles: {named} can never be granted (under "
                        "the privilege floor); that entry has no effect")
    if not policy.resource_groups:
        warnings.append(f"{where}: apps.resource_groups is empty: no app is managed")
    for key, value in (("allowed_roles", policy.allowed_roles),
                       ("allowed_scopes", policy.allowed_scopes)):
        if not value:
            warnings.append(f"{where}: grants.{key} is empty: every grant tag will be refused")
    return warnings
