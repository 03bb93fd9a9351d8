"""ARM template expressions: ``"[concat('Reader@', resourceGroup().id)]"``.

A string value that starts with ``[`` and ends with ``]`` is an expression
(``[[`` at the start escapes a literal ``[``). The language is small: string
literals in single quotes (``''`` is a quote), integers, function calls
(``name(...)``, ``namespace.name(...)``), member access (``.name``) and
indexing (``[expr]``). :func:`evaluate` parses one and evaluates it with a
:class:`Scope` that answers ``parameters()``, ``variables()`` and the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from handlers.lint.values import Placement, Unknown, Value, call, member

__all__ = ["ExpressionError", "Scope", "evaluate", "is_expression", "literal"]


class ExpressionError(ValueError):
    """An expression that does not parse; the message says where."""


class Scope(Protocol):
    """What an expression can see."""

    placement: Placement

    def parameter(self, name: Value) -> Value: ...

    def variable(self, name: Value) -> Value: ...


def is_expression(text: str) -> bool:
    """True for ``[...]`` (not ``[[...``): ARM evaluates it."""
    return len(text) >= 2 and text[0] == "[" and text[-1] == "]" and not text.startswith("[[")


def literal(text: str) -> str:
    """A string that is not an expression, as ARM reads it (``[[x]`` is ``[x]``)."""
    return text[1:] if text.startswith("[[") else text


@dataclass(frozen=True)
class _Tok:
    kind: str  # "str", "int", "name", or the punctuation itself
    text: str
    value: str | int = ""


def _tokens(source: str) -> list[_Tok]:
    out: list[_Tok] = []
    i = 0
    while i < len(source):
        ch = source[i]
        if ch.isspace():
            i += 1
        elif ch == "'":
            j, chars = i + 1, []
            while True:
                if j >= len(source):
                    raise ExpressionError(f"unterminated string in {source!r}")
                if source[j] == "'":
                    if source[j + 1:j + 2] == "'":
                        chars.append("'")
                        j += 2
                        continue
                    break
                chars.append(source[j])
                j += 1
            out.append(_Tok("str", source[i:j + 1], "".join(chars)))
            i = j + 1
        elif ch.isdigit() or (ch == "-" and source[i + 1:i + 2].isdigit()):
            j = i + 1
            while j < len(source) and source[j].isdigit():
                j += 1
            out.append(_Tok("int", source[i:j], int(source[i:j])))
            i = j
        elif ch.isalpha() or ch == "_":
            j = i + 1
            while j < len(source) and (source[j].isalnum() or source[j] in "_$"):
                j += 1
            out.append(_Tok("name", source[i:j]))
            i = j
        elif ch in "(),.[]":
            out.append(_Tok(ch, ch))
            i += 1
        else:
            raise ExpressionError(f"unexpected {ch!r} in expression [{source}]")
    return out


class _Parser:
    def __init__(self, source: str, scope: Scope) -> None:
        self.source = source
        self.toks = _tokens(source)
        self.pos = 0
        self.scope = scope

    def peek(self, offset: int = 0) -> _Tok | None:
        i = self.pos + offset
        return self.toks[i] if i < len(self.toks) else None

    def take(self, kind: str) -> _Tok:
        tok = self.peek()
        if tok is None or tok.kind != kind:
            found = "the end" if tok is None else repr(tok.text)
            raise ExpressionError(f"expected {kind!r}, found {found} in [{self.source}]")
        self.pos += 1
        return tok

    def expression(self) -> Value:
        value = self.primary()
        while (tok := self.peek()) is not None and tok.kind in ".[":
            self.pos += 1
            if tok.kind == ".":
                value = member(value, self.take("name").text)
            else:
                index = self.expression()
                self.take("]")
                value = member(value, index)
        return value

    def primary(self) -> Value:
        tok = self.peek()
        if tok is None:
            raise ExpressionError(f"expression [{self.source}] ends too early")
        self.pos += 1
        if tok.kind in ("str", "int"):
            return tok.value
        if tok.kind != "name":
            raise ExpressionError(f"unexpected {tok.text!r} in [{self.source}]")
        name = tok.text
        # a user-defined function: namespace.member(...)
        nxt, after = self.peek(), self.peek(1)
        if nxt and nxt.kind == "." and after and after.kind == "name" and \
                (self.peek(2) or _Tok("", "")).kind == "(":
            self.pos += 2
            name = f"{name}.{after.text}"
        self.take("(")
        args: list[Value] = []
        if (self.peek() or _Tok("", "")).kind != ")":
            args.append(self.expression())
            while (self.peek() or _Tok("", "")).kind == ",":
                self.pos += 1
                args.append(self.expression())
        self.take(")")
        return self.apply(name, args)

    def apply(self, name: str, args: list[Value]) -> Value:
        key = name.lower()
        if key == "parameters":
            return self.scope.parameter(args[0]) if args else Unknown("parameters()")
        if key == "variables":
            return self.scope.variable(args[0]) if args else Unknown("variables()")
        if "." in name:
            return Unknown(f"user-defined function {name}()")
        return call(name, args, self.scope.placement)


def evaluate(text: str, scope: Scope) -> Value:
    """The value of expression `text` (``[...]``, brackets included); raises ExpressionError."""
    parser = _Parser(text[1:-1], scope)
    value = parser.expression()
    if parser.peek() is not None:
        raise ExpressionError(f"unexpected {parser.peek().text!r} in {text}")  # type: ignore[union-attr]
    return value
