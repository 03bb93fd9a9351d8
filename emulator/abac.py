"""Role assignment conditions (Azure ABAC, ``conditionVersion`` 2.0) for delegated role
assignment management: parse once at PUT, evaluate on every authorization.

What it evaluates (Microsoft Learn: "Azure role assignment condition format and
syntax", "Authorization actions and attributes", "Examples to delegate Azure role
assignment management with conditions"):

* ``ActionMatches{'<pattern>'}`` and ``SubOperationMatches{'<pattern>'}``
  (control-plane requests have no sub-operation: it never matches);
* ``@Request[...]`` / ``@Resource[...]`` of
  ``Microsoft.Authorization/roleAssignments:RoleDefinitionId`` and ``:PrincipalId``
  (GUIDs) and ``:PrincipalType`` (string), ``Exists <attribute>``;
* GUID operators ``GuidEquals`` / ``GuidNotEquals`` and the string operators
  (``StringEquals``, ``StringNotEquals``, ``StringStartsWith``, ``StringNotStartsWith``,
  ``StringLike``, ``StringNotLike``, each also ``...IgnoreCase``), alone or under
  a cross-product quantifier (``ForAnyOfAnyValues:``, ``ForAllOfAnyValues:``,
  ``ForAnyOfAllValues:``, ``ForAllOfAllValues:``);
* ``AND`` / ``&&``, ``OR`` / ``||``, ``NOT`` / ``!`` and parentheses. ``AND`` and
  ``OR`` side by side without parentheses are ambiguous and refused, as the
  documentation requires.

Anything else (other attributes or sources, numeric / date / boolean
operators, another ``conditionVersion``) raises :class:`ConditionError`: the
emulator refuses such a condition at PUT rather than store one it cannot
enforce. A comparison whose attribute is missing from the request is false
(fail closed), whatever its operator.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from .operations import action_matches

__all__ = [
    "SUPPORTED_VERSION",
    "Condition",
    "ConditionError",
    "Context",
    "check",
    "evaluate",
    "parse",
]

SUPPORTED_VERSION = "2.0"
_RA = "microsoft.authorization/roleassignments:"
ATTRIBUTES = {  # lower-case name -> type
    _RA + "roledefinitionid": "guid",
    _RA + "principalid": "guid",
    _RA + "principaltype": "string",
}
_SOURCES = {"request", "resource"}
_QUANTIFIERS = ("foranyofanyvalues", "forallofanyvalues", "foranyofallvalues",
                "forallofallvalues")
_GUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")


class ConditionError(ValueError):
    """A condition the emulator cannot evaluate; ``position`` is where it stopped."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.position = position


@dataclass(frozen=True)
class Context:
    """What one authorization knows: the action and the attributes of the request and of
    the existing resource, keyed ``microsoft.authorization/roleassignments:<name>``."""

    action: str
    request: Mapping[str, str] = field(default_factory=dict)
    resource: Mapping[str, str] = field(default_factory=dict)
    sub_operation: str | None = None


# -- the tree ------------------------------------------------------------------------
Node = Callable[[Context], bool]


def _str_like(pattern: str, value: str, fold: bool) -> bool:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
        i += 1
    return re.fullmatch("".join(out), value, re.S | (re.I if fold else 0)) is not None


def _base_ops() -> dict[str, tuple[str, Callable[[str, str], bool]]]:
    """Operator name (lower case) -> (attribute type, comparison of one pair)."""
    def guid(a: str) -> str:
        return a.lower().replace("-", "")

    ops: dict[str, tuple[str, Callable[[str, str], bool]]] = {
        "guidequals": ("guid", lambda a, b: guid(a) == guid(b)),
        "guidnotequals": ("guid", lambda a, b: guid(a) != guid(b)),
    }
    string_ops: dict[str, Callable[[str, str, bool], bool]] = {
        "stringequals": lambda a, b, f: (a.lower() == b.lower()) if f else a == b,
        "stringstartswith": lambda a, b, f: a.lower().startswith(b.lower()) if f
        else a.startswith(b),
        "stringlike": lambda a, b, f: _str_like(b, a, f),
    }
    for name, fn in string_ops.items():
        for fold in (False, True):
            suffix = "ignorecase" if fold else ""

            def yes(a: str, b: str, fn: Callable[[str, str, bool], bool] = fn,
                    fold: bool = fold) -> bool:
                return fn(a, b, fold)

            def no(a: str, b: str, fn: Callable[[str, str, bool], bool] = fn,
                   fold: bool = fold) -> bool:
                return not fn(a, b, fold)

            ops[name + suffix] = ("string", yes)
            ops[name.replace("string", "stringnot") + suffix] = ("string", no)
    return ops


_OPS = _base_ops()


@dataclass(frozen=True)
class _Attr:
    source: str  # request | resource
    name: str  # lower case

    def values(self, ctx: Context) -> list[str] | None:
        bag = ctx.request if self.source == "request" else ctx.resource
        value = bag.get(self.name)
        return None if value is None else [value]


_Operand = _Attr | tuple[str, ...]


def _compare(lhs: _Operand, op: str, quantifier: str | None, rhs: _Operand) -> Node:
    pair = _OPS[op][1]

    def values(side: _Operand, ctx: Context) -> list[str] | None:
        return side.values(ctx) if isinstance(side, _Attr) else list(side)

    def run(ctx: Context) -> bool:
        left, right = values(lhs, ctx), values(rhs, ctx)
        if not left or not right:
            return False  # a missing attribute fails closed
        if quantifier is None:
            return pair(left[0], right[0])
        inner = any if quantifier.endswith("anyvalues") else all
        outer = any if quantifier.startswith("forany") else all
        return outer(inner(pair(a, b) for b in right) for a in left)

    return run


# -- the parser ------------------------------------------------------------------------
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<attr>@(?P<src>[A-Za-z]+)\[(?P<aname>[^\]]*)\])
  | (?P<str>'(?:[^'\\]|\\.)*')
  | (?P<sym>&&|\|\||[(){},!])
  | (?P<word>[A-Za-z0-9_.:\-/*]+)
""", re.X)


@dataclass
class _Tok:
    kind: str  # attr | str | sym | word | end
    text: str
    pos: int
    src: str = ""
    name: str = ""


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ConditionError(f"unexpected character {text[pos]!r}", pos)
        kind = m.lastgroup or ""
        if kind == "src" or kind == "aname":
            kind = "attr"
        if m.group("attr"):
            out.append(_Tok("attr", m.group(0), pos, m.group("src"), m.group("aname")))
        elif kind != "ws":
            out.append(_Tok(kind, m.group(0), pos))
        pos = m.end()
    out.append(_Tok("end", "", len(text)))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, message: str, tok: _Tok | None = None) -> ConditionError:
        tok = tok or self.tok
        return ConditionError(message, tok.pos)

    def expect(self, text: str) -> _Tok:
        if self.tok.text != text:
            raise self.fail(f"expected {text!r}, found {self.tok.text or 'the end'!r}")
        return self.take()

    def _logic(self) -> str | None:
        word = self.tok.text.upper()
        return {"AND": "and", "&&": "and", "OR": "or", "||": "or"}.get(word)

    def expression(self) -> Node:
        items = [self.unary()]
        seen: str | None = None
        while (op := self._logic()) is not None:
            if seen is not None and op != seen:
                raise self.fail("AND and OR side by side are ambiguous: add parentheses")
            seen = op
            self.take()
            items.append(self.unary())
        if len(items) == 1:
            return items[0]
        if seen == "and":
            return lambda ctx: all(n(ctx) for n in items)
        return lambda ctx: any(n(ctx) for n in items)

    def unary(self) -> Node:
        if self.tok.text == "!" or self.tok.text.upper() == "NOT":
            self.take()
            inner = self.unary()
            return lambda ctx: not inner(ctx)
        return self.primary()

    def _braced_string(self) -> str:
        self.expect("{")
        tok = self.take()
        if tok.kind != "str":
            raise self.fail("expected a quoted pattern", tok)
        self.expect("}")
        return _unquote(tok.text)

    def primary(self) -> Node:
        tok = self.tok
        if tok.text == "(":
            self.take()
            node = self.expression()
            self.expect(")")
            return node
        word = tok.text.lower()
        if tok.kind == "word" and word == "actionmatches":
            self.take()
            pattern = self._braced_string()
            return lambda ctx: action_matches(pattern, ctx.action)
        if tok.kind == "word" and word == "suboperationmatches":
            self.take()
            pattern = self._braced_string()
            return lambda ctx: ctx.sub_operation is not None and action_matches(
                pattern, ctx.sub_operation)
        if tok.kind == "word" and word == "exists":
            self.take()
            attr, _ = self.attribute()
            return lambda ctx: attr.values(ctx) is not None
        return self.comparison()

    def attribute(self) -> tuple[_Attr, str]:
        tok = self.take()
        if tok.kind != "attr":
            raise self.fail("expected an attribute such as @Request[...]", tok)
        source, name = tok.src.lower(), tok.name.strip().lower()
        if source not in _SOURCES:
            raise self.fail(f"attribute source @{tok.src} cannot be evaluated here", tok)
        kind = ATTRIBUTES.get(name)
        if kind is None:
            raise self.fail(f"attribute {tok.name!r} cannot be evaluated here; supported: "
                            "Microsoft.Authorization/roleAssignments:RoleDefinitionId, "
                            ":PrincipalId, :PrincipalType", tok)
        return _Attr(source, name), kind

    def operand(self) -> tuple[_Operand, str | None]:
        """An attribute (and its type) or a literal value / set (type unknown)."""
        if self.tok.kind == "attr":
            return self.attribute()
        if self.tok.text == "{":
            self.take()
            values = [self.value()]
            while self.tok.text == ",":
                self.take()
                values.append(self.value())
            self.expect("}")
            return tuple(values), None
        return (self.value(),), None

    def value(self) -> str:
        tok = self.take()
        if tok.kind == "str":
            return _unquote(tok.text)
        if tok.kind == "word" and _GUID.match(tok.text.lower()):
            return tok.text
        raise self.fail(f"expected a quoted string or a GUID, found {tok.text or 'the end'!r}",
                        tok)

    def comparison(self) -> Node:
        lhs, lkind = self.operand()
        op_tok = self.take()
        if op_tok.kind != "word":
            raise self.fail("expected an operator", op_tok)
        quantifier, _, base = op_tok.text.lower().rpartition(":")
        if quantifier and quantifier not in _QUANTIFIERS:
            raise self.fail(f"unknown quantifier {op_tok.text!r}", op_tok)
        if base not in _OPS:
            raise self.fail(f"operator {op_tok.text!r} cannot be evaluated here", op_tok)
        rhs, rkind = self.operand()
        kind = _OPS[base][0]
        for side_kind in (lkind, rkind):
            if side_kind is not None and side_kind != kind:
                raise self.fail(f"operator {op_tok.text!r} does not apply to a {side_kind} "
                                "attribute", op_tok)
        for side in (lhs, rhs):
            if isinstance(side, tuple):
                if not quantifier and len(side) != 1:
                    raise self.fail(f"{op_tok.text} compares one value; use a quantifier "
                                    "such as ForAnyOfAnyValues: for a set", op_tok)
                if kind == "guid" and not all(_GUID.match(v.lower()) for v in side):
                    raise self.fail(f"{op_tok.text} needs GUID values", op_tok)
        return _compare(lhs, base, quantifier or None, rhs)


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


@dataclass(frozen=True)
class Condition:
    """A parsed condition; call :meth:`allows` with the context of one authorization."""

    text: str
    _node: Node = field(repr=False, compare=False)

    def allows(self, ctx: Context) -> bool:
        return self._node(ctx)


@lru_cache(maxsize=256)
def parse(text: str) -> Condition:
    """Parse a condition; raises :class:`ConditionError` for anything it cannot evaluate."""
    parser = _Parser(text)
    if parser.tok.kind == "end":
        raise ConditionError("the condition is empty", 0)
    node = parser.expression()
    if parser.tok.kind != "end":
        raise parser.fail(f"unexpected {parser.tok.text!r}")
    return Condition(text, node)


def check(condition: str, version: str | None) -> Condition:
    """Validate a role assignment's ``condition`` / ``conditionVersion`` pair at PUT."""
    if version not in (None, SUPPORTED_VERSION):
        raise ConditionError(f"conditionVersion {version!r} is not supported; use "
                             f"{SUPPORTED_VERSION!r}", 0)
    return parse(condition)


def evaluate(condition: str, ctx: Context) -> bool:
    return parse(condition).allows(ctx)
