"""``inventory``: everything aca-warden manages, per workload, and its orphans.

One survey per subscription (handlers.observe.Observer.survey: the workloads
and the role-assignment listings, read once) and one snapshot per workload
from it, with no further read per workload. For each workload: the standard
identities of the policy it carries (aca-warden attaches exactly these; it
cannot tell whether a person attached one first) and the role assignments
aca-warden made for it (its ownership marks, handlers.model.is_ours) with the
grant tags that ask for them. Workloads that are gone but still hold
assignments aca-warden made are *orphans* (the next sweep revokes them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from handlers.ids import ArmId
from handlers.model import role_name
from handlers.observe import Observer, Survey
from handlers.ops.explain import Owned, kind_of, tags_by_grant
from handlers.ops.tenant import Progress
from handlers.plan import Snapshot, opted_out, outside_resource_groups

__all__ = ["Owned", "Row", "render_table", "row_of", "rows_of"]

Status = Literal["managed", "opted out", "not in apps.resource_groups", "gone"]
_CONCURRENCY = 32


@dataclass(frozen=True)
class Row:
    """One workload (or orphan) and what aca-warden manages of it."""

    workload: ArmId
    status: Status
    identities: tuple[str, ...]
    assignments: tuple[Owned, ...]

    @property
    def orphan(self) -> bool:
        return self.status == "gone"

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": str(self.workload), "type": self.workload.type,
            "subscription": self.workload.subscription,
            "resource_group": self.workload.resource_group, "status": self.status,
            "orphan": self.orphan, "identities": list(self.identities),
            "assignments": [{"id": o.assignment.id, "name": o.assignment.name, **o.to_json()}
                            for o in self.assignments],
        }


def row_of(snap: Snapshot, observer: Observer) -> Row:
    """The inventory row of one snapshot (pure)."""
    policy = observer.policy
    names = snap.role_names
    state = snap.state
    tags_of = tags_by_grant(snap)
    owned = tuple(Owned(a, role_name(names, a.role_guid), tags_of.get(a.key, ()))
                  for a in sorted(snap.owned, key=lambda a: (a.scope.lower(), a.role_guid)))
    if state is None:
        return Row(snap.app, "gone", (), owned)
    carried = {i.lower() for i in state.user_assigned}
    identities = tuple(i for i in snap.identities if i.lower() in carried)
    status: Status = "managed"
    if outside_resource_groups(snap.app, policy):
        status = "not in apps.resource_groups"
    elif opted_out(state.tags, policy):
        status = "opted out"
    return Row(snap.app, status, identities, owned)


async def rows_of(observer: Observer, survey: Survey, progress: Progress | None = None
                  ) -> list[Row]:
    """Every row of one surveyed subscription: its workloads, then its orphans."""
    sem = asyncio.Semaphore(_CONCURRENCY)
    work: list[tuple[ArmId, dict[str, Any] | None]] = [*survey.listed.items(),
                                                       *((a, None) for a in survey.gone)]
    if progress is not None:
        progress.expect(len(work))

    async def one(app: ArmId, body: dict[str, Any] | None) -> Row:
        async with sem:
            snap = await observer.observe(app, body=body, given=survey.given,
                                          past_opt_out=True)
        if progress is not None:
            progress.tick()
        return row_of(snap, observer)

    rows = await asyncio.gather(*(one(a, b) for a, b in work))
    return sorted(rows, key=lambda r: (r.orphan, str(r.workload).lower()))


# -- the table --------------------------------------------------------------------------------

_HEADERS = ("WORKLOAD", "KIND", "STATUS", "WHAT", "ROLE / IDENTITY", "TAG", "SCOPE / ID")


def _cells(row: Row) -> list[tuple[str, ...]]:
    name = f"{row.workload.resource_group}/{row.workload.name}"
    kind = kind_of(row.workload)
    status = "orphan (gone)" if row.orphan else row.status
    lines: list[tuple[str, ...]] = []
    for ident in row.identities:
        lines.append(("identity", ArmId.parse(ident).name or ident, "-", ident))
    for o in row.assignments:
        lines.append(("assignment", o.role, ", ".join(o.tags) or "(none)", o.assignment.scope))
    if not lines:
        lines.append(("-", "-", "-", "-"))
    first = (name, kind, status)
    return [(*(first if i == 0 else ("", "", "")), *cells) for i, cells in enumerate(lines)]


def render_table(rows: Iterable[Row]) -> str:
    """A table for people: one line per identity or assignment, grouped by workload."""
    table: list[Sequence[str]] = [_HEADERS]
    for row in rows:
        table += _cells(row)
    widths = [max(len(r[c]) for r in table) for c in range(len(_HEADERS))]
    return "".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
                   + "\n" for r in table)
