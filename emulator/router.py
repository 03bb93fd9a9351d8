"""Maps an ARM request path (case-insensitively) to its handler."""

from __future__ import annotations

from .authz import handle_authorization
from .context import Ctx, Reply
from .executions import handle_executions, stop_execution
from .groups import (
    list_groups,
    resource_group,
    subscription_locations,
    subscriptions,
    tags_at_scope,
)
from .ids import parse_resource_id
from .lro import poll_route
from .providers import providers
from .resources import handle_resource, list_resources
from .revisions import handle_revisions
from .state import ArmError

__all__ = ["dispatch"]

_PROVIDER_ACTIONS = ("register", "unregister")


def _no_route(ctx: Ctx) -> ArmError:
    return ArmError(404, "NotFound", f"The requested path '{ctx.path}' does not exist.")


def _extension(ctx: Ctx) -> Reply | None:
    """``{scope}/providers/Microsoft.Authorization/...`` and the Tags API at any scope."""
    segs, low = ctx.segs, ctx.low
    for i in range(len(low) - 1):
        if low[i] != "providers":
            continue
        if low[i + 1] == "microsoft.authorization":
            rest = low[i + 2:]
            if not rest or rest[0] in _PROVIDER_ACTIONS:
                return None  # the provider itself
            return handle_authorization(ctx, segs[:i], segs[i + 2:])
        if low[i + 1] == "microsoft.resources" and low[i + 2:] == ["tags", "default"]:
            return tags_at_scope(ctx, "/" + "/".join(segs[:i]))
    return None


def _providers(ctx: Ctx, sub: str | None, rest: list[str]) -> Reply:
    """``.../providers[/{namespace}[/register]]`` or a subscription-wide list of a type."""
    if not rest:
        return providers(ctx, sub, None, None)
    if len(rest) == 1:
        return providers(ctx, sub, rest[0], None)
    if len(rest) == 2 and rest[1].lower() in _PROVIDER_ACTIONS and ctx.method == "POST":
        return providers(ctx, sub, rest[0], rest[1])
    if sub is not None and len(rest) == 2 and ctx.method == "GET":
        return list_resources(ctx, sub, None, f"{rest[0]}/{rest[1]}")
    raise _no_route(ctx)


def _in_group(ctx: Ctx, sub: str, rg: str) -> Reply:
    """``/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/...``."""
    segs, low = ctx.segs, ctx.low
    n = len(low)
    if n == 7:
        if ctx.method != "GET":
            raise _no_route(ctx)
        return list_resources(ctx, sub, rg, f"{segs[5]}/{segs[6]}")
    if n >= 9 and low[5:7] == ["microsoft.app", "containerapps"] and low[8] == "revisions":
        app = parse_resource_id("/" + "/".join(segs[:8]))
        assert app is not None
        return handle_revisions(ctx, app, segs[9:])
    if n >= 9 and low[5:7] == ["microsoft.app", "jobs"] and low[8] == "executions":
        job = parse_resource_id("/" + "/".join(segs[:8]))
        assert job is not None
        return handle_executions(ctx, job, segs[9:])
    if n == 10 and low[5:7] == ["microsoft.app", "jobs"] and low[8] == "stop" \
            and ctx.method == "POST":
        job = parse_resource_id("/" + "/".join(segs[:8]))
        assert job is not None
        return stop_execution(ctx, job, segs[9])
    action = None
    path = "/" + "/".join(segs)
    if (n - 6) % 2 == 1:
        if ctx.method != "POST":
            raise _no_route(ctx)
        action = segs[-1]
        path = "/" + "/".join(segs[:-1])
    ref = parse_resource_id(path)
    if ref is None:
        raise _no_route(ctx)
    return handle_resource(ctx, ref, action)


def dispatch(ctx: Ctx) -> Reply:
    segs, low = ctx.segs, ctx.low
    n = len(low)
    extension = _extension(ctx)
    if extension is not None:
        return extension
    if low and low[0] == "providers":
        return _providers(ctx, None, segs[1:])
    if not low or low[0] != "subscriptions":
        raise _no_route(ctx)
    if n == 1:
        return subscriptions(ctx, None)
    sub = segs[1]
    if n == 2:
        return subscriptions(ctx, sub)
    poll = poll_route(low)
    if poll is not None:
        return ctx.emu.operations.poll(ctx, poll[0], poll[1], segs[7])
    if low[2] == "providers":
        return _providers(ctx, sub, segs[3:])
    if low[2] == "resources" and n == 3 and ctx.method == "GET":
        return list_resources(ctx, sub, None, None)
    if low[2] == "locations" and n == 3 and ctx.method == "GET":
        return subscription_locations(ctx, sub)
    if low[2] != "resourcegroups":
        raise _no_route(ctx)
    if n == 3:
        if ctx.method != "GET":
            raise _no_route(ctx)
        return list_groups(ctx, sub)
    rg = segs[3]
    if n == 4:
        return resource_group(ctx, sub, rg)
    if n == 5 and low[4] == "resources" and ctx.method == "GET":
        return list_resources(ctx, sub, rg, None)
    if low[4] != "providers" or n < 7:
        raise _no_route(ctx)
    return _in_group(ctx, sub, rg)
