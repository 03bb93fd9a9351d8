"""ARM JSON templates: the container apps and jobs they deploy, with their tags.

Resources are read from ``resources`` (an array, or an object of symbolic names
in language version 2.0). A ``Microsoft.Resources/deployments`` resource with
an inline ``template`` (or a ``templateLink.relativePath`` to a file next to
this one) is followed: its ``resourceGroup`` / ``subscriptionId`` place what it
deploys, and with ``expressionEvaluationOptions.scope = "inner"`` its
``parameters`` are bound; with the default outer scope its expressions see this
template's parameters and variables. Templates linked by URI are not followed.

Expressions are evaluated (:mod:`~handlers.lint.armexpr`): variables and the
functions that :mod:`~handlers.lint.values` knows. A parameter of the file
given on the command line is decided at deployment, so it stays unknown even
when it has a ``defaultValue``; a parameter of a nested template takes the
value bound to it, else its default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from handlers.lint.armexpr import ExpressionError, evaluate, is_expression, literal
from handlers.lint.files import load_json
from handlers.lint.jsonlines import JObject, line_of
from handlers.lint.model import (
    Report,
    TagEntry,
    Workload,
    declared_workload,
    entries,
    mentions_prefix,
)
from handlers.lint.values import Obj, Placement, Unknown, Value, describe, join, placement_of

__all__ = ["is_template", "read_template"]

_MAX_DEPTH = 10


def is_template(doc: object) -> bool:
    """True for a JSON document shaped like an ARM deployment template."""
    if not isinstance(doc, dict):
        return False
    schema = doc.get("$schema")
    if isinstance(schema, str) and "deploymenttemplate" in schema.lower():
        return True
    return "resources" in doc and isinstance(doc["resources"], list | dict) and (
        "contentVersion" in doc or "parameters" in doc)


def _get(obj: object, name: str) -> tuple[Any, str | None]:
    """(value, key as written) of property `name`, case-insensitively (ARM's way)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key.lower() == name.lower():
                return value, key
    return None, None


class _Template:
    """One template's parameters and variables, as its expressions see them."""

    def __init__(self, path: str, doc: Mapping[str, Any], placement: Placement,
                 bound: Mapping[str, Value] | None, parent: _Template | None = None,
                 stack: tuple[str, ...] = ()) -> None:
        self.path = path
        self.stack = (*stack, os.path.realpath(path))  # the files that link this one, and it
        self.doc = doc
        self.placement = placement
        self.bound = bound  # None: the deployment decides every parameter
        self.parent = parent  # outer-scope nested template: parameters and variables are its
        self._variables: dict[str, Value] = {}
        self._evaluating: set[str] = set()

    def value(self, node: Any) -> Value:
        """A JSON node of the template with its expressions evaluated."""
        if isinstance(node, str):
            if not is_expression(node):
                return literal(node)
            try:
                return evaluate(node, self)
            except ExpressionError as e:
                return Unknown(f"an expression lint cannot parse ({e})")
            except RecursionError:
                return Unknown("an expression nested too deeply")
        if isinstance(node, dict):
            lines = node.key_lines if isinstance(node, JObject) else {}
            return Obj({k: self.value(v) for k, v in node.items()},
                       origins={k: (self.path, n) for k, n in lines.items()})
        if isinstance(node, list):
            return [self.value(v) for v in node]
        return node

    def parameter(self, name: Value) -> Value:
        if self.parent is not None:
            return self.parent.parameter(name)
        if not isinstance(name, str):
            return Unknown(f"a parameter named by {describe(name)}")
        if self.bound is None:
            return Unknown(f"parameter '{name}'")
        for key, value in self.bound.items():
            if key.lower() == name.lower():
                return value
        definition, _ = _get(_get(self.doc, "parameters")[0], name)
        default, _ = _get(definition, "defaultValue")
        if default is None:
            return Unknown(f"parameter '{name}' (not passed, no default)")
        return self.value(default)

    def variable(self, name: Value) -> Value:
        if self.parent is not None:
            return self.parent.variable(name)
        if not isinstance(name, str):
            return Unknown(f"a variable named by {describe(name)}")
        key = name.lower()
        if key in self._variables:
            return self._variables[key]
        if key in self._evaluating:
            return Unknown(f"variable '{name}' (defined in terms of itself)")
        definition, _ = _get(_get(self.doc, "variables")[0], name)
        if definition is None:
            return Unknown(f"variable '{name}' (not defined)")
        self._evaluating.add(key)
        try:
            value = self.value(definition)
        finally:
            self._evaluating.discard(key)
        self._variables[key] = value
        return value


def _resources(doc: Mapping[str, Any]) -> list[Any]:
    resources, _ = _get(doc, "resources")
    if isinstance(resources, dict):
        return list(resources.values())
    return resources if isinstance(resources, list) else []


def _tags(template: _Template, resource: Any, workload: Workload) -> None:
    node, key = _get(resource, "tags")
    line = line_of(resource, key or "", workload.line)
    if node is None:
        return
    if isinstance(node, dict):
        for name, raw in node.items():
            workload.tags.append(TagEntry(name, template.value(raw), line_of(node, name, line)))
        return
    tags, hidden = entries(template.value(node), line)
    workload.tags += tags
    workload.hidden += hidden


def _workload(template: _Template, path: str, resource: Any, arm_type: str) -> Workload:
    line = resource.line if isinstance(resource, JObject) else 1
    location = template.value(_get(resource, "location")[0])
    workload = Workload(file=path, line=line, type=arm_type,
                        name=template.value(_get(resource, "name")[0]),
                        placement=template.placement, location=location)
    _tags(template, resource, workload)
    return workload


def _nested(template: _Template, path: str, resource: Any, report: Report, prefix: str,
            depth: int) -> None:
    """Follow a Microsoft.Resources/deployments resource."""
    props, _ = _get(resource, "properties")
    line = resource.line if isinstance(resource, JObject) else 1
    name = template.value(_get(resource, "name")[0])
    what = f"deployment {name!r}" if isinstance(name, str) else "a nested deployment"
    placement = template.placement
    rg, _ = _get(resource, "resourceGroup")
    sub, _ = _get(resource, "subscriptionId")
    if rg is not None or sub is not None:
        sub_value = template.value(sub) if sub is not None else placement.subscription
        rg_value = template.value(rg) if rg is not None else placement.resource_group
        placement = placement_of(join(["/subscriptions/", sub_value, "/resourceGroups/",
                                       rg_value]), placement, what)
    options, _ = _get(props, "expressionEvaluationOptions")
    inner = str(_get(options, "scope")[0] or "").lower() == "inner"
    raw_params, _ = _get(props, "parameters")
    bound: dict[str, Value] = {}
    if isinstance(raw_params, dict):
        for key, spec in raw_params.items():
            value, _ = _get(spec, "value")
            bound[key] = template.value(value) if value is not None else Unknown(
                f"parameter '{key}' of {what} (a reference, e.g. to Key Vault)")
    inline, _ = _get(props, "template")
    link, _ = _get(props, "templateLink")
    child_path = path
    if isinstance(inline, dict):
        doc: Mapping[str, Any] = inline
    else:
        relative, _ = _get(link, "relativePath")
        if not isinstance(relative, str):
            if mentions_prefix(bound, prefix):
                report.not_checked(path, line, "template",
                                   f"{what} links a template lint cannot read (by URI or "
                                   "template spec) and passes it grant tags; lint that "
                                   "template itself")
            return
        child_path = os.path.normpath(os.path.join(os.path.dirname(path), relative))
        if os.path.realpath(child_path) in template.stack:
            report.not_checked(path, line, "template",
                               f"{what} links {child_path}, which links it in turn")
            return
        loaded = load_json(child_path, report, path, line)
        if not isinstance(loaded, dict):
            return
        doc = loaded
    if depth >= _MAX_DEPTH:
        report.not_checked(path, line, "template", f"{what} is nested more than "
                           f"{_MAX_DEPTH} deep")
        return
    if inner or child_path != path:
        child = _Template(child_path, doc, placement, bound, stack=template.stack)
    else:
        child = _Template(child_path, doc, placement, None, parent=template,
                          stack=template.stack)
    _walk(child, child_path, report, prefix, depth + 1)


def _walk(template: _Template, path: str, report: Report, prefix: str, depth: int) -> None:
    for resource in _resources(template.doc):
        resource_type = template.value(_get(resource, "type")[0])
        if not isinstance(resource_type, str) or _get(resource, "existing")[0] is True:
            continue  # `existing` (language version 2.0): not deployed here
        if template.value(_get(resource, "condition")[0]) is False:
            continue  # a condition that is false whatever the deployment says
        workload = declared_workload(resource_type)
        if workload is not None:
            report.workloads.append(_workload(template, path, resource, workload.type))
        elif resource_type.lower() == "microsoft.resources/deployments":
            _nested(template, path, resource, report, prefix, depth)


def read_template(path: str, doc: Mapping[str, Any], report: Report, prefix: str,
                  placement: Placement, bound: Mapping[str, Value] | None = None) -> None:
    """Add the workloads of ARM template `doc` (read from `path`) to `report`.

    `bound` are the parameters a caller passes (a Bicep module); None at the top.
    """
    _walk(_Template(path, doc, placement, bound), path, report, prefix, 0)
