"""Bicep files: the container apps and jobs they deploy, with their tags.

Parsed with pycep-parser's Lark grammar (the parse tree keeps every token's
line, so a finding points at the tag's own line). Pieces of the tree are
evaluated the way Bicep would (:mod:`~handlers.lint.values` has the functions):
string interpolation (the ``${...}`` holes are parsed by the same grammar),
variables, ``resourceGroup()``, ``st.id`` of a resource declared in the file,
``union(...)``, ``format(...)``, loops over known arrays.

Local modules (``module m './app.bicep'`` or ``'./app.json'``) are followed:
the module's parameters take what the caller passes (else their defaults) and
its ``scope`` places what it deploys. A parameter of the file given on the
command line is decided at deployment, so it stays unknown even with a default.
Modules from a registry or template spec are not followed; when grant tags are
passed to one, that is reported as not checked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lark import Token, Tree

from handlers.lint import arm
from handlers.lint import bicepsyntax as syn
from handlers.lint.bicepeval import Evaluator
from handlers.lint.files import parse_json, read_text
from handlers.lint.model import LintError, Report, TagEntry, Workload, declared_workload, entries
from handlers.lint.model import mentions_prefix as _mentions
from handlers.lint.values import (
    Partial,
    Placement,
    Value,
    member,
    placement_of,
)

__all__ = ["read_bicep"]

_MAX_DEPTH = 10
_MAX_MODULES = 200  # module instances followed per file given (loops multiply them)


@dataclass
class _Run:
    """What every file of one entry point shares: the report and how far it has gone."""

    report: Report
    prefix: str
    modules: int = 0
_EXTERNAL = ("br:", "br/", "ts:", "ts/")  # registry modules and template specs


class _File(Evaluator):
    """One Bicep file, evaluated where it is deployed with the parameters it is given."""

    def __init__(self, path: str, tree: Tree[Token], placement: Placement,
                 bound: Mapping[str, Value] | None, run: _Run,
                 stack: tuple[str, ...] = ()) -> None:
        super().__init__(path, tree, placement, bound)
        self.run, self.report, self.prefix = run, run.report, run.prefix
        self.stack = (*stack, os.path.realpath(path))  # the files that use this one, and it

    # -- what the file deploys ---------------------------------------------------------------------
    def walk(self) -> None:
        for element in self.elements:
            if element.data == "resource":
                self.resource(element)
            elif element.data == "module":
                self.each(element.children[-1], lambda c, e=element: self.module(e, c))

    def resource(self, element: Tree[Token]) -> None:
        if len(element.children) < 5 or element.children[3] is not None:
            return  # `existing`: not deployed here
        resource_type = self.eval(element.children[2])
        if not isinstance(resource_type, str):
            return
        workload = declared_workload(resource_type)
        if workload is None:
            return
        line = syn.line(element.children[1], syn.line(element, 1))
        self.each(element.children[-1], lambda config: self.workload(config, workload.type, line))

    def workload(self, config: Any, arm_type: str, line: int) -> None:
        props = {str(k): (v, ln) for k, v, ln in syn.pairs(config)}
        workload = Workload(file=self.path, line=line, type=arm_type,
                            name=self.eval(props.get("name", (None, 0))[0]),
                            placement=self.placement,
                            location=self.eval(props.get("location", (None, 0))[0]))
        if "tags" in props:
            self.tags(workload, *props["tags"])
        self.report.workloads.append(workload)

    def tags(self, workload: Workload, node: Any, line: int) -> None:
        if isinstance(node, Tree) and node.data == "operator":
            node = node.children[0]
        if isinstance(node, Tree) and node.data == "object":
            for key, value, key_line in syn.pairs(node):
                workload.tags.append(TagEntry(self.key(key), self.eval(value), key_line))
            return
        if isinstance(node, Tree) and node.data == "function" and \
                str(node.children[0]).rstrip("(").strip().lower() in ("union", "az.union"):
            for arg in node.children[1:]:
                self.tags(workload, arg, line)
            return
        tags, hidden = entries(self.eval(node), line)
        workload.tags += tags
        workload.hidden += hidden

    def module(self, element: Tree[Token], config: Any) -> None:
        symbol = str(syn.tok(element.children[1]))
        line = syn.line(element.children[1], syn.line(element, 1))
        source = self.eval(element.children[2])
        props = syn.props(config)
        params = self.eval(props.get("params")) if "params" in props else {}
        what = f"module '{symbol}'"
        if not isinstance(source, str) or source.lower().startswith(_EXTERNAL):
            if _mentions(params if isinstance(params, dict) else {}, self.prefix):
                self.report.not_checked(self.path, line, "module", f"{what} comes from "
                                        f"{source!r}, which lint does not follow, and is "
                                        "passed grant tags; lint that module itself")
            return
        placement = self.placement
        if "scope" in props:
            placement = placement_of(member(self.eval(props["scope"]), "id"), placement, what)
        bound: dict[str, Value] = {}
        if isinstance(params, dict):
            bound = dict(params)
        elif isinstance(params, Partial):
            bound = dict(params.known)
        path = os.path.normpath(os.path.join(os.path.dirname(self.path), source))
        self.run.modules += 1
        why = (f"{what} uses {path}, which uses it in turn" if os.path.realpath(path) in self.stack
               else f"{what} is nested more than {_MAX_DEPTH} deep"
               if len(self.stack) > _MAX_DEPTH else
               f"more than {_MAX_MODULES} module instances" if self.run.modules > _MAX_MODULES
               else None)
        if why is not None:
            self.report.not_checked(self.path, line, "module", why)
            return
        try:
            text = read_text(path)
            if path.lower().endswith(".json"):
                doc = parse_json(path, text)
                if not arm.is_template(doc):
                    raise LintError(f"{path}: not an ARM template")
                arm.read_template(path, doc, self.report, self.prefix, placement, bound)
                return
            tree = syn.parse(path, text)
        except LintError as e:
            self.report.not_checked(self.path, line, "module", f"{what}: {e}")
            return
        _File(path, tree, placement, bound, self.run, self.stack).walk()


def read_bicep(path: str, text: str, report: Report, prefix: str,
               placement: Placement) -> None:
    """Add the workloads of Bicep file `path` (and of the local modules it uses) to `report`;
    LintError when it does not parse."""
    _File(path, syn.parse(path, text), placement, None, _Run(report, prefix)).walk()
