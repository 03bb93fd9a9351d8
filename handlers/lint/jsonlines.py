"""JSON with the line of every object key, for ``FILE:LINE`` findings.

:func:`load` parses with the standard library's own decoder (its error messages,
its string and number scanner) and returns plain ``dict`` / ``list`` data, where
every object is a :class:`JObject` that also knows the 1-based line of each of
its keys. (json-source-map does this too, but joins keys that contain ``/``
into ambiguous paths and takes seconds on a plan of a few megabytes.)
"""

from __future__ import annotations

import bisect
import json
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

__all__ = ["JObject", "line_of", "load"]

_WHITESPACE = " \t\n\r"


class JObject(dict[str, Any]):
    """A JSON object that remembers the line of each key (and of its own ``{``)."""

    line: int
    key_lines: dict[str, int]


def line_of(obj: object, key: str, default: int) -> int:
    """The line of `key` in `obj` when `obj` is a :class:`JObject` that has it, else `default`."""
    if isinstance(obj, JObject):
        return obj.key_lines.get(key, default)
    return default


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.newlines = [i for i, ch in enumerate(text) if ch == "\n"]
        self.scalar = json.JSONDecoder().scan_once  # type: ignore[attr-defined]

    def line(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1

    def skip(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and text[pos] in _WHITESPACE:
            pos += 1
        return pos

    def value(self, pos: int) -> tuple[Any, int]:
        pos = self.skip(pos)
        ch = self.text[pos]
        if ch == "{":
            return self.object(pos)
        if ch == "[":
            out: list[Any] = []
            pos = self.skip(pos + 1)
            if self.text[pos] == "]":
                return out, pos + 1
            while True:
                item, pos = self.value(pos)
                out.append(item)
                pos = self.skip(pos)
                if self.text[pos] == "]":
                    return out, pos + 1
                pos += 1  # ","
        return self.scalar(self.text, pos)  # type: ignore[no-any-return]

    def object(self, pos: int) -> tuple[JObject, int]:
        obj = JObject()
        obj.line = self.line(pos)
        obj.key_lines = {}
        pos = self.skip(pos + 1)
        if self.text[pos] == "}":
            return obj, pos + 1
        while True:
            pos = self.skip(pos)
            key_line = self.line(pos)
            key, pos = scanstring(self.text, pos + 1)
            pos = self.skip(pos) + 1  # ":"
            obj[key], pos = self.value(pos)
            obj.key_lines[key] = key_line  # the last of duplicate keys wins, as in json
            pos = self.skip(pos)
            if self.text[pos] == "}":
                return obj, pos + 1
            pos += 1  # ","


def load(text: str) -> Any:
    """Parse `text` as JSON; raises ``json.JSONDecodeError`` (with line and column) if it is not."""
    json.loads(text)  # validation, with the standard library's messages
    value, _ = _Scanner(text).value(0)
    return value
