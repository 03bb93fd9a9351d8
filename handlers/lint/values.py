"""What lint knows of a value in infrastructure code before it is deployed.

A value is plain JSON data (``str``, ``int``, ``bool``, ``None``, ``list``,
``dict``) when the code fixes it; :class:`Unknown` when only the deployment
decides it (a parameter, ``reference()``, ``uniqueString()``, a function lint
does not evaluate); :class:`Text` for a string with unknown parts
(``'Reader@${storageId}'``); :class:`Partial` for an object with unknown members
(``union(commonTags, {...})``).

The subscription, resource group and location a deployment goes to are not in
the code either, yet ``resourceGroup().id`` is plainly "the app's own resource
group". They are *stand-ins*: strings no template can contain, made per process
(:func:`stand_in`), which :func:`shown` turns back into ``{subscription}``,
``{resourceGroup}`` and ``{location}`` (the policy's own words for "the app's")
in what lint prints. So the grant checks of :mod:`handlers.grants` run on
ordinary strings, and a scope that lies within the app's resource group passes
whatever group that turns out to be.

:func:`call` evaluates the template functions that ARM JSON and Bicep share
(Bicep compiles to them): ``concat``, ``format``, ``resourceId``,
``resourceGroup``, ``subscription``, ``union``, ``if`` and a few more.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from handlers.ids import resource_path, scope_parts

__all__ = [
    "Obj",
    "Partial",
    "Placement",
    "Text",
    "Unknown",
    "Value",
    "call",
    "describe",
    "has_stand_in",
    "join",
    "known_when",
    "member",
    "origins_of",
    "placement_of",
    "resource_id",
    "shown",
    "stand_in",
]

Value = Any  # JSON data | Unknown | Text | Partial


@dataclass(frozen=True)
class Unknown:
    """A value only the deployment decides; `what` names it for a person, `when` says when
    it becomes known."""

    what: str
    when: str = "at deployment"


@dataclass(frozen=True)
class Text:
    """A string made of known text and :class:`Unknown` parts."""

    parts: tuple[str | Unknown, ...]

    def unknowns(self) -> list[Unknown]:
        return [p for p in self.parts if isinstance(p, Unknown)]


class Obj(dict[str, Any]):
    """An object value that remembers where each member is written: (file, line)."""

    def __init__(self, *args: Any, origins: Mapping[str, tuple[str, int]] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.origins: dict[str, tuple[str, int]] = dict(origins or {})


def origins_of(value: Any) -> Mapping[str, tuple[str, int]]:
    """Where the members of an object value are written, as far as it is known."""
    if isinstance(value, Partial):
        value = value.known
    return value.origins if isinstance(value, Obj) else {}


@dataclass(frozen=True)
class Partial:
    """An object of which some members are known and more may come from `unknown`."""

    known: Mapping[str, Value]
    unknown: tuple[Unknown, ...]


_TOKEN = secrets.token_hex(6)
_STAND_INS: dict[str, str] = {}


def stand_in(shown_as: str) -> str:
    """A string that stands for an unknown subscription, resource group or location.

    It is a valid ARM id segment (lower-case letters and digits) that no file
    contains; :func:`shown` prints it as `shown_as`. The same `shown_as` gives
    the same stand-in.
    """
    for token, text in _STAND_INS.items():
        if text == shown_as:
            return token
    token = f"x{_TOKEN}n{len(_STAND_INS)}x"
    _STAND_INS[token] = shown_as
    return token


def has_stand_in(text: str) -> bool:
    """True when `text` contains a stand-in (so it depends on where the app is deployed)."""
    return "x" + _TOKEN in text


def shown(text: str) -> str:
    """`text` with every stand-in replaced by what it stands for."""
    if "x" + _TOKEN not in text:
        return text
    for token, what in _STAND_INS.items():
        text = text.replace(token, what)
    return text


@dataclass(frozen=True)
class Placement:
    """Where a workload is deployed: literal values or stand-ins."""

    subscription: str = field(default_factory=lambda: stand_in("{subscription}"))
    resource_group: str = field(default_factory=lambda: stand_in("{resourceGroup}"))
    location: str = field(default_factory=lambda: stand_in("{location}"))

    @property
    def group_id(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"


def known_when(value: Value) -> str:
    """When the unknown parts of `value` become known (``at deployment``, ``after apply``)."""
    parts = value.unknowns() if isinstance(value, Text) else (
        list(value.unknown) if isinstance(value, Partial) else [value])
    return next((p.when for p in parts if isinstance(p, Unknown)), "at deployment")


def describe(value: Value) -> str:
    """A short account of what is unknown in `value`, e.g. ``parameter 'storageId'``."""
    if isinstance(value, Unknown):
        return value.what
    if isinstance(value, Text):
        whats = list(dict.fromkeys(u.what for u in value.unknowns()))
        return ", ".join(whats)
    if isinstance(value, Partial):
        return ", ".join(dict.fromkeys(u.what for u in value.unknown))
    return "a value that is not a string"


# --- building strings ---------------------------------------------------------------------------


def join(parts: Iterable[Value]) -> str | Text | Unknown:
    """The concatenation of `parts`: a str when all are known, else a :class:`Text`."""
    out: list[str | Unknown] = []
    for part in parts:
        if isinstance(part, Text):
            pieces: Iterable[str | Unknown] = part.parts
        elif isinstance(part, Unknown):
            pieces = [part]
        elif isinstance(part, bool):
            pieces = ["True" if part else "False"]  # what ARM's string() writes
        elif isinstance(part, str | int | float):
            pieces = [str(part)]
        elif part is None:
            pieces = [""]
        else:
            return Unknown("an object or array used as a string")
        for piece in pieces:
            if isinstance(piece, str) and out and isinstance(out[-1], str):
                out[-1] += piece
            elif piece != "":
                out.append(piece)
    if all(isinstance(p, str) for p in out):
        return "".join(p for p in out if isinstance(p, str))
    return Text(tuple(out))


def member(value: Value, name: Value) -> Value:
    """``value.name`` or ``value[name]`` (object members case-insensitively, as ARM)."""
    if isinstance(value, Unknown):
        return value
    if isinstance(name, Unknown | Text):
        return Unknown(describe(name))
    if isinstance(value, list) and isinstance(name, int) and not isinstance(name, bool):
        return value[name] if -len(value) <= name < len(value) else Unknown(f"item {name}")
    members: Mapping[str, Value] | None = None
    unknown: tuple[Unknown, ...] = ()
    if isinstance(value, dict):
        members = value
    elif isinstance(value, Partial):
        members, unknown = value.known, value.unknown
    if members is not None and isinstance(name, str):
        for key, item in members.items():
            if key.lower() == name.lower():
                return item
        if unknown:
            return Unknown(f"'{name}' of {describe(value)}")
        return Unknown(f"member '{name}' (not in the object)")
    if isinstance(value, Unknown):
        return Unknown(f"'{name}' of {value.what}")
    return Unknown(f"member '{name}' of {describe(value)}")


# --- resource ids -------------------------------------------------------------------------------


def resource_id(prefix: Value, resource_type: Value, names: list[Value]) -> Value:
    """``{prefix}/providers/{namespace}/{type}/{name}[/{type}/{name}...]``."""
    if not isinstance(resource_type, str) or "/" not in resource_type:
        return Unknown(f"a resource id of type {describe(resource_type)}")
    path = resource_path(resource_type, names)
    if path is None:
        return Unknown(f"a resource id of {resource_type} with {len(names)} names")
    parts: list[Value] = [prefix]
    for segment in path:
        parts += ["/", segment]
    return join(parts)


def placement_of(scope_id: Value, outer: Placement, what: str) -> Placement:
    """The placement of a scope object's id (``resourceGroup('rg2')``); unknown parts get
    stand-ins named after `what`."""
    parts = [scope_id] if isinstance(scope_id, str) else \
        list(scope_id.parts) if isinstance(scope_id, Text) else []
    subscription, group = scope_parts(parts)

    def named(pieces: tuple[Value, ...] | None, label: str) -> str:
        value = join(list(pieces or ()))
        return value if pieces and isinstance(value, str) else \
            stand_in(f"{{{label} of {what}}}")

    if subscription is None:
        return Placement(outer.subscription, named(None, "resourceGroup"), outer.location)
    return Placement(named(subscription, "subscription"), named(group, "resourceGroup"),
                     outer.location)


# --- the functions ARM JSON and Bicep share -------------------------------------------------------


def _scope_object(placement: Placement, args: list[Value], kind: str) -> Value:
    sub = placement.subscription
    if kind == "subscription":
        if args:
            sub = args[0]
        return {"id": join(["/subscriptions/", sub]), "subscriptionId": sub,
                "tenantId": Unknown("the tenant id"), "displayName": Unknown("the display name")}
    rg: Value = placement.resource_group
    location: Value = placement.location
    if len(args) == 1:
        rg, location = args[0], Unknown("the location of another resource group")
    elif len(args) >= 2:
        sub, rg, location = args[0], args[1], Unknown("the location of another resource group")
    return {"id": join(["/subscriptions/", sub, "/resourceGroups/", rg]), "name": rg,
            "location": location, "type": "Microsoft.Resources/resourceGroups",
            "properties": Unknown("resource group properties")}


def _type_index(args: list[Value]) -> int | None:
    for i, arg in enumerate(args[:3]):
        if isinstance(arg, str) and "/" in arg:
            return i
        if not isinstance(arg, str):
            return None
    return None


def _resource_id(placement: Placement, args: list[Value], kind: str) -> Value:
    i = _type_index(args)
    if i is None:
        return Unknown(f"{kind}() of {describe(next(a for a in args if not isinstance(a, str)))}"
                       if any(not isinstance(a, str) for a in args) else f"{kind}()")
    head, resource_type, names = args[:i], args[i], args[i + 1:]
    if kind == "tenantResourceId":
        return resource_id("", resource_type, names)
    if kind == "extensionResourceId":
        return resource_id(head[0], args[i], names) if head else Unknown(kind)
    sub: Value = placement.subscription
    if kind == "subscriptionResourceId":
        sub = head[0] if head else sub
        return resource_id(join(["/subscriptions/", sub]), resource_type, names)
    rg: Value = placement.resource_group
    if len(head) == 1:
        rg = head[0]
    elif len(head) >= 2:
        sub, rg = head[0], head[1]
    return resource_id(join(["/subscriptions/", sub, "/resourceGroups/", rg]), resource_type,
                       names)


def _format(args: list[Value]) -> Value:
    if not args or not isinstance(args[0], str):
        return Unknown("format() with a format string built from " + describe(args[0])
                       if args else "format()")
    fmt, values = args[0], args[1:]
    parts: list[Value] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch in "{}" and fmt[i:i + 2] in ("{{", "}}"):
            parts.append(ch)
            i += 2
        elif ch == "{":
            end = fmt.find("}", i)
            index = fmt[i + 1:end].split(":")[0].split(",")[0].strip() if end > 0 else ""
            if not index.isdigit() or int(index) >= len(values):
                return Unknown(f"format({fmt!r}) with a bad placeholder")
            parts.append(values[int(index)])
            i = end + 1
        else:
            parts.append(ch)
            i += 1
    return join(parts)


def _union(args: list[Value]) -> Value:
    if args and all(isinstance(a, list) for a in args):
        return [item for a in args for item in a]
    known = Obj()
    unknown: list[Unknown] = []
    for a in args:
        members = a.known if isinstance(a, Partial) else a
        if isinstance(members, Mapping):
            known.update(members)
            for key in members:  # a member written again takes its new place
                known.origins.pop(key, None)
            known.origins.update(origins_of(members))
            unknown.extend(a.unknown if isinstance(a, Partial) else ())
        else:
            unknown.append(a if isinstance(a, Unknown) else Unknown(describe(a)))
    return Partial(known, tuple(unknown)) if unknown else known


def _concat(args: list[Value]) -> Value:
    if args and all(isinstance(a, list) for a in args):
        return [item for a in args for item in a]
    return join(args)


def _if(args: list[Value]) -> Value:
    if len(args) == 3 and isinstance(args[0], bool):
        return args[1] if args[0] else args[2]
    return Unknown("a condition decided at deployment")


def _plain(value: Value) -> bool:
    return not isinstance(value, Unknown | Text | Partial)


def _case(fn: Callable[[str], str], args: list[Value]) -> Value:
    if len(args) != 1:
        return Unknown("toLower()/toUpper()")
    value = args[0]
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, Text):
        return Text(tuple(fn(p) if isinstance(p, str) else p for p in value.parts))
    return value


_SIMPLE: dict[str, Callable[[list[Value]], Value]] = {
    "concat": _concat,
    "format": _format,
    "union": _union,
    "if": _if,
    "tolower": lambda a: _case(str.lower, a),
    "toupper": lambda a: _case(str.upper, a),
    "string": lambda a: (a[0] if isinstance(a[0], str | Text | Unknown) else
                         json.dumps(a[0]) if _plain(a[0]) else Unknown(describe(a[0])))
    if len(a) == 1 else Unknown("string()"),
    "createobject": lambda a: (dict(zip(a[0::2], a[1::2], strict=True))
                               if len(a) % 2 == 0 and all(isinstance(k, str) for k in a[0::2])
                               else Unknown("createObject() with unknown keys")),
    "equals": lambda a: (a[0] == a[1] if len(a) == 2 and _plain(a[0]) and _plain(a[1])
                         else Unknown("a comparison decided at deployment")),
    "not": lambda a: (not a[0] if len(a) == 1 and isinstance(a[0], bool)
                      else Unknown("a condition decided at deployment")),
    "true": lambda a: True,
    "false": lambda a: False,
    "null": lambda a: None,
    "coalesce": lambda a: next((v for v in a if v is not None), None)
    if all(_plain(v) for v in a) else Unknown("coalesce() of values decided at deployment"),
    "json": lambda a: _json(a),
}


def _json(args: list[Value]) -> Value:
    if len(args) == 1 and isinstance(args[0], str):
        try:
            return json.loads(args[0])
        except ValueError:
            return Unknown("json() of text that is not JSON")
    return Unknown("json() of a value decided at deployment")


def call(name: str, args: list[Value], placement: Placement) -> Value:
    """The value of template function `name` (any case, ``az.``/``sys.`` prefix allowed)."""
    key = name.lower().removeprefix("az.").removeprefix("sys.")
    if key in ("resourcegroup", "subscription"):
        return _scope_object(placement, args, key)
    if key in ("resourceid", "subscriptionresourceid", "tenantresourceid",
               "extensionresourceid"):
        kind = {"resourceid": "resourceId", "subscriptionresourceid": "subscriptionResourceId",
                "tenantresourceid": "tenantResourceId",
                "extensionresourceid": "extensionResourceId"}[key]
        return _resource_id(placement, args, kind)
    simple = _SIMPLE.get(key)
    if simple is None:
        return Unknown(f"{name}()")
    try:
        return simple(args)
    except (IndexError, TypeError, ValueError):
        return Unknown(f"{name}() with arguments lint cannot evaluate")
