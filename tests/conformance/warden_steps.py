"""aca-warden end to end under ``az``: a person tags workloads, the running service acts.

The emulator delivers its events to ``python -m handlers serve`` (``--deliver-to``),
which signs in as the emulator's service identity (only the deployment template's
roles) with the policy :data:`POLICY`: the standard identity ``id-standard`` of the
app's own resource group, default grants, only apps in ``rg-warden`` managed. Every
change the service makes is observed with ``az`` alone, within a bounded wait.
"""

from __future__ import annotations

from typing import Any

from azcli import expect, wait_for
from operator_steps import IMAGE, JOB_IMAGE, Run, Step

__all__ = ["POLICY", "warden_steps"]

POLICY = """\
[identities]
standard = ["/subscriptions/{subscription}/resourceGroups/{resourceGroup}/providers/\
Microsoft.ManagedIdentity/userAssignedIdentities/id-standard"]

[apps]
resource_groups = ["rg-warden"]
"""
RG = "rg-warden"
BLOB = "Storage Blob Data Reader"
TABLE = "Storage Table Data Reader"
QUEUE = "Storage Queue Data Reader"
WAIT_S = 90.0  # the service answers within seconds at the conformance time scale


def warden_steps(r: Run) -> list[Step]:
    p, state = r.person, r.state
    rg_id = r.rg_id(RG)

    def held(principal: str) -> list[dict[str, Any]]:
        """The principal's assignments as an operator lists them."""
        return list(p.az("role", "assignment", "list", "--assignee", principal, "--all"))

    def everywhere(principal: str) -> list[dict[str, Any]]:
        """Its assignments, found without asking the directory (for a deleted principal)."""
        return [a for a in p.az("role", "assignment", "list", "--all")
                if a["principalId"] == principal]

    def roles(assignments: list[dict[str, Any]], by: str | None = None) -> set[str]:
        return {a["roleDefinitionName"] for a in assignments
                if by is None or a["createdBy"] == by}

    def standard_attached(kind: tuple[str, ...], name: str) -> dict[str, Any]:
        key = state["standard"]["id"].lower()

        def probe() -> dict[str, Any] | None:
            shown = p.az(*kind, "show", "-g", RG, "-n", name)
            ident = shown.get("identity") or {}
            users = [k.lower() for k in ident.get("userAssignedIdentities") or {}]
            done = shown["properties"]["provisioningState"] == "Succeeded"
            return shown if done and ident.get("principalId") and key in users else None

        shown = wait_for(f"{name}: the service attaches id-standard and a system identity",
                         probe, WAIT_S)
        expect(shown["identity"]["type"] == "SystemAssigned, UserAssigned",
               shown["identity"]["type"])
        return shown

    def granted(principal: str, want: set[str], gone: tuple[str, ...] = ()) -> set[str]:
        def probe() -> tuple[set[str]] | None:  # a tuple: an empty set is an answer too
            mine = roles(held(principal), by=r.service_oid)
            return (mine,) if want <= mine and not set(gone) & mine else None

        (mine,) = wait_for(f"the service's grants {sorted(want)} (and none of {sorted(gone)})",
                           probe, WAIT_S)
        return mine

    def check_grant(principal: str, role: str) -> None:
        (a,) = [a for a in held(principal) if a["roleDefinitionName"] == role]
        expect(a["scope"].lower() == rg_id.lower() and a["principalType"] == "ServicePrincipal"
               and a["createdBy"] == r.service_oid, str(a))

    def app_end_to_end() -> str:
        p.az("containerapp", "create", "-g", RG, "-n", "web", "--environment", state["env_id"],
             "--image", IMAGE, "--tags", f"grant:blob={BLOB}@.", f"grant:table={TABLE}@.",
             "grant:admin=Owner@.")
        app = standard_attached(("containerapp",), "web")
        principal = app["identity"]["principalId"]
        granted(principal, {BLOB, TABLE})  # one plan for every tag: Owner decided too
        check_grant(principal, BLOB)
        expect("Owner" not in roles(held(principal)), "Owner granted: the privilege floor")
        # alice's own assignment, then a tag asking for the same: hers holds it
        own = p.az("role", "assignment", "create", "--assignee-object-id", principal,
                   "--assignee-principal-type", "ServicePrincipal", "--role", QUEUE,
                   "--scope", rg_id)
        p.az("containerapp", "update", "-g", RG, "-n", "web",
             "--tags", f"grant:queue={QUEUE}@.")
        p.az("tag", "update", "--resource-id", app["id"], "--operation", "replace",
             "--tags", f"grant:table={TABLE}@.", f"grant:queue={QUEUE}@.")  # grant:blob goes
        granted(principal, {TABLE}, gone=(BLOB,))
        p.az("tag", "update", "--resource-id", app["id"], "--operation", "delete",
             "--tags", f"grant:queue={QUEUE}@.", f"grant:table={TABLE}@.")
        granted(principal, set(), gone=(TABLE,))
        (queue,) = [a for a in held(principal) if a["roleDefinitionName"] == QUEUE]
        expect(queue["name"] == own["name"] and queue["createdBy"] == state["alice"],
               f"alice's assignment replaced: {queue}")
        p.az("containerapp", "delete", "-g", RG, "-n", "web", "--yes")

        def cleaned() -> tuple[list[dict[str, Any]]] | None:
            mine = everywhere(principal)
            return None if roles(mine, by=r.service_oid) else (mine,)

        (left,) = wait_for("the service cleans up after the app", cleaned, WAIT_S)
        expect([a["name"] for a in left] == [own["name"]],
               f"after delete: {[(a['roleDefinitionName'], a['createdBy']) for a in left]}")
        return (f"web: id-standard + system identity {principal[:8]} attached; {BLOB}, "
                f"{TABLE} granted, Owner refused; tag update --operation replace / delete "
                "revoked them; alice's own assignment untouched, also after delete")

    def recreated_under_the_same_name() -> str:
        def create() -> str:
            p.az("containerapp", "create", "-g", RG, "-n", "again", "--environment",
                 state["env_id"], "--image", IMAGE, "--tags", f"grant:blob={BLOB}@.")
            principal = str(standard_attached(("containerapp",), "again")["identity"][
                "principalId"])
            granted(principal, {BLOB})
            return principal

        first = create()
        p.az("containerapp", "delete", "-g", RG, "-n", "again", "--yes")
        second = create()  # before the service has seen the delete, most likely
        expect(second != first, "the same principal")
        wait_for("the old principal's grant revoked", lambda: not roles(everywhere(first)),
                 WAIT_S)
        expect(BLOB in roles(held(second), by=r.service_oid), "the new app lost its grant")
        p.az("containerapp", "delete", "-g", RG, "-n", "again", "--yes")
        wait_for("the service cleans up after the app", lambda: not roles(everywhere(second)),
                 WAIT_S)
        return (f"again: deleted and re-created at once; the new principal {second[:8]} kept "
                f"its grant, the old one's {first[:8]} was revoked")

    def job_end_to_end() -> str:
        p.az("containerapp", "job", "create", "-g", RG, "-n", "nightly",
             "--environment", state["env_id"], "--trigger-type", "Manual",
             "--replica-timeout", "200", "--replica-retry-limit", "1",
             "--replica-completion-count", "1", "--parallelism", "1", "--image", JOB_IMAGE,
             "--cpu", "0.25", "--memory", "0.5Gi", "--tags", f"grant:blob={BLOB}@.")
        job = standard_attached(("containerapp", "job"), "nightly")
        principal = job["identity"]["principalId"]
        granted(principal, {BLOB})
        check_grant(principal, BLOB)
        updated = p.az("containerapp", "job", "update", "-g", RG, "-n", "nightly",
                       "--tags", f"grant:blob={BLOB}@.", f"grant:queue={QUEUE}@.")
        expect(set(updated["tags"]) == {"grant:blob", "grant:queue"}, str(updated["tags"]))
        granted(principal, {BLOB, QUEUE})
        p.az("tag", "update", "--resource-id", job["id"], "--operation", "delete",
             "--tags", f"grant:blob={BLOB}@.")
        granted(principal, {QUEUE}, gone=(BLOB,))
        p.az("containerapp", "job", "delete", "-g", RG, "-n", "nightly", "--yes")
        wait_for("the service cleans up after the job",
                 lambda: not roles(everywhere(principal)), WAIT_S)
        return (f"nightly: id-standard + system identity {principal[:8]}; grants follow "
                "job update --tags and tag update --operation delete; none left after delete")

    return [
        ("aca-warden under az: containerapp create --tags grant:... / update / tag update "
         "replace, delete / delete", app_end_to_end),
        ("aca-warden under az: an app deleted and re-created under the same name",
         recreated_under_the_same_name),
        ("aca-warden under az: containerapp job create --tags grant:... / update / delete",
         job_end_to_end),
    ]
