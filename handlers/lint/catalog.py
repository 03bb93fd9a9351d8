"""The roles lint knows: Azure's built-in roles, shipped with the project, and (with
``--arm``) custom roles looked up in ARM through the service's own ARM module."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from handlers.grants import is_guid, role_guid_of
from handlers.ids import ArmId
from handlers.lint.model import LintError
from handlers.review import builtin_roles

__all__ = ["RoleCatalog", "RoleDef", "lookup_in_arm"]


@dataclass(frozen=True)
class RoleDef:
    """A role definition: what the checks need of it."""

    name: str
    guid: str
    permissions: list[dict[str, Any]]

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RoleDef:
        """From the catalog's or ARM's form (``properties`` nested or not)."""
        nested = d.get("properties")
        props: Mapping[str, Any] = nested if isinstance(nested, dict) else d
        return cls(name=str(props.get("roleName") or d.get("name")),
                   guid=str(d.get("name") or "").lower(),
                   permissions=list(props.get("permissions") or []))


class RoleCatalog:
    """Roles by name (case-insensitive), GUID and role-definition id."""

    def __init__(self, roles: Iterable[RoleDef] = ()) -> None:
        self._by_guid: dict[str, RoleDef] = {}
        self._by_name: dict[str, RoleDef] = {}
        for role in roles:
            self.add(role)

    @classmethod
    def builtin(cls) -> RoleCatalog:
        """Azure's built-in roles, as the service's policy review reads them."""
        return cls(RoleDef.from_json(d) for d in builtin_roles())

    def add(self, role: RoleDef) -> None:
        self._by_guid[role.guid] = role
        self._by_name[role.name.lower()] = role

    def __len__(self) -> int:
        return len(self._by_guid)

    def find(self, role: str) -> RoleDef | None:
        """The role a grant names (name, GUID or role-definition id), or None."""
        guid = role_guid_of(role)
        if guid is not None:
            return self._by_guid.get(guid)
        if role.startswith("/") or is_guid(role):
            return None
        return self._by_name.get(role.lower())


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def _unauthenticated(error: BaseException) -> bool:
    from azure.core.exceptions import ClientAuthenticationError

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ClientAuthenticationError):
            return True
        seen = seen.__cause__
    return False


async def lookup_in_arm(roles: list[str], subscription: str | None) -> dict[str, RoleDef | str]:
    """Each role of `roles` as ARM defines it: a RoleDef, or why it could not be looked up.

    Uses the service's own ARM client (credential and endpoint from the
    environment, as ``handle`` does). The subscription is `subscription`, else
    the one a role-definition id names, else the first one the credential can
    read. A role ARM does not know is left out. Raises LintError when there is
    no credential at all: ``--arm`` cannot work, which is a usage error.
    """
    try:
        from handlers.azure import Arm
    except ModuleNotFoundError as e:  # installed for the hook alone, without the service
        raise LintError(f"--arm needs the service's requirements ({e.name} is not "
                        "installed): pip install -r requirements.txt") from None

    out: dict[str, RoleDef | str] = {}
    arm = Arm.from_env()
    try:
        subscriptions = [subscription] if subscription else []
        for role in roles:
            role_id = ArmId.try_parse(role) if role.startswith("/") else None
            named = role_id.subscription if role_id is not None else None
            try:
                if not subscriptions and not named:
                    subscriptions = (await arm.list_subscriptions())[:1]
                    if not subscriptions:
                        return {r: "the credential can read no subscription" for r in roles}
                found = await arm.find_role(named or subscriptions[0], role)
            except Exception as e:  # noqa: BLE001 - reported per role, as "not checked"
                if _unauthenticated(e):
                    raise LintError(f"--arm: no credential for ARM: {e}") from None
                out[role] = _first_line(e)
                continue
            if found is not None:
                out[role] = RoleDef.from_json(found)
    finally:
        await arm.close()
    return out
