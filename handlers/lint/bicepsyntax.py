"""Bicep syntax: pycep-parser's parse tree, and the pieces of it lint reads.

pycep-parser (a Lark grammar) keeps every token's line, so findings point at the
tag's own line. Its grammar keeps an interpolated string (``'Reader@${st.id}'``)
as one token: :func:`split_string` takes it apart (escapes, nested braces and
strings) and :func:`hole` parses each ``${...}`` with the same grammar.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from lark import Token, Tree
from lark.exceptions import LarkError, UnexpectedInput

from handlers.lint.model import LintError

__all__ = ["config", "hole", "line", "pairs", "parse", "props", "split_string", "tok"]

_ESCAPES = {"\\": "\\", "'": "'", "n": "\n", "r": "\r", "t": "\t", "$": "$"}


@lru_cache(maxsize=1)
def _parser() -> Any:
    from pycep import BicepParser

    return BicepParser().lark_parser


def parse(path: str, text: str) -> Tree[Token]:
    """The parse tree of Bicep `text`; LintError naming the line when it does not parse."""
    if text.count("'''") % 2:
        raise LintError(f"{path}: not Bicep: a multi-line string (''') is not closed")
    try:
        tree: Tree[Token] = _parser().parse(text if text.endswith("\n") else text + "\n")
    except UnexpectedInput as e:
        raise LintError(f"{path}: not Bicep (or beyond pycep-parser's grammar): unexpected "
                        f"input at line {e.line} column {e.column}") from None
    except LarkError as e:
        raise LintError(f"{path}: not Bicep: {str(e).splitlines()[0]}") from None
    return tree


@lru_cache(maxsize=256)
def hole(source: str) -> Tree[Token] | None:
    """The expression inside ``${...}``, parsed by the same grammar."""
    try:
        tree = _parser().parse(f"var lint_hole = {source}\n")
    except LarkError:
        return None
    node = tree.children[0]
    return node.children[3] if isinstance(node, Tree) else None


def split_string(quoted: str) -> Iterator[tuple[bool, str]]:
    """(is_hole, text) pieces of a single-quoted Bicep string, escapes resolved."""
    body, i, text = quoted[1:-1], 0, []
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u" and body[i + 2:i + 3] == "{":
                end = body.find("}", i)
                text.append(chr(int(body[i + 3:end], 16)))
                i = end + 1
                continue
            text.append(_ESCAPES.get(nxt, nxt))
            i += 2
        elif body.startswith("${", i):
            if text:
                yield False, "".join(text)
                text = []
            depth, j, in_string = 1, i + 2, False
            while j < len(body) and depth:
                c = body[j]
                if in_string:
                    if c == "\\":
                        j += 1
                    elif c == "'":
                        in_string = False
                elif c == "'":
                    in_string = True
                elif c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                j += 1
            yield True, body[i + 2:j - 1]
            i = j
        else:
            text.append(ch)
            i += 1
    if text:
        yield False, "".join(text)


def tok(node: Any) -> Token | None:
    if isinstance(node, Tree) and node.children and isinstance(node.children[0], Token):
        return node.children[0]
    return node if isinstance(node, Token) else None


def line(node: Any, default: int) -> int:
    if isinstance(node, Token) and node.line is not None:
        return node.line
    if isinstance(node, Tree) and not node.meta.empty:
        return node.meta.line
    return default


def pairs(obj: Any) -> Iterator[tuple[Token, Any, int]]:
    """(key token, value node, line) of an object node's pairs."""
    if isinstance(obj, Tree) and obj.data == "object":
        for pair in obj.children:
            if isinstance(pair, Tree) and pair.data == "pair":
                token = tok(pair.children[0])
                if token is not None:
                    yield token, pair.children[1], line(token, 0)


def props(obj: Any) -> dict[str, Any]:
    """An object node's value nodes by key (identifier keys only: resource and module bodies)."""
    return {str(key): value for key, value, _ in pairs(obj)}


def config(body: Any) -> tuple[Any, list[Tree[Token]]]:
    """(the object node, the heads of the loops around it) of a resource or module body."""
    loops: list[Tree[Token]] = []
    while isinstance(body, Tree) and body.data in ("loop", "deploy_condition"):
        head = body.children[0]
        if body.data == "loop" and isinstance(head, Tree):
            loops.append(head)
        body = body.children[-1]
    return body, loops


def conditions(body: Any) -> list[Any]:
    """The ``if (...)`` conditions of a resource or module body (inside its loops too)."""
    found: list[Any] = []
    while isinstance(body, Tree) and body.data in ("loop", "deploy_condition"):
        if body.data == "deploy_condition":
            found.append(body.children[0])
        body = body.children[-1]
    return found
