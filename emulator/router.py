"""Maps an ARM request path (case-insensitively) to its handler."""

from __future__ import annotations

from .authz import handle_authorization
from .context import Ctx, Reply
from .groups import list_groups, resource_group, subscriptions, tags_at_scope
from .ids import parse_resource_id
from .resources import handle_resource, list_resources
from .state import ArmError

__all__ = ["dispatch", "is_poll_path"]


def is_poll_path(low: list[str]) -> bool:
    return (
        len(low) == 8
        and low[0] == "subscriptions"
        and low[2:5] == ["providers", "microsoft.app", "locations"]
        and low[6] in ("containerappoperationstatuses", "containerappoperationresults")
    )


def _no_route(ctx: Ctx) -> ArmError:
    return ArmError(404, "NotFound", f"The requested path '{ctx.path}' does not exist.")


def dispatch(ctx: Ctx) -> Reply:
    segs, low = ctx.segs, ctx.low
    n = len(low)
    for i in range(n - 1):
        if low[i] != "providers":
            continue
        if low[i + 1] == "microsoft.authorization":
            return handle_authorization(ctx, segs[:i], segs[i + 2 :])
        if low[i + 1] == "microsoft.resources" and low[i + 2 :] == ["tags", "default"]:
            return tags_at_scope(ctx, "/" + "/".join(segs[:i]))
    if not low or low[0] != "subscriptions":
        raise _no_route(ctx)
    if n == 1:
        return subscriptions(ctx, None)
    sub = segs[1]
    if n == 2:
        return subscriptions(ctx, sub)
    if is_poll_path(low):
        return ctx.emu.poll(ctx, low[6] == "containerappoperationstatuses", segs[7])
    if low[2] == "providers":
        if n == 5 and ctx.method == "GET":
            return list_resources(ctx, sub, None, f"{segs[3]}/{segs[4]}")
        raise _no_route(ctx)
    if low[2] == "resources" and n == 3 and ctx.method == "GET":
        return list_resources(ctx, sub, None, None)
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
    if n == 7:
        if ctx.method != "GET":
            raise _no_route(ctx)
        return list_resources(ctx, sub, rg, f"{segs[5]}/{segs[6]}")
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
