"""Executions of a Container Apps job (``.../jobs/{job}/executions[/{name}[/stop]]``).

``POST .../jobs/{job}/start`` starts one (``Running``); it ends ``Succeeded`` when the
start's operation ends, or ``Stopped`` by ``POST .../jobs/{job}/stop`` or
``.../executions/{name}/stop``.
"""

from __future__ import annotations

import copy
import random
import string
from typing import Any

from .common import not_found
from .context import Ctx, Reply
from .ids import ResourceRef, norm
from .state import ArmError, utc_now

__all__ = ["finish_execution", "handle_executions", "start_execution", "stop_execution",
           "stop_executions"]

_TYPE = "Microsoft.App/jobs/executions"


def start_execution(ctx: Ctx, job_key: str, job: dict[str, Any]) -> dict[str, Any]:
    """A new running execution of the job; answers JobExecutionBase (name, id)."""
    name = f"{job['name']}-{''.join(random.choices(string.ascii_lowercase + string.digits, k=7))}"
    execution = {"id": f"{job['id']}/executions/{name}", "name": name, "type": _TYPE,
                 "properties": {"status": "Running", "startTime": utc_now(), "endTime": None,
                                "template": copy.deepcopy(job["properties"].get("template"))}}
    ctx.store.executions.setdefault(job_key, []).append(execution)
    return {"name": name, "id": execution["id"]}


def _end(execution: dict[str, Any], status: str) -> None:
    props = execution["properties"]
    if props["status"] == "Running":
        props.update(status=status, endTime=utc_now())


def finish_execution(ctx: Ctx, job_key: str, name: str) -> None:
    for execution in ctx.store.executions.get(job_key, []):
        if execution["name"] == name:
            _end(execution, "Succeeded")


def stop_executions(ctx: Ctx, job_key: str, name: str | None = None) -> list[dict[str, Any]]:
    """Stop the running executions (or the one named); answers those it stopped."""
    stopped = []
    for execution in ctx.store.executions.get(job_key, []):
        running = execution["properties"]["status"] == "Running"
        if running and (name is None or execution["name"].lower() == name.lower()):
            _end(execution, "Stopped")
            stopped.append({"name": execution["name"], "id": execution["id"]})
    return stopped


def stop_execution(ctx: Ctx, job_ref: ResourceRef, name: str) -> Reply:
    """``POST .../jobs/{job}/stop/{execution}``."""
    key = norm(job_ref.id)
    if ctx.store.resources.get(key) is None:
        raise not_found(job_ref)
    if not any(e["name"].lower() == name.lower() for e in ctx.store.executions.get(key, [])):
        raise ArmError(404, "ResourceNotFound", f"The job execution '{name}' was not found.")
    stop_executions(ctx, key, name)
    ctx.event("Microsoft.App/jobs/stop/action", ctx.path, "action")
    return Reply(200)


def handle_executions(ctx: Ctx, job_ref: ResourceRef, rest: list[str]) -> Reply:
    """``rest``: the segments after ``executions``."""
    key = norm(job_ref.id)
    if ctx.store.resources.get(key) is None:
        raise not_found(job_ref)
    executions = ctx.store.executions.get(key, [])
    if not rest:
        if ctx.method != "GET":
            raise ArmError(405, "MethodNotAllowed", f"The method '{ctx.method}' is not allowed.")
        return ctx.page([copy.deepcopy(e) for e in reversed(executions)])
    found = next((e for e in executions if e["name"].lower() == rest[0].lower()), None)
    if found is None:
        raise ArmError(404, "ResourceNotFound", f"The job execution '{rest[0]}' was not found.")
    if len(rest) == 1 and ctx.method == "GET":
        return Reply(200, copy.deepcopy(found))
    if [r.lower() for r in rest[1:]] == ["stop"]:
        if ctx.method != "POST":
            raise ArmError(405, "MethodNotAllowed", f"The method '{ctx.method}' is not allowed.")
        stop_executions(ctx, key, found["name"])
        ctx.event(f"{_TYPE}/stop/action", ctx.path, "action")
        return Reply(200)
    raise ArmError(404, "NotFound", f"The requested path '{ctx.path}' does not exist.")
