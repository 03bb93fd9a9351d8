"""ARM ids: parsed once, compared case-insensitively (pure; no I/O).

Every ARM id aca-warden handles — a workload, a scope, an identity, a role
definition, a role assignment — becomes an :class:`ArmId` the moment it
enters the service (an event, an ARM answer, a grant tag, the policy), and
is asked for its parts instead of being split by hand::

    app = ArmId.parse("/subscriptions/S/resourcegroups/rg1/providers/Microsoft.App/"
                      "containerapps/web")
    app.subscription    # "s"  (lower-case)
    app.resource_group  # "rg1"  (as written)
    app.type            # "Microsoft.App/containerApps"
    app.name            # "web"
    app.parent          # ArmId("/subscriptions/s/resourceGroups/rg1")
    str(app)  # "/subscriptions/s/resourceGroups/rg1/providers/Microsoft.App/containerApps/web"

ARM compares ids case-insensitively and answers in several spellings
(``resourcegroups``, ``containerapps``): equality and hashing ignore case,
and ``str()`` is the one canonical spelling — the keywords ``subscriptions``,
``resourceGroups`` and ``providers``, the subscription lower-case, the
resource types this module knows (:data:`KNOWN_TYPES`) as Azure documents
them, every other segment as written.

:data:`WORKLOAD_TYPES` is the table of resource types aca-warden manages.
Their event operation names (``<type>/write``, ``<type>/delete``), the
operation-status kind ARM polls them under and the REST path to list them
derive from the table, so a new workload type is one line there.

The one :func:`arm_path_problem` (what makes a string unusable as an ARM
path, checked before anything becomes part of a URL) and the one
:func:`is_guid` live here too, and so does every other look inside an id or a
resource type: :func:`split_type`, :func:`workload_operation`, and, for ids that
infrastructure code writes with parts known only at deployment (``lint``),
:func:`resource_path` and :func:`scope_parts`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

__all__ = [
    "KNOWN_TYPES",
    "WORKLOAD_TYPES",
    "ArmId",
    "WorkloadType",
    "arm_path_problem",
    "is_guid",
    "resource_path",
    "role_definition_guid",
    "scope_parts",
    "split_type",
    "subscription_in_path",
    "subscription_problem",
    "workload_id",
    "workload_operation",
    "workload_type",
]

Piece = TypeVar("Piece")  # a part of a path that is not text (a template value only known later)


@dataclass(frozen=True)
class WorkloadType:
    """A resource type aca-warden manages (a *workload*), and what derives from it."""

    type: str  # "Microsoft.App/containerApps", as Azure documents it
    status_kind: str  # the operation-status collection ARM polls its operations under

    @property
    def namespace(self) -> str:
        return self.type.split("/", 1)[0]

    @property
    def collection(self) -> str:
        """The type's segment in ids and REST paths (``containerApps``)."""
        return self.type.split("/", 1)[1]

    @property
    def write_operation(self) -> str:
        return f"{self.type}/write"

    @property
    def delete_operation(self) -> str:
        return f"{self.type}/delete"

    def list_path(self, subscription: str) -> str:
        """The REST path that lists every workload of this type in a subscription."""
        return f"/subscriptions/{subscription}/providers/{self.type}"


# The workloads aca-warden manages (the contract's "workload"): container apps and
# Container Apps jobs. A new type is one more line here.
WORKLOAD_TYPES: tuple[WorkloadType, ...] = (
    WorkloadType("Microsoft.App/containerApps", "containerappOperationStatuses"),
    WorkloadType("Microsoft.App/jobs", "containerappsjobOperationStatuses"),
)

# Resource types spelt canonically in str(ArmId) (ARM answers some in other cases).
KNOWN_TYPES: tuple[str, ...] = (
    "Microsoft.App/containerApps",
    "Microsoft.App/jobs",
    "Microsoft.ManagedIdentity/userAssignedIdentities",
    "Microsoft.Authorization/roleAssignments",
    "Microsoft.Authorization/roleDefinitions",
    "Microsoft.Resources/tags",
    "Microsoft.Management/managementGroups",
)

_KEYWORDS = {"subscriptions": "subscriptions", "resourcegroups": "resourceGroups",
             "providers": "providers"}
_FORBIDDEN_CHARS = "%\\?#"
_MAX_ID_LENGTH = 4096
_GUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_guid(value: str) -> bool:
    """True for a GUID in its 8-4-4-4-12 form (any case)."""
    return bool(_GUID_RE.match(value))


def subscription_problem(value: str) -> str | None:
    """Why `value` is not a subscription id (a GUID: anything else could walk out of a
    URL's path, ``../x``), or None when it is one."""
    if is_guid(value):
        return None
    return (f"subscription {value!r} is not a subscription id (a GUID such as "
            "00000000-0000-0000-0000-000000000000)")


def arm_path_problem(value: str) -> str | None:
    """Why `value` is not a well-formed absolute ARM path, or None when it is.

    Checked before anything becomes part of a URL: no empty, ``.`` or ``..``
    segments, no trailing ``/``, no whitespace or control characters, none of
    ``% \\ ? #``.
    """
    if not value:
        return "it is empty"
    if len(value) > _MAX_ID_LENGTH:
        return f"it is longer than {_MAX_ID_LENGTH} characters"
    if not value.startswith("/"):
        return "it does not start with '/'"
    for ch in value:
        if ch in _FORBIDDEN_CHARS:
            return f"it contains {ch!r}"
        if ch.isspace() or not ch.isprintable():
            return f"it contains whitespace or a control character ({ch!r})"
    if value.endswith("/") and value != "/":
        return "it ends with '/'"
    for segment in value[1:].split("/"):
        if segment == "":
            return "it has an empty segment ('//')"
        if segment in (".", ".."):
            return f"it has a {segment!r} segment"
    return None


def _structure(segments: tuple[str, ...]) -> tuple[str | None, tuple[int, ...]]:
    """(why `segments` are not an ARM id or None, the indexes of their 'providers' keywords)."""
    i = 0
    if segments and segments[0].lower() == "subscriptions":
        if len(segments) < 2:
            return "subscriptions has no id", ()
        i = 2
        if len(segments) > i and segments[i].lower() == "resourcegroups":
            if len(segments) < i + 2:
                return "resourceGroups has no name", ()
            i += 2
    providers: list[int] = []
    while i < len(segments):
        if segments[i].lower() != "providers":
            return f"expected 'providers' at segment {i + 1}, found {segments[i]!r}", ()
        if len(segments) - (i + 2) < 2:
            return "a provider path needs <Namespace>/<type>/<name>", ()
        if "." not in segments[i + 1].strip("."):
            return (f"{segments[i + 1]!r} is not a resource provider namespace "
                    "(such as Microsoft.Storage)", ())
        providers.append(i)
        i += 2
        while i + 1 < len(segments) and segments[i].lower() != "providers":
            i += 2
        if i < len(segments) and segments[i].lower() != "providers":
            return f"resource type {segments[i]!r} has no name", ()
    return None, tuple(providers)


def _canonical_type(namespace: str, first: str) -> tuple[str, str]:
    wanted = f"{namespace}/{first}".lower()
    for known in KNOWN_TYPES:
        if known.lower() == wanted:
            ns, collection = known.split("/", 1)
            return ns, collection
    return namespace, first


@dataclass(frozen=True, eq=False)
class ArmId:
    """One ARM id (or scope), parsed; equal to another when they differ only in case."""

    segments: tuple[str, ...]  # canonical spelling, no leading empty segment
    providers: tuple[int, ...]  # indexes of the 'providers' keywords in `segments`

    @classmethod
    def parse(cls, value: str) -> ArmId:
        """Parse `value`; ValueError says why it is not an ARM id."""
        return _parse(value)

    @classmethod
    def try_parse(cls, value: object) -> ArmId | None:
        """The id `value` names, or None when it is not a string holding one."""
        if not isinstance(value, str):
            return None
        try:
            return _parse(value)
        except ValueError:
            return None

    # -- identity ------------------------------------------------------------------
    def __str__(self) -> str:
        return "/" + "/".join(self.segments)

    def __repr__(self) -> str:
        return f"ArmId({str(self)!r})"

    @property
    def key(self) -> str:
        """The case-insensitive comparison key (the lower-cased canonical string)."""
        return str(self).lower()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArmId) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    # -- parts ------------------------------------------------------------------------
    @property
    def subscription(self) -> str | None:
        """The subscription id, lower-case; None above subscriptions."""
        if len(self.segments) >= 2 and self.segments[0] == "subscriptions":
            return self.segments[1]
        return None

    @property
    def resource_group(self) -> str | None:
        """The resource group's name as written; None outside resource groups."""
        if len(self.segments) >= 4 and self.segments[2] == "resourceGroups":
            return self.segments[3]
        return None

    @property
    def provider(self) -> str | None:
        """The namespace of the resource's type (``Microsoft.App``); None for a
        subscription, a resource group or the root."""
        return self.segments[self.providers[-1] + 1] if self.providers else None

    @property
    def type(self) -> str | None:
        """The resource's full type (``Microsoft.App/containerApps``, a child's
        ``Microsoft.App/containerApps/authConfigs``); None without a provider."""
        if not self.providers:
            return None
        start = self.providers[-1]
        rest = self.segments[start + 2:]
        return "/".join((self.segments[start + 1], *rest[0::2]))

    @property
    def name(self) -> str | None:
        """The last name (resource, resource group or subscription); None for the root."""
        if self.providers or self.resource_group is None:
            return self.segments[-1] if self.segments else None
        return self.resource_group

    @property
    def is_top_level(self) -> bool:
        """A resource directly under its provider (not a child resource)."""
        return bool(self.providers) and len(self.segments) - self.providers[-1] == 4

    @property
    def parent(self) -> ArmId | None:
        """The id one level up: a child's resource, an extension's resource, a top-level
        resource's resource group (or subscription), a group's subscription; the root
        for a subscription; None for the root."""
        if not self.segments:
            return None
        if self.providers:
            start = self.providers[-1]
            cut = start if self.is_top_level else len(self.segments) - 2
            return ArmId(self.segments[:cut], self.providers[:-1] if cut == start
                         else self.providers)
        return ArmId(self.segments[:-2], ())

    def child(self, type_path: str, name: str) -> ArmId:
        """An extension resource of this one: ``<self>/providers/<type_path>/<name>``."""
        return _parse(f"{self if self.segments else ''}/providers/{type_path}/{name}")

    def contains(self, other: ArmId) -> bool:
        """True when `other` equals this id or lies below it, segment-wise."""
        mine, theirs = self.key.rstrip("/"), other.key
        return theirs == mine or theirs.startswith(mine + "/") or not self.segments

    @property
    def workload_type(self) -> WorkloadType | None:
        """The workload type this id is an id of, else None (children are not workloads)."""
        if not self.is_top_level or self.resource_group is None:
            return None
        return workload_type(self.type or "")


@lru_cache(maxsize=8192)
def _parse(value: str) -> ArmId:
    if value == "/":
        return ArmId((), ())
    problem = arm_path_problem(value)
    if problem is not None:
        raise ValueError(problem)
    raw = tuple(value[1:].split("/"))
    problem, providers = _structure(raw)
    if problem is not None:
        raise ValueError(problem)
    out = list(raw)
    if out[0].lower() == "subscriptions":
        out[0], out[1] = "subscriptions", out[1].lower()
        if len(out) > 2 and out[2].lower() == "resourcegroups":
            out[2] = "resourceGroups"
    for p in providers:
        out[p] = "providers"
        out[p + 1], out[p + 2] = _canonical_type(out[p + 1], out[p + 2])
    return ArmId(tuple(out), providers)


def workload_type(type_name: str) -> WorkloadType | None:
    """The :data:`WORKLOAD_TYPES` entry for a resource type (any case), else None."""
    wanted = type_name.lower()
    for w in WORKLOAD_TYPES:
        if w.type.lower() == wanted:
            return w
    return None


@lru_cache(maxsize=4096)  # every listed assignment asks for its role's GUID
def role_definition_guid(value: str) -> str | None:
    """The GUID (lower-case) a role-definition id names, else None: an id of
    ``Microsoft.Authorization/roleDefinitions/<guid>`` at the tenant or under a
    subscription, as ARM answers them (any case)."""
    parsed = ArmId.try_parse(value)
    if parsed is None or not parsed.is_top_level or \
            (parsed.type or "").lower() != "microsoft.authorization/roledefinitions":
        return None
    scope = parsed.parent
    if scope is None or scope.providers or scope.resource_group is not None:
        return None
    name = parsed.name or ""
    return name.lower() if is_guid(name) else None


def workload_operation(operation: str) -> tuple[WorkloadType, str] | None:
    """The workload type and verb (``write``, ``delete``) of an operation name such as
    ``microsoft.app/JOBS/write`` (any case), else None."""
    wanted = operation.lower()
    for w in WORKLOAD_TYPES:
        for verb, name in (("write", w.write_operation), ("delete", w.delete_operation)):
            if name.lower() == wanted:
                return w, verb
    return None


def workload_id(value: object) -> ArmId | None:
    """The workload `value` is the id of (a top-level resource of a :data:`WORKLOAD_TYPES`
    type in a resource group), else None: children, other types, malformed ids."""
    parsed = ArmId.try_parse(value)
    return parsed if parsed is not None and parsed.workload_type is not None else None


def subscription_in_path(path: str) -> str:
    """The subscription id (lower-case) in an ARM request path or URL, "" when none."""
    path = path.split("://", 1)[-1].split("?", 1)[0]
    marker = "/subscriptions/"
    at = path.lower().find(marker)
    if at < 0:
        return ""
    rest = path[at + len(marker):]
    return rest.split("/", 1)[0].lower()


def split_type(resource_type: str) -> tuple[str, tuple[str, ...]]:
    """A resource type's namespace and type names, outermost first:
    ``Microsoft.Storage/storageAccounts/blobServices`` -> ``("Microsoft.Storage",
    ("storageAccounts", "blobServices"))``; a string without ``/`` has no type names."""
    namespace, *names = resource_type.split("/")
    return namespace, tuple(names)


def resource_path(resource_type: str,
                  names: Sequence[str | Piece]) -> tuple[str | Piece, ...] | None:
    """The segments below its scope of the id of a resource of `resource_type` named
    `names` (one per type name): ``("providers", namespace, type, name[, type, name ...])``.

    Names may be pieces that are not text (known later); a text name may hold several,
    as templates name a child resource (``"st/default"`` for
    ``Microsoft.Storage/storageAccounts/blobServices``). None when the names do not pair
    up with the type names.
    """
    namespace, types = split_type(resource_type)
    if len(types) != len(names):
        flat: list[str | Piece] = []
        for name in names:
            flat.extend(name.split("/") if isinstance(name, str) else [name])
        names = flat
    if not types or len(types) != len(names):
        return None
    path: list[str | Piece] = ["providers", namespace]
    for type_name, name in zip(types, names, strict=True):
        path += [type_name, name]
    return tuple(path)


def _segments(parts: Iterable[str | Piece]) -> list[tuple[str | Piece, ...]]:
    """The ``/``-separated segments of a path written as text and other pieces (each piece
    stays in the segment it is written in; adjacent text merges, empty text drops)."""
    segments: list[tuple[str | Piece, ...]] = []
    current: list[str | Piece] = []

    def add(piece: str | Piece) -> None:
        if isinstance(piece, str) and current and isinstance(current[-1], str):
            current[-1] = current[-1] + piece
        elif piece != "":
            current.append(piece)

    for part in parts:
        if not isinstance(part, str):
            add(part)
            continue
        first, *rest = part.split("/")
        add(first)
        for text in rest:
            segments.append(tuple(current))
            current = []
            add(text)
    segments.append(tuple(current))
    return segments[1:] if segments and segments[0] == () else segments


def scope_parts(path: Iterable[str | Piece]) -> tuple[tuple[str | Piece, ...] | None,
                                                      tuple[str | Piece, ...] | None]:
    """The subscription and the resource group that a path names, each as the pieces it
    is written in, None where the path names none: the scope of an id that is only
    partly known, such as ``["/subscriptions/", <sub>, "/resourceGroups/rg-", <env>]``
    -> ``((<sub>,), ("rg-", <env>))``."""
    segments = _segments(path)

    def keyword(index: int, word: str) -> bool:
        """Whether segment `index` is `word` (any case) and a non-empty segment follows."""
        if len(segments) <= index + 1 or segments[index + 1] == ():
            return False
        text = segments[index][0] if len(segments[index]) == 1 else None
        return isinstance(text, str) and text.lower() == word

    if not keyword(0, "subscriptions"):
        return None, None
    return segments[1], (segments[3] if keyword(2, "resourcegroups") else None)
