"""Revisions of a container app (``.../containerApps/{app}/revisions[/{name}[/{action}]]``).

Only a change of the app's template makes a new revision (creating the app makes
the first): identity, tags, secrets and other configuration do not. A new revision
is named ``{app}--{revisionSuffix}``, or ``{app}--`` and seven random letters as
ACA names them (``containerapp000002--enqluvc`` in the recordings); in the
``Single`` revision mode it takes all traffic and the earlier ones are deactivated.
"""

from __future__ import annotations

import copy
import random
import string
from typing import TYPE_CHECKING, Any

from .common import not_found
from .context import Ctx, Reply
from .ids import ResourceRef, norm
from .state import ArmError, utc_now

if TYPE_CHECKING:
    from .core import Emulator

__all__ = ["handle_revisions", "record_revision"]


def _suffix() -> str:
    return "".join(random.choices(string.ascii_lowercase, k=7))


def record_revision(emu: Emulator, app_key: str, app: dict[str, Any]) -> dict[str, Any]:
    """Make the app's new revision (its template changed) and point the app at it."""
    props = app["properties"]
    revisions = emu.store.revisions.setdefault(app_key, [])
    suffix = (props.get("template") or {}).get("revisionSuffix") or _suffix()
    name = f"{app['name'].lower()}--{suffix}"
    while any(r["name"] == name for r in revisions):
        name = f"{app['name'].lower()}--{_suffix()}"
    single = str((props.get("configuration") or {}).get("activeRevisionsMode",
                                                        "Single")).lower() != "multiple"
    now = utc_now()
    for old in revisions:
        if single and old["active"]:
            old.update(active=False, trafficWeight=0, replicas=0, runningState="Stopped",
                       lastActiveTime=now)
    ingress = (props.get("configuration") or {}).get("ingress")
    env = emu.store.resources.get(norm(str(props.get("environmentId") or "")))
    domain = ((env or {}).get("properties") or {}).get("defaultDomain", "")
    fqdn = f"{name}.{domain}" if ingress and domain else ""
    revision = {
        "name": name, "createdTime": now, "lastActiveTime": now, "fqdn": fqdn,
        "template": copy.deepcopy(props.get("template") or {}), "active": True,
        "replicas": 1, "trafficWeight": 100 if single else 0, "healthState": "Healthy",
        "provisioningState": "Provisioned", "runningState": "Running",
    }
    revisions.append(revision)
    props.update(latestRevisionName=name, latestReadyRevisionName=name,
                 latestRevisionFqdn=fqdn)
    return revision


def _view(ref: ResourceRef, app: dict[str, Any], revision: dict[str, Any]) -> dict[str, Any]:
    props = {k: copy.deepcopy(v) for k, v in revision.items() if k != "name"}
    app_id = f"{ref.rg_id}/providers/Microsoft.App/containerApps/{app['name']}"
    return {"id": f"{app_id}/revisions/{revision['name']}", "name": revision["name"],
            "type": "Microsoft.App/containerApps/revisions", "properties": props}


def handle_revisions(ctx: Ctx, app_ref: ResourceRef, rest: list[str]) -> Reply:
    """``rest``: the segments after ``revisions`` (``[]``, ``[name]`` or ``[name, action]``)."""
    key = norm(app_ref.id)
    app = ctx.store.resources.get(key)
    if app is None:
        raise not_found(app_ref)
    revisions = ctx.store.revisions.get(key, [])
    if not rest:
        if ctx.method != "GET":
            raise ArmError(405, "MethodNotAllowed", f"The method '{ctx.method}' is not allowed.")
        return ctx.page([_view(app_ref, app, r) for r in revisions])
    found = next((r for r in revisions if r["name"].lower() == rest[0].lower()), None)
    if found is None:
        raise ArmError(404, "ContainerAppRevisionNotFound",
                       f"Revision '{rest[0]}' of container app '{app['name']}' was not found.")
    if len(rest) == 1:
        if ctx.method != "GET":
            raise ArmError(405, "MethodNotAllowed", f"The method '{ctx.method}' is not allowed.")
        return Reply(200, _view(app_ref, app, found))
    action = rest[1].lower()
    if ctx.method != "POST" or action not in ("activate", "deactivate", "restart"):
        raise ArmError(404, "NotFound", f"The requested path '{ctx.path}' does not exist.")
    if action != "restart":
        active = action == "activate"
        found.update(active=active, replicas=1 if active else 0,
                     runningState="Running" if active else "Stopped")
    ctx.event(f"Microsoft.App/containerApps/revisions/{action}/action", ctx.path, "action")
    return Reply(200)
