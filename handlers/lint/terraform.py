"""Terraform plans (``terraform show -json PLAN``): the container apps and jobs they create
or keep, with their tags.

Read from ``resource_changes`` (every managed resource whose change leaves it in
place: create, update, replace, no-op; not delete): ``azurerm_container_app``,
``azurerm_container_app_job``, and ``azapi_resource`` whose ``type`` is
``Microsoft.App/containerApps@...`` or ``Microsoft.App/jobs@...``. A plan has
already resolved variables and locals; what stays open until apply is marked in
``after_unknown`` and is reported as not checked. A JSON state or a plan without
``resource_changes`` is read from its ``planned_values`` / ``values``.

``terraform show -json`` writes one line; run it through ``jq .`` (or
``python -m json.tool``) first for findings that point at their own lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from handlers.ids import ArmId
from handlers.lint.jsonlines import JObject, line_of
from handlers.lint.model import TERRAFORM_TYPES, Report, TagEntry, Workload, declared_workload
from handlers.lint.values import Placement, Unknown, Value, placement_of

__all__ = ["is_plan", "read_plan"]

_COMPUTED = "computed by Terraform"
_AFTER_APPLY = "after apply"


def is_plan(doc: object) -> bool:
    """True for the JSON that ``terraform show -json`` prints for a plan or a state."""
    return isinstance(doc, dict) and "format_version" in doc and any(
        k in doc for k in ("resource_changes", "planned_values", "values", "terraform_version"))


def _module_resources(module: Any) -> Iterator[Any]:
    if not isinstance(module, dict):
        return
    yield from module.get("resources") or []
    for child in module.get("child_modules") or []:
        yield from _module_resources(child)


def _changes(doc: Mapping[str, Any]) -> Iterator[tuple[Any, Any, Any]]:
    """(resource entry, its values after the change, what of them is unknown) per resource."""
    changes = doc.get("resource_changes")
    if isinstance(changes, list):
        for entry in changes:
            change = entry.get("change") if isinstance(entry, dict) else None
            if not isinstance(change, dict) or entry.get("mode", "managed") != "managed":
                continue
            if change.get("actions") == ["delete"] or not isinstance(change.get("after"), dict):
                continue
            yield entry, change["after"], change.get("after_unknown") or {}
        return
    root = (doc.get("planned_values") or doc.get("values") or {}).get("root_module")
    for entry in _module_resources(root):
        if isinstance(entry, dict) and entry.get("mode", "managed") == "managed" and \
                isinstance(entry.get("values"), dict):
            yield entry, entry["values"], {}


def _arm_type(entry: Mapping[str, Any], after: Mapping[str, Any]) -> str | None:
    tf_type = entry.get("type")
    declared = tf_type if tf_type in TERRAFORM_TYPES else after.get("type") \
        if tf_type == "azapi_resource" else None
    workload = declared_workload(declared) if isinstance(declared, str) else None
    return workload.type if workload is not None else None


def _known(after: Mapping[str, Any], unknown: Any, key: str) -> Value:
    if isinstance(unknown, dict) and unknown.get(key) is True:
        return Unknown(f"{key}, {_COMPUTED}", _AFTER_APPLY)
    return after.get(key)


def _placement(after: Mapping[str, Any], unknown: Any, address: str,
               outer: Placement) -> Placement:
    parent = _known(after, unknown, "parent_id")  # azapi: the resource group's id
    if isinstance(parent, str):
        return placement_of(parent, outer, address)
    sub = outer.subscription
    environment = _known(after, unknown, "container_app_environment_id")
    env_id = ArmId.try_parse(environment)
    if env_id is not None and env_id.subscription:
        sub = env_id.subscription
    group = _known(after, unknown, "resource_group_name")
    if isinstance(group, str):
        return Placement(sub, group, outer.location)
    return placement_of(None, Placement(sub, outer.resource_group, outer.location), address)


def _tags(workload: Workload, after: Mapping[str, Any], unknown: Any, line: int) -> None:
    tags, tags_unknown, where = after.get("tags"), _known({}, unknown, "tags"), after
    if not tags and isinstance(after.get("body"), dict | str):  # azapi: tags in the body
        body = after["body"]
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError:
                body = {}
        if isinstance(body, dict) and isinstance(body.get("tags"), dict):
            tags, where = body["tags"], body
    if isinstance(tags_unknown, Unknown) and not tags:
        workload.hidden.append((line, Unknown(_COMPUTED, _AFTER_APPLY)))
        return
    if not isinstance(tags, dict):
        return
    tags_line = line_of(where, "tags", line)
    per_tag = unknown.get("tags") if isinstance(unknown, dict) else None
    for name, value in tags.items():
        if isinstance(per_tag, dict) and per_tag.get(name) is True:
            value = Unknown(_COMPUTED, _AFTER_APPLY)
        workload.tags.append(TagEntry(name, value, line_of(tags, name, tags_line)))
    if isinstance(per_tag, dict):  # tags whose value is unknown are only in after_unknown
        for name, flag in per_tag.items():
            if flag is True and name not in tags:
                workload.tags.append(TagEntry(name, Unknown(_COMPUTED, _AFTER_APPLY),
                                              line_of(per_tag, name, tags_line)))


def read_plan(path: str, doc: Mapping[str, Any], report: Report, placement: Placement) -> None:
    """Add the workloads of Terraform plan `doc` (read from `path`) to `report`.

    `placement` gives what the command line says of subscription and location
    (a resource group comes from each resource itself).
    """
    for entry, after, unknown in _changes(doc):
        arm_type = _arm_type(entry, after)
        if arm_type is None:
            continue
        line = entry.line if isinstance(entry, JObject) else 1
        address = str(entry.get("address") or entry.get("name") or "a resource")
        where = _placement(after, unknown, address, placement)
        location = _known(after, unknown, "location")
        workload = Workload(file=path, line=line, type=arm_type,
                            name=_known(after, unknown, "name"), placement=where,
                            location=location if location is not None else placement.location)
        _tags(workload, after, unknown, line)
        report.workloads.append(workload)
