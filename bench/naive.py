"""The naive baseline: ``python -m bench.naive EVENTS_FILE [--poll-s S]``.

A fair, straightforward implementation of the same job, for the bench to
measure side by side with the service: for every event of the delivery, all at
once (no concurrency bound), it

1. GETs the app,
2. PATCHes its identity on (``SystemAssigned``, keeping its user-assigned ones)
   unless it has a system-assigned identity already,
3. polls the operation (``Location``) until it is done — every ``--poll-s``
   seconds, or as ``Retry-After`` says — and takes the principal from its result,
4. PUTs one role assignment per grant-tag item, ``principalType: ServicePrincipal``
   (deterministic names: a repeat is harmless; 409 RoleAssignmentExists is success).

No caching, no policy, no privilege floor: role names are resolved offline from
the built-in role table (handlers/data/builtin-roles.json), which spares it the
role-definition reads the service makes. It speaks HTTP with aiohttp directly (one
session, the same connection limit as the service) and retries 429 and 5xx up to
3 times as ``Retry-After`` says. It prints one JSON line per event
(``event_id``, ``app``, ``result`` applied / unchanged / error, ``error``) and
exits 1 when any event failed.

It never imports the service (``handlers``): it is the baseline, not a variant of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
import uuid
from typing import Any

import aiohttp

APPS_API = "2025-01-01"
AUTHZ_API = "2022-04-01"
PREFIX = "grant:"
_NS = uuid.UUID("2b1f3a4e-0c55-4d7e-9a3b-7d9f6b0e1c42")
_ROLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "handlers", "data", "builtin-roles.json")


class Naive:
    def __init__(self, session: aiohttp.ClientSession, endpoint: str, token: str,
                 poll_s: float) -> None:
        self.session = session
        self.endpoint = endpoint.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.poll_s = poll_s
        with open(_ROLES, encoding="utf-8") as f:
            self.roles = {r["roleName"].lower(): r["name"].lower() for r in json.load(f)}

    async def request(self, method: str, url: str, body: Any = None
                      ) -> tuple[int, dict[str, str], Any]:
        for attempt in range(4):
            async with self.session.request(method, url, json=body, headers=self.headers) as r:
                text = await r.text()
                if (r.status == 429 or r.status >= 500) and attempt < 3:
                    await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                    continue
                return r.status, dict(r.headers), json.loads(text) if text.strip() else None
        raise AssertionError("unreachable")

    async def converge(self, event: dict[str, Any]) -> dict[str, Any]:
        app = event["data"]["resourceUri"]
        status, _, body = await self.request("GET", f"{self.endpoint}{app}?api-version={APPS_API}")
        if status != 200:
            raise RuntimeError(f"GET {app}: {status}")
        identity = body.get("identity") or {}
        kind = (identity.get("type") or "None").replace(" ", "").lower()
        principal = identity.get("principalId")
        changes = []
        if "systemassigned" not in kind:
            user = identity.get("userAssignedIdentities") or {}
            patch: dict[str, Any] = {"type": "SystemAssigned, UserAssigned" if user
                                     else "SystemAssigned"}
            if user:
                patch["userAssignedIdentities"] = {k: {} for k in user}
            principal = await self.patch_and_wait(app, {"identity": patch})
            changes.append("enable system-assigned identity")
        rg = app.split("/providers/")[0]
        sub = app.split("/")[2]
        for name, value in (body.get("tags") or {}).items():
            if not name.lower().startswith(PREFIX):
                continue
            for item in value.split(";"):
                if not item.strip():
                    continue
                role, scope = (part.strip() for part in item.split("@"))
                scope = rg if scope == "." else scope if scope.startswith("/") \
                    else f"{rg}/providers/{scope}"
                guid = self.roles.get(role.lower(), role.lower())
                await self.grant(app, sub, str(principal), guid, scope)
                changes.append(f"grant {role} on {scope}")
        return {"app": app, "result": "applied" if changes else "unchanged", "changes": changes}

    async def patch_and_wait(self, app: str, body: dict[str, Any]) -> str:
        url = f"{self.endpoint}{app}?api-version={APPS_API}"
        status, headers, answer = await self.request("PATCH", url, body)
        if status >= 300:
            raise RuntimeError(f"PATCH {app}: {status} {answer}")
        location = headers.get("Location")
        while status == 202 and location:
            await asyncio.sleep(float(headers.get("Retry-After") or self.poll_s))
            status, headers, answer = await self.request("GET", location)
            if status >= 300 and status != 202:
                raise RuntimeError(f"operation on {app}: {status} {answer}")
            location = headers.get("Location") or location
        if answer is None:  # a 204: read the app
            _, _, answer = await self.request("GET", url)
        return str(answer["identity"]["principalId"])

    async def grant(self, app: str, sub: str, principal: str, guid: str, scope: str) -> None:
        name = uuid.uuid5(_NS, f"{app}|{principal}|{guid}|{scope}".lower())
        url = (f"{self.endpoint}{scope}/providers/Microsoft.Authorization/roleAssignments/"
               f"{name}?api-version={AUTHZ_API}")
        body = {"properties": {
            "roleDefinitionId": f"/subscriptions/{sub}/providers/Microsoft.Authorization/"
                                f"roleDefinitions/{guid}",
            "principalId": principal, "principalType": "ServicePrincipal"}}
        status, _, answer = await self.request("PUT", url, body)
        code = ((answer or {}).get("error") or {}).get("code", "")
        if status >= 300 and not (status == 409 and code == "RoleAssignmentExists"):
            raise RuntimeError(f"PUT {url}: {status} {answer}")


async def run(events: list[dict[str, Any]], poll_s: float) -> int:
    from azure.identity.aio import DefaultAzureCredential

    endpoint = os.environ["WARDEN_ARM_ENDPOINT"]
    ca = os.environ.get("SSL_CERT_FILE") or None
    credential = DefaultAzureCredential(connection_verify=ca) if ca else DefaultAzureCredential()
    async with credential:
        token = (await credential.get_token(f"{endpoint}/.default")).token
    connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=ca), limit=100)
    failed = 0
    async with aiohttp.ClientSession(connector=connector) as session:
        naive = Naive(session, endpoint, token, poll_s)

        async def one(event: dict[str, Any]) -> dict[str, Any]:
            try:
                out = await naive.converge(event)
                return {"event_id": event.get("id"), **out, "error": None}
            except Exception as e:  # noqa: BLE001 - reported per event, counted in the exit code
                return {"event_id": event.get("id"), "app": None, "result": "error",
                        "error": f"{type(e).__name__}: {e}"}

        for out in await asyncio.gather(*(one(e) for e in events)):
            failed += out["result"] == "error"
            print(json.dumps(out))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.naive", description=__doc__.splitlines()[0])
    p.add_argument("events")
    p.add_argument("--poll-s", type=float, default=1.0,
                   help="poll interval when ARM sends no Retry-After (default: %(default)s)")
    args = p.parse_args(argv)
    with open(args.events, encoding="utf-8") as f:
        events = json.load(f)
    return asyncio.run(run(events, args.poll_s))


if __name__ == "__main__":
    sys.exit(main())
