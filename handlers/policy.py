"""The TOML policy, read and validated once at start.

Where the policy comes from (first match wins):

1. ``WARDEN_POLICY``: that file; a missing file is an error.
2. ``policy.toml`` in the current directory (the function app's root in Azure).
3. Every default, with a warning in the log.

``WARDEN_DRY_RUN`` = ``1``, ``true``, ``yes`` or ``on`` (any case) turns
``run.dry_run`` on; ``0``, ``false``, ``no``, ``off`` or empty leave the file's
setting as it is; any other value is an error (:class:`PolicyError`, a usage
error): a typo must never mean "write for real".

A policy that does not parse, names an unknown table or key, has a value of
the wrong type or a value that cannot work (an identity template that is not a
user-assigned identity id, a malformed scope, an unknown ``{placeholder}``)
raises :class:`~handlers.errors.PolicyError` whose message names the file, the
key (``grants.allowed_roles``) and what was expected. Nothing is half-loaded:
the service does not start with a policy it does not understand.

Templates in ``identities.standard`` and ``grants.allowed_scopes`` may use
``{subscription}``, ``{resourceGroup}`` and ``{location}``; :func:`expand`
fills them in for one app.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .errors import PolicyError
from .events import type_name
from .ids import ArmId, arm_path_problem

__all__ = [
    "DEFAULT_POLICY_FILE",
    "DRY_RUN_ENV",
    "PLACEHOLDERS",
    "Policy",
    "dry_run_from_env",
    "expand",
    "load_policy",
    "named_subscriptions",
    "parse_policy",
    "read_policy_file",
    "short_location",
    "subscriptions_from_env",
]

log = logging.getLogger(__name__)

DEFAULT_POLICY_FILE = "policy.toml"
PLACEHOLDERS = ("subscription", "resourceGroup", "location")
DRY_RUN_ENV = "WARDEN_DRY_RUN"
SUBSCRIPTIONS_ENV = "WARDEN_SUBSCRIPTIONS"
_DRY_RUN_ON = ("1", "true", "yes", "on")
_DRY_RUN_OFF = ("0", "false", "no", "off", "")
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
# Values used only to check the shape of a template once its placeholders are filled.
_SAMPLE = {
    "subscription": "00000000-0000-0000-0000-000000000000",
    "resourceGroup": "rg",
    "location": "eastus",
}


@dataclass(frozen=True)
class Policy:
    """The validated policy; defaults are the contract's."""

    standard_identities: tuple[str, ...] = ()
    create_missing: bool = False
    tag_prefix: str = "grant:"
    allowed_roles: tuple[str, ...] = ("*",)
    allowed_scopes: tuple[str, ...] = (
        "/subscriptions/{subscription}/resourceGroups/{resourceGroup}",
    )
    enable_system_identity: bool = True
    resource_groups: tuple[str, ...] = ("*",)
    opt_out_tag: str = "warden:ignore"
    dry_run: bool = False
    source: str | None = None  # path it was read from, None = defaults


def short_location(location: str) -> str:
    """ARM's short location name: ``"East US"`` -> ``"eastus"``."""
    return "".join(location.split()).lower()


def _app_parts(app_id: str) -> tuple[str, str]:
    """(subscription lower-case, resource group as given) of an ARM id."""
    parsed = ArmId.try_parse(app_id)
    if parsed is None or parsed.subscription is None or parsed.resource_group is None:
        raise ValueError(f"{app_id!r} is not a resource id inside a resource group")
    return parsed.subscription, parsed.resource_group


def expand(template: str, app_id: str, location: str | None) -> str:
    """`template` with ``{subscription}``, ``{resourceGroup}`` and ``{location}`` filled in.

    The values are the app's: subscription (lower-case), resource group (as in
    `app_id`) and location in its short form. Raises ValueError when the
    template needs a location and none is given, or `app_id` has no resource group.
    """
    subscription, resource_group = _app_parts(app_id)
    values = {"subscription": subscription, "resourceGroup": resource_group}
    if location is not None:
        values["location"] = short_location(location)

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            if name == "location":
                raise ValueError(f"{template!r} needs the app's location")
            return match.group(0)
        return values[name]

    return _PLACEHOLDER_RE.sub(fill, template)


def named_subscriptions(scopes: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The subscriptions that ``scopes`` (``grants.allowed_scopes``) name literally.

    ``/subscriptions/<id>/...`` names ``<id>`` (lower-case); a scope whose
    subscription segment is a placeholder (``{subscription}``, the app's own)
    names none. Sorted, without repeats. Cleanup searches these subscriptions
    besides the app's own, since grants may have been made there.
    """
    found: set[str] = set()
    for scope in scopes:
        parsed = ArmId.try_parse(scope.strip())
        sub = parsed.subscription if parsed is not None else None
        if sub and "{" not in sub and "}" not in sub:
            found.add(sub)
    return tuple(sorted(found))


# --- validation -----------------------------------------------------------------------------


# TOML's names of the types tomllib gives (bool before int: a bool is an int); a date or
# a time keeps Python's name.
_TOML_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"), (int, "integer"), (float, "float"), (str, "string"), (list, "array"),
    (dict, "table"))


def _toml_kind(value: object) -> str:
    """TOML's name for the type of `value`, for messages."""
    return type_name(value, _TOML_TYPES)


def _placeholder_problem(template: str) -> str | None:
    names = _PLACEHOLDER_RE.findall(template)
    for name in names:
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            return f"unknown placeholder {{{name}}}; known: {known}"
    if "{" in _PLACEHOLDER_RE.sub("", template) or "}" in _PLACEHOLDER_RE.sub("", template):
        return "unbalanced '{' or '}'"
    return None


def _sample(template: str) -> str:
    return _PLACEHOLDER_RE.sub(lambda m: _SAMPLE[m.group(1)], template)


def _template_problem(
    template: str, what: str, shape_problem: Callable[[str], str | None]
) -> str | None:
    """What is wrong with `template`: its placeholders, or, filled with sample values,
    its form as an ARM path (named `what`) or its shape as an id (None: not an id)."""
    problem = _placeholder_problem(template)
    if problem:
        return problem
    filled = _sample(template)
    problem = arm_path_problem(filled)
    if problem:
        return f"not a well-formed {what}: {problem}"
    return shape_problem(filled)


def _identity_shape_problem(filled: str) -> str | None:
    parsed = ArmId.try_parse(filled)
    if (
        parsed is None
        or parsed.resource_group is None
        or not parsed.is_top_level
        or (parsed.type or "").lower() != "microsoft.managedidentity/userassignedidentities"
        or len(parsed.segments) != 8
    ):
        return "not a user-assigned identity id"
    return None


def _scope_shape_problem(filled: str) -> str | None:
    if not filled.lower().startswith("/subscriptions/"):
        return "it does not start with /subscriptions/<subscription>"
    try:
        ArmId.parse(filled)
    except ValueError as e:
        return f"not an ARM scope: {e}"
    return None


def _identity_problem(template: str) -> str | None:
    return _template_problem(template, "resource id", _identity_shape_problem)


def _scope_problem(template: str) -> str | None:
    return _template_problem(template, "ARM scope", _scope_shape_problem)


def _nonempty(value: str) -> str | None:
    return "it is empty" if not value.strip() else None


# Azure refuses these characters in tag names: a prefix or tag name holding one never matches.
_TAG_NAME_FORBIDDEN = "<>%&\\?/"


def _tag_name_problem(value: str) -> str | None:
    bad = sorted({c for c in value if c in _TAG_NAME_FORBIDDEN})
    if bad:
        return (f"Azure tag names cannot contain {' '.join(bad)}, so no tag would ever "
                "match it")
    return _nonempty(value)


def _group_problem(value: str) -> str | None:
    if "/" in value:
        return "a resource-group name never contains '/', so no app would ever match it"
    return _nonempty(value)


@dataclass(frozen=True)
class _Key:
    field: str
    kind: str  # "bool" | "str" | "list"
    check: Callable[[str], str | None] | None = None
    expected: str = ""


_STANDARD_ID = (
    "a user-assigned identity id, /subscriptions/{subscription}/resourceGroups/<rg>"
    "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>"
)
_SCHEMA: dict[str, dict[str, _Key]] = {
    "identities": {
        "standard": _Key("standard_identities", "list", _identity_problem, _STANDARD_ID),
        "create_missing": _Key("create_missing", "bool"),
    },
    "grants": {
        "tag_prefix": _Key("tag_prefix", "str", _tag_name_problem,
                           "the start of a tag name (no < > % & \\ ? /)"),
        "allowed_roles": _Key(
            "allowed_roles", "list", _nonempty, 'role names, role-definition GUIDs or "*"'
        ),
        "allowed_scopes": _Key(
            "allowed_scopes", "list", _scope_problem, "ARM scopes starting with /subscriptions/"
        ),
        "enable_system_identity": _Key("enable_system_identity", "bool"),
    },
    "apps": {
        "resource_groups": _Key(
            "resource_groups", "list", _group_problem, "resource-group names or shell-style globs"
        ),
        "opt_out_tag": _Key("opt_out_tag", "str", _tag_name_problem,
                            "a tag name (no < > % & \\ ? /)"),
    },
    "run": {
        "dry_run": _Key("dry_run", "bool"),
    },
}


def _convert(where: str, key: _Key, value: Any) -> Any:
    if key.kind == "bool":
        if not isinstance(value, bool):
            raise PolicyError(
                f"{where}: expected a boolean (true or false), got {_toml_kind(value)}"
            )
        return value
    if key.kind == "str":
        if not isinstance(value, str):
            raise PolicyError(f"{where}: expected a string, got {_toml_kind(value)}")
        items = [value]
    else:
        if not isinstance(value, list):
            raise PolicyError(f"{where}: expected a list of strings, got {_toml_kind(value)}")
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise PolicyError(
                    f"{where}: expected a list of strings, got {_toml_kind(item)} "
                    f"at position {index + 1}"
                )
        items = value
    if key.check is not None:
        for item in items:
            problem = key.check(item)
            if problem:
                raise PolicyError(f"{where}: {item!r}: {problem}; expected {key.expected}")
    return value if key.kind == "str" else tuple(value)


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate the TOML `text`; `source` names the file in messages."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy {source}: not valid TOML: {exc}") from None
    fields: dict[str, Any] = {}
    for table, content in document.items():
        keys = _SCHEMA.get(table)
        if keys is None:
            known = ", ".join(f"[{t}]" for t in _SCHEMA)
            raise PolicyError(
                f"policy {source}: unknown table or key {table!r}; expected one of {known}"
            )
        if not isinstance(content, dict):
            raise PolicyError(
                f"policy {source}: {table}: expected a table, got {_toml_kind(content)}"
            )
        for name, value in content.items():
            key = keys.get(name)
            if key is None:
                known = ", ".join(f"{table}.{k}" for k in keys)
                raise PolicyError(
                    f"policy {source}: unknown key {table}.{name}; expected one of {known}"
                )
            fields[key.field] = _convert(f"policy {source}: {table}.{name}", key, value)
    return Policy(**fields, source=source)


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise PolicyError(f"policy {path}: cannot read the file: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(f"policy {path}: not valid TOML: the file is not UTF-8") from None


def read_policy_file(path: str) -> Policy:
    """The policy in the file at `path` (``plan --policy``); PolicyError names the file."""
    if not os.path.exists(path):
        raise PolicyError(f"policy {path}: the file does not exist")
    return parse_policy(_read(path), path)


def load_policy(env: Mapping[str, str] | None = None, cwd: str | None = None) -> Policy:
    """The policy for this process (see the module docstring); raises PolicyError."""
    env = os.environ if env is None else env
    cwd = os.getcwd() if cwd is None else cwd
    named = env.get("WARDEN_POLICY", "")
    if named:
        path = named if os.path.isabs(named) else os.path.join(cwd, named)
        if not os.path.exists(path):
            raise PolicyError(f"policy {named}: the file named by WARDEN_POLICY does not exist")
        policy = parse_policy(_read(path), named)
    else:
        path = os.path.join(cwd, DEFAULT_POLICY_FILE)
        if os.path.exists(path):
            policy = parse_policy(_read(path), path)
        else:
            log.warning(
                "no policy file (WARDEN_POLICY unset, no %s in %s): using every default",
                DEFAULT_POLICY_FILE,
                cwd,
            )
            policy = Policy()
    if dry_run_from_env(env):
        policy = replace(policy, dry_run=True)
    return policy


def subscriptions_from_env(env: Mapping[str, str]) -> list[str]:
    """The subscriptions ``WARDEN_SUBSCRIPTIONS`` names (comma-separated, blanks dropped),
    as written: the sweep's and the operator's commands' default."""
    return [s.strip() for s in env.get(SUBSCRIPTIONS_ENV, "").split(",") if s.strip()]


def dry_run_from_env(env: Mapping[str, str]) -> bool:
    """Whether ``WARDEN_DRY_RUN`` turns dry run on; PolicyError for a value it does not know."""
    raw = env.get(DRY_RUN_ENV, "")
    value = raw.strip().lower()
    if value in _DRY_RUN_ON:
        return True
    if value in _DRY_RUN_OFF:
        return False
    raise PolicyError(
        f"{DRY_RUN_ENV}={raw.strip()!r} is not a known value: "
        f"{', '.join(_DRY_RUN_ON)} turn dry run on; {', '.join(_DRY_RUN_OFF[:-1])} or empty "
        "leave it off (any case)"
    )
