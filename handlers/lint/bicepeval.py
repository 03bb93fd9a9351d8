"""Evaluating Bicep expressions as far as the file itself decides them.

:class:`Evaluator` holds one file's declarations (parameters, variables,
resources, modules) and turns parse-tree nodes into :mod:`~handlers.lint.values`:
literals, string interpolation, variables, parameters (bound by a module's
caller, else unknown at the top), ``st.id`` of declared resources, functions,
member access, comparisons, conditions and loops over known arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lark import Token, Tree

from handlers.ids import split_type
from handlers.lint import bicepsyntax as syn
from handlers.lint.model import arm_type
from handlers.lint.values import (
    Obj,
    Partial,
    Placement,
    Text,
    Unknown,
    Value,
    call,
    describe,
    join,
    member,
    resource_id,
)

__all__ = ["Evaluator"]


class Evaluator:
    """One Bicep file's declarations, and the value of its expressions."""

    def __init__(self, path: str, tree: Tree[Token], placement: Placement,
                 bound: Mapping[str, Value] | None) -> None:
        self.path, self.placement, self.bound = path, placement, bound
        self.params: dict[str, Any] = {}
        self.variables: dict[str, Any] = {}
        self.resources: dict[str, Tree[Token]] = {}
        self.modules: dict[str, Tree[Token]] = {}
        self.elements: list[Tree[Token]] = []
        for element in tree.children:
            if not isinstance(element, Tree):
                continue
            name = syn.tok(element.children[1]) if len(element.children) > 1 else None
            table = {"param": self.params, "var": self.variables,
                     "resource": self.resources, "module": self.modules}.get(element.data)
            if table is not None and name is not None:
                table[str(name)] = element
            self.elements.append(element)
        self.scopes: list[dict[str, Value]] = []  # loop variables, innermost last
        self._values: dict[str, Value] = {}
        self._evaluating: set[str] = set()

    # -- names -----------------------------------------------------------------------------------
    def name(self, ident: str) -> Value:
        for scope in reversed(self.scopes):
            if ident in scope:
                return scope[ident]
        if ident in self.params:
            return self.parameter(ident)
        if ident in self.variables:
            return self.memo(f"var:{ident}", lambda: self.eval(self.variables[ident].children[-1]))
        if ident in self.resources:
            return self.memo(f"res:{ident}", lambda: self.resource_value(ident))
        if ident in self.modules:
            config, _ = syn.config(self.modules[ident].children[-1])
            name = self.memo(f"mod:{ident}", lambda: self.eval(syn.props(config).get("name")))
            return Partial({"name": name}, (Unknown(f"outputs of module '{ident}'"),))
        return Unknown(f"'{ident}'")

    def memo(self, key: str, compute: Any) -> Value:
        if key in self._values:
            return self._values[key]
        if key in self._evaluating:
            return Unknown(f"{key.split(':', 1)[1]} (defined in terms of itself)")
        self._evaluating.add(key)
        try:
            value = compute()
        finally:
            self._evaluating.discard(key)
        self._values[key] = value
        return value

    def parameter(self, ident: str) -> Value:
        if self.bound is None:
            return Unknown(f"parameter '{ident}'")
        if ident in self.bound:
            return self.bound[ident]
        default = self.params[ident].children[-1]
        if default is None or (isinstance(default, Tree) and default.data == "data_type"):
            return Unknown(f"parameter '{ident}' (not passed, no default)")
        return self.memo(f"param:{ident}", lambda: self.eval(default))

    def resource_value(self, ident: str) -> Value:
        element = self.resources[ident]
        resource_type = self.eval(element.children[2]) if len(element.children) > 2 else None
        config, _ = syn.config(element.children[-1])
        props = syn.props(config)
        name = self.eval(props.get("name"))
        if not isinstance(resource_type, str):
            return Unknown(f"resource '{ident}'")
        rtype = arm_type(resource_type)
        names: list[Value] = [name]
        parent = props.get("parent")
        prefix: Value = self.placement.group_id
        if parent is not None:
            parent_value = self.eval(parent)
            parent_id = member(parent_value, "id")
            child_type = split_type(rtype)[1][-1:]  # what a child adds to its parent's id
            if isinstance(parent_id, str | Text) and child_type:
                return Partial({"id": join([parent_id, "/", child_type[0], "/", name]),
                                "name": name, "type": rtype},
                               (Unknown(f"resource '{ident}'"),))
            return Unknown(f"resource '{ident}' (its parent is {describe(parent_value)})")
        if "scope" in props:
            scope_id = member(self.eval(props["scope"]), "id")
            if scope_id is not None:
                prefix = scope_id
        return Partial({"id": resource_id(prefix, rtype, names), "name": name,
                        "type": rtype},
                       (Unknown(f"resource '{ident}'"),))

    # -- expressions -----------------------------------------------------------------------------
    def eval(self, node: Any) -> Value:
        if node is None:
            return None
        if isinstance(node, Token):
            return str(node)
        kind = node.data
        handler = getattr(self, f"_eval_{kind}", None)
        if handler is None:
            return Unknown("an expression lint does not evaluate")
        return handler(node)

    def _eval_string(self, node: Tree[Token]) -> Value:
        token = node.children[0]
        if not isinstance(token, Token):
            return Unknown("a string")
        if token.type != "QUOTED_INTERPOLATION" and not str(token).startswith("'"):
            return self.name(str(token))
        return self.interpolate(str(token))

    def interpolate(self, quoted: str) -> Value:
        parts: list[Value] = []
        for is_hole, text in syn.split_string(quoted):
            if not is_hole:
                parts.append(text)
                continue
            tree = syn.hole(text)
            parts.append(self.eval(tree) if tree is not None
                         else Unknown(f"${{{text}}} (lint cannot parse it)"))
        return join(parts)

    def _eval_type_api_pair(self, node: Tree[Token]) -> Value:
        return self.interpolate(str(node.children[0]))

    _eval_module_path = _eval_type_api_pair

    def _eval_multi_line_string(self, node: Tree[Token]) -> Value:
        return str(node.children[0])[3:-3].removeprefix("\n")

    def _eval_int_type(self, node: Tree[Token]) -> Value:
        return int(str(node.children[0]))

    def _eval_true(self, node: Tree[Token]) -> Value:
        return True

    def _eval_false(self, node: Tree[Token]) -> Value:
        return False

    def _eval_null(self, node: Tree[Token]) -> Value:
        return None

    def _eval_array(self, node: Tree[Token]) -> Value:
        return [self.eval(c) for c in node.children if isinstance(c, Tree)]

    def _eval_object(self, node: Tree[Token]) -> Value:
        known = Obj()
        unknown: list[Unknown] = []
        for key, value, line in syn.pairs(node):
            name = self.key(key)
            if isinstance(name, str):
                known[name] = self.eval(value)
                known.origins[name] = (self.path, line)
            else:
                unknown.append(Unknown(f"a member named by {describe(name)}"))
        return Partial(known, tuple(unknown)) if unknown else known

    def key(self, token: Token) -> Value:
        text = str(token)
        return self.interpolate(text) if text.startswith("'") else text

    def _eval_function(self, node: Tree[Token]) -> Value:
        name = str(node.children[0]).rstrip("(").strip()
        args = [self.eval(c) for c in node.children[1:] if c is not None]
        if name == "range" and len(args) == 2 and all(type(a) is int for a in args):
            return list(range(args[0], args[0] + args[1]))
        return call(name, args, self.placement)

    def _eval_operator(self, node: Tree[Token]) -> Value:
        return self.eval(node.children[0])

    def _eval_property_accessor(self, node: Tree[Token]) -> Value:
        # pycep nests a.b.c as a.(b.c): walk the right-hand side for the member names
        base, right = node.children[0], node.children[1]
        names: list[str] = []
        while True:
            if isinstance(right, Tree) and right.data == "operator":
                right = right.children[0]
            if isinstance(right, Tree) and right.data == "property_accessor":
                head = syn.tok(right.children[0])
                if head is None:
                    return Unknown("a member expression lint does not evaluate")
                names.append(str(head))
                right = right.children[1]
                continue
            head = syn.tok(right)
            if head is None:
                return Unknown("a member expression lint does not evaluate")
            names.append(str(head))
            break
        value = self.eval(base)
        for name in names:
            value = member(value, name)
        return value

    def _eval_index_accessor(self, node: Tree[Token]) -> Value:
        return member(self.eval(node.children[0]), self.eval(node.children[1]))

    def _eval_conditional(self, node: Tree[Token]) -> Value:
        cond = self.eval(node.children[0])
        if isinstance(cond, bool):
            return self.eval(node.children[1 if cond else 2])
        return Unknown("a condition decided at deployment")

    def _compare(self, node: Tree[Token], negate: bool) -> Value:
        a, b = (self.eval(c) for c in node.children[:2])
        if any(isinstance(v, Unknown | Text | Partial) for v in (a, b)):
            return Unknown("a comparison decided at deployment")
        return (a == b) != negate

    def _eval_equals(self, node: Tree[Token]) -> Value:
        return self._compare(node, negate=False)

    def _eval_not_equals(self, node: Tree[Token]) -> Value:
        return self._compare(node, negate=True)

    def _eval_not_op(self, node: Tree[Token]) -> Value:
        value = self.eval(node.children[0])
        return (not value) if isinstance(value, bool) else Unknown(
            "a condition decided at deployment")

    def _eval_and_op(self, node: Tree[Token]) -> Value:
        a, b = (self.eval(c) for c in node.children[:2])
        if a is False or b is False:
            return False
        return True if (a, b) == (True, True) else Unknown("a condition decided at deployment")

    def _eval_or_op(self, node: Tree[Token]) -> Value:
        a, b = (self.eval(c) for c in node.children[:2])
        if a is True or b is True:
            return True
        return False if (a, b) == (False, False) else Unknown(
            "a condition decided at deployment")

    def _eval_coalesce(self, node: Tree[Token]) -> Value:
        first = self.eval(node.children[0])
        if first is None:
            return self.eval(node.children[1])
        return first if not isinstance(first, Unknown) else Unknown(
            f"{first.what} ?? ... (decided at deployment)")

    def _eval_loop(self, node: Tree[Token]) -> Value:
        head, body = node.children[0], node.children[-1]
        if not isinstance(head, Tree):
            return Unknown("a for-expression lint does not evaluate")
        items = [self.with_loop(head, i, lambda: self.eval(body)) for i in self.loop_items(head)]
        return items if not any(isinstance(i, Unknown) for i in items) else Unknown(
            "a for-expression over values decided at deployment")

    # -- loops -----------------------------------------------------------------------------------
    def loop_items(self, head: Tree[Token]) -> list[Value]:
        source = head.children[-1]
        values = self.eval(source)
        if head.data == "loop_object":
            if isinstance(values, dict):
                return [{"key": k, "value": v} for k, v in values.items()]
            return [Unknown("an item of a loop over values decided at deployment")]
        if isinstance(values, list) and values:
            return values
        return [Unknown("an item of a loop over values decided at deployment")]

    def with_loop(self, head: Tree[Token], item: Value, compute: Any) -> Value:
        names = [str(syn.tok(c)) for c in head.children[:-1] if syn.tok(c) is not None]
        scope: dict[str, Value] = {}
        if names:
            scope[names[0]] = item
        if len(names) > 1:
            scope[names[1]] = Unknown("the loop index")
        self.scopes.append(scope)
        self._values, saved = {}, self._values  # memoised values may depend on the item
        try:
            return compute()
        finally:
            self.scopes.pop()
            self._values = saved

    def each(self, body: Any, action: Any) -> None:
        """Run `action(config)` once per loop item around a resource or module body, unless
        its condition is false whatever the deployment says."""
        config, loops = syn.config(body)
        conditions = syn.conditions(body)

        def run(level: int) -> None:
            if level == len(loops):
                if not any(self.eval(c) is False for c in conditions):
                    action(config)
                return
            head = loops[level]
            for item in self.loop_items(head):
                self.with_loop(head, item, lambda: run(level + 1))

        run(0)
