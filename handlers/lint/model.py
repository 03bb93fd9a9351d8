"""What the readers of infrastructure code hand to the checks: workloads and their grant tags.

Each reader (:mod:`~handlers.lint.arm`, :mod:`~handlers.lint.bicep`,
:mod:`~handlers.lint.terraform`) turns a file into :class:`Workload` records --
one per container app or job it declares, with every tag and the line it is
written on -- and into :class:`Finding` lines for what it could not follow.
:mod:`~handlers.lint.check` decides about the tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from handlers.ids import WorkloadType, workload_type
from handlers.lint.values import Partial, Placement, Unknown, Value, describe, origins_of, shown

__all__ = [
    "TERRAFORM_TYPES",
    "Finding",
    "LintError",
    "Report",
    "TagEntry",
    "Workload",
    "arm_type",
    "declared_workload",
    "entries",
    "mentions_prefix",
]

# The workload types (handlers.ids.WORKLOAD_TYPES) under the names Terraform's azurerm
# provider gives them; azapi_resource, Bicep and ARM JSON name the ARM type itself.
TERRAFORM_TYPES = {
    "azurerm_container_app": "Microsoft.App/containerApps",
    "azurerm_container_app_job": "Microsoft.App/jobs",
}


def arm_type(declared: str) -> str:
    """The ARM type of a type as Bicep and azapi declare it, ``@apiVersion`` and all
    (``Microsoft.App/jobs@2024-03-01`` -> ``Microsoft.App/jobs``)."""
    return declared.partition("@")[0]


def declared_workload(declared: str) -> WorkloadType | None:
    """The workload type a resource declares: an ARM type, with Bicep's and azapi's
    ``@apiVersion`` or without (``Microsoft.App/jobs@2024-03-01``), or a Terraform
    resource type of :data:`TERRAFORM_TYPES`; None for any other type."""
    return workload_type(TERRAFORM_TYPES.get(declared) or arm_type(declared))


@dataclass(frozen=True)
class TagEntry:
    """One tag as written: its name and value (each possibly unknown), its line, and the
    file it is written in when that is not the workload's (a module's caller)."""

    name: Value
    value: Value
    line: int
    file: str | None = None


@dataclass
class Workload:
    """A container app or job that a file deploys."""

    file: str
    line: int
    type: str  # the ARM type, as Azure spells it (handlers.ids.WORKLOAD_TYPES)
    name: Value
    placement: Placement
    location: Value
    tags: list[TagEntry] = field(default_factory=list)
    # tags lint cannot see (``tags: commonTags``), with the line that brings them in
    hidden: list[tuple[int, Unknown]] = field(default_factory=list)


@dataclass(frozen=True, order=True)
class Finding:
    """One line of lint's output: ``FILE:LINE: TAG: reason``."""

    file: str
    line: int
    tag: str
    reason: str
    not_checked: bool = False

    def __str__(self) -> str:
        return shown(f"{self.file}:{self.line}: {self.tag}: {self.reason}")


def entries(value: Value, line: int) -> tuple[list[TagEntry], list[tuple[int, Unknown]]]:
    """The tags of an evaluated ``tags`` value brought in at `line`: each member where it is
    written when known, and what lint cannot see."""
    known = value.known if isinstance(value, Partial) else value
    if not isinstance(known, dict):
        what = value if isinstance(value, Unknown) else Unknown(describe(value))
        return [], ([] if value is None else [(line, what)])
    origins = origins_of(known)
    tags = []
    for key, item in known.items():
        file, at = origins.get(key, (None, line))
        tags.append(TagEntry(key, item, at, file))
    hidden = [(line, u) for u in value.unknown] if isinstance(value, Partial) else []
    return tags, hidden


class LintError(Exception):
    """A file lint cannot read at all (missing, not parsable, not infrastructure code)."""


@dataclass
class Report:
    """What reading the files gave: workloads to check, and findings already made."""

    workloads: list[Workload] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def not_checked(self, file: str, line: int, tag: str, why: str) -> None:
        self.findings.append(Finding(file, line, tag, f"not checked: {why}", True))


def mentions_prefix(value: Value, prefix: str) -> bool:
    """True when `value` has an object key or a string that starts with the grant-tag prefix,
    anywhere inside: a sign that grant tags travel through it."""
    p = prefix.lower()
    if isinstance(value, str):
        return value.lower().startswith(p)
    if isinstance(value, dict):
        return any(mentions_prefix(k, p) or mentions_prefix(v, p) for k, v in value.items())
    if isinstance(value, list):
        return any(mentions_prefix(v, p) for v in value)
    return False
