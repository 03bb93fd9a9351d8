"""The seven steps of the story, what each checks, and running them in order.

Each step has the person change something through ARM, waits for Event Grid
delivery to settle, tells what the webhook did and then checks the emulator's
state (not the Warden's opinion of it). A step that cannot finish ends the
story; the steps after it are reported as not run.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Mapping
from typing import Any

from demo.org import (
    ACR_PULL,
    APP_NAME,
    APPS_RG,
    BLOB_READER,
    JOB_CRON,
    JOB_NAME,
    OWNER,
    PERSON,
    SECRETS_USER,
    TAG_ACR,
    TAG_ADMIN,
    TAG_BLOB,
    TAG_SECRETS,
    Org,
)
from demo.person import Person
from demo.report import Check, DemoResult, Narrator, brief, one_line, short
from demo.world import World, _Timeout

_GUID_NOTE = re.compile(r" \([0-9a-fA-F-]{36}\)")


def _props(resource: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (resource or {}).get("properties") or {}


class Story:
    """The organisation as the story goes: what the person did, and the checks so far."""

    def __init__(self, world: World, org: Org, person: Person, say: Narrator,
                 result: DemoResult, step_timeout: float) -> None:
        self.world = world
        self.emu = world.emu
        self.org = org
        self.person = person
        self.say = say
        self.result = result
        self.step_timeout = step_timeout
        self.principal: str | None = None        # the app's system-assigned principal
        self.warden_assignments: dict[str, str] = {}   # grant tag -> assignment name
        self.job_principal: str | None = None    # the job's system-assigned principal
        self.job_assignments: dict[str, str] = {}  # the job's grant tag -> assignment name
        self.person_assignment: str | None = None
        self.step_name = ""
        self.told: set[tuple[str, str]] = set()  # refusals already told in full

    # -- looking at the emulator's state -----------------------------------

    def app(self) -> Mapping[str, Any] | None:
        return self.emu.get(self.org.app_id)

    def job(self) -> Mapping[str, Any] | None:
        return self.emu.get(self.org.job_id)

    def assignments(self, principal: str | None) -> list[Mapping[str, Any]]:
        if not principal:
            return []
        return [a for a in self.emu.role_assignments()
                if str(_props(a).get("principalId", "")).lower() == principal.lower()]

    def matching(self, principal: str | None, role: str, scope: str) -> list[Mapping[str, Any]]:
        """Every assignment of `role` on `scope` to `principal`, whoever made it."""
        role_guid = short(self.person.roles[role]).lower()
        return [a for a in self.assignments(principal)
                if short(str(_props(a).get("roleDefinitionId", ""))).lower() == role_guid
                and str(_props(a).get("scope", "")).lower() == scope.lower()]

    def find(self, principal: str | None, role: str, scope: str) -> Mapping[str, Any] | None:
        return next(iter(self.matching(principal, role, scope)), None)

    def assignment_named(self, name: str | None) -> Mapping[str, Any] | None:
        return next((a for a in self.emu.role_assignments() if name and a.get("name") == name),
                    None)

    # -- checks ---------------------------------------------------------------

    def check(self, expected: str, observed: str, ok: bool) -> bool:
        c = Check(self.step_name, expected, observed, ok)
        self.result.checks.append(c)
        self.say.check(c)
        return ok

    def check_grant(self, tag: tuple[str, str], role: str, scope: str, *,
                    job: bool = False) -> None:
        """The grant `tag` asks for is held by the app's principal (the job's: `job`)."""
        a = self.find(self.job_principal if job else self.principal, role, scope)
        kind = _props(a).get("principalType")
        self.check(f"{tag[0]} granted" + (" to the job" if job else ""),
                   f"{role} on {short(scope)}, {kind}" if a else "missing",
                   a is not None and kind == "ServicePrincipal")
        if a is not None:
            (self.job_assignments if job else self.warden_assignments)[tag[0]] = str(
                a.get("name"))

    def check_identities(self, resource: Mapping[str, Any] | None, *, job: bool = False
                         ) -> str | None:
        """The standard identity is attached and the system identity enabled; returns the
        system-assigned principal."""
        identity = (resource or {}).get("identity") or {}
        attached = {k.lower() for k in identity.get("userAssignedIdentities") or {}}
        std = self.org.standard_id.lower()
        to = " to the job" if job else ""
        self.check(f"standard identity attached{to}",
                   "attached" if std in attached
                   else f"not attached ({len(attached)} user-assigned)", std in attached)
        principal = identity.get("principalId")
        kind = str(identity.get("type", "None"))
        self.check("the job's own system identity" if job else "system identity enabled",
                   f"{kind}, principal {str(principal)[:8]}",
                   "systemassigned" in kind.lower() and bool(principal)
                   and not (job and principal == self.principal))
        return principal

    def check_absent(self, expected: str, role: str, scope: str) -> None:
        a = self.find(self.principal, role, scope)
        self.check(expected, "absent" if a is None else f"still there ({a.get('name')})",
                   a is None)

    def check_reconciled(self, expected: str, outcomes: list[Any]) -> None:
        seen = self.of(self.org.app_id, outcomes, "applied", "unchanged")
        self.check(expected, ", ".join(o.result for o in seen) or "no outcome", bool(seen))

    def check_persons_assignment(self, expected: str) -> None:
        mine = self.assignment_named(self.person_assignment)
        self.check(expected,
                   "still there" if mine else "removed" if self.person_assignment else "none made",
                   mine is not None)

    # -- acting and telling -----------------------------------------------------

    async def act(self, action: Awaitable[Any]) -> list[Any]:
        """Do one thing as the person, wait for delivery to settle, tell what the webhook did.

        Returns the outcomes the webhook produced meanwhile.
        """
        recorder, delivery = self.world.recorder, self.world.delivery
        first_outcome, first_event = len(recorder.outcomes), len(self.emu.events)
        first_dead = len(delivery.dead_letters)
        await action
        took = await self.world.settle(self.step_timeout)
        dead = delivery.dead_letters[first_dead:]
        if dead:
            self.check("Event Grid delivers every event",
                       f"{len(dead)} dead-lettered ({dead[0][1]})", False)
        outcomes = recorder.outcomes[first_outcome:]
        self.say.detail(f"ARM emitted {len(self.emu.events) - first_event} event(s); "
                        f"Event Grid delivery settled after {took:.1f} s")
        ignored: dict[str, int] = {}
        for o in outcomes:
            if o.result == "ignored":
                why = brief(str(getattr(o, "reason", None) or "not for aca-warden"))
                ignored[why] = ignored.get(why, 0) + 1
                continue
            self.say.detail(f"webhook: {o.result} {short(o.app or '-')}")
            for change in o.changes or ():
                self.say.detail(f"  + {brief(str(change))}")
            for refusal in o.refused or ():
                what = refusal.get("tag") or refusal.get("identity")
                reason = brief(str(refusal.get("reason")))
                if (what, reason) in self.told:
                    self.say.detail(f"  still refused: {what}")
                else:
                    self.told.add((what, reason))
                    self.say.detail(f"  refused {what}: {reason}")
            if o.error:
                self.say.detail(f"  error: {o.error}")
        for why, n in ignored.items():
            self.say.detail(f"webhook: ignored {n} event(s): {why}")
        return outcomes

    @staticmethod
    def of(workload: str, outcomes: list[Any], *results: str) -> list[Any]:
        """The outcomes for one app or job with one of `results`."""
        return [o for o in outcomes
                if (o.app or "").lower() == workload.lower() and o.result in results]

    # -- the seven steps ------------------------------------------------------

    async def step_create(self) -> None:
        org = self.org
        tags = dict([TAG_BLOB, TAG_SECRETS])
        self.say.detail(f"{PERSON} creates {APP_NAME} in {APPS_RG} with the tags")
        for k, v in tags.items():
            self.say.detail(f"  {k} = {v}")
        await self.act(self.person.create_app(tags))
        self.principal = self.check_identities(self.app())
        self.check_grant(TAG_BLOB, BLOB_READER, org.storage_id)
        self.check_grant(TAG_SECRETS, SECRETS_USER, org.vault_id)

    async def step_retag(self) -> None:
        org = self.org
        tags = dict([TAG_SECRETS, TAG_ACR])
        self.say.detail(f"{PERSON} replaces the app's tags through the Tags API: drops "
                        f"{TAG_BLOB[0]}, keeps {TAG_SECRETS[0]}, adds {TAG_ACR[0]} = {TAG_ACR[1]}")
        await self.act(self.person.patch_tags("Replace", tags))
        self.check_absent(f"{TAG_BLOB[0]} revoked", BLOB_READER, org.storage_id)
        self.check_grant(TAG_ACR, ACR_PULL, org.rg_apps)
        kept = self.find(self.principal, SECRETS_USER, org.vault_id)
        same = kept is not None and kept.get("name") == self.warden_assignments.get(TAG_SECRETS[0])
        self.check(f"{TAG_SECRETS[0]} kept as it was",
                   "the same assignment" if same else "changed or gone", same)

    async def step_owner(self) -> None:
        org = self.org
        self.say.detail(f"{PERSON} merges the tag {TAG_ADMIN[0]} = {TAG_ADMIN[1]}")
        outcomes = await self.act(self.person.patch_tags("Merge", dict([TAG_ADMIN])))
        self.check_absent("no Owner assignment", OWNER, org.rg_apps)
        reasons = [str(r.get("reason")) for o in outcomes
                   for r in o.refused or () if str(r.get("tag", "")).lower() == TAG_ADMIN[0]]
        self.check(f"{TAG_ADMIN[0]} refused with a reason",
                   _GUID_NOTE.sub("", reasons[0].split(": ", 1)[0]) if reasons
                   else "no refusal reported",
                   bool(reasons))
        both = (self.find(self.principal, SECRETS_USER, org.vault_id) is not None
                and self.find(self.principal, ACR_PULL, org.rg_apps) is not None)
        self.check("the other grants still apply", "both present" if both else "missing", both)

    async def step_person(self) -> None:
        org = self.org
        if not self.principal:
            self.check("person's assignment made", "the app has no principal to assign to", False)
            return
        self.say.detail(f"{PERSON} assigns {BLOB_READER} on {short(org.storage_id)} to the "
                        "app's principal by hand (the very grant revoked in step 2)")
        self.person_assignment = await self.person.assign_by_hand(
            BLOB_READER, org.storage_id, self.principal)
        self.say.detail(f"then asks for the same grant by tag again: {TAG_BLOB[0]} = {TAG_BLOB[1]}")
        outcomes = await self.act(self.person.patch_tags("Merge", dict([TAG_BLOB])))
        self.check_reconciled("the app was reconciled", outcomes)
        copies = [a.get("name") for a in self.matching(self.principal, BLOB_READER,
                                                        org.storage_id)]
        self.check("no copy of the person's assignment",
                   f"only {PERSON}'s" if copies == [self.person_assignment]
                   else f"{len(copies)} assignments of that role there",
                   copies == [self.person_assignment])
        self.say.detail(f"then drops {TAG_BLOB[0]} again: the grant is no longer wanted, but the "
                        "assignment that served it is the person's, not aca-warden's")
        rest = dict([TAG_SECRETS, TAG_ACR, TAG_ADMIN])
        outcomes = await self.act(self.person.patch_tags("Replace", rest))
        self.check_reconciled("the app was reconciled again", outcomes)
        self.check_persons_assignment("the person's assignment left alone")

    async def step_job(self) -> None:
        org = self.org
        tags = dict([TAG_BLOB, TAG_SECRETS])
        self.say.detail(f"{PERSON} creates the scheduled job {JOB_NAME} (cron '{JOB_CRON}') in "
                        f"{APPS_RG} with the tags")
        for k, v in tags.items():
            self.say.detail(f"  {k} = {v}")
        await self.act(self.person.create_job(tags))
        self.job_principal = self.check_identities(self.job(), job=True)
        self.check_grant(TAG_BLOB, BLOB_READER, org.storage_id, job=True)
        self.check_grant(TAG_SECRETS, SECRETS_USER, org.vault_id, job=True)
        app_one = self.warden_assignments.get(TAG_SECRETS[0])
        job_one = self.job_assignments.get(TAG_SECRETS[0])
        apart = bool(app_one and job_one and app_one != job_one
                     and self.assignment_named(app_one))
        self.check(f"{TAG_SECRETS[0]} of the app and of the job are two grants",
                   "two assignments, one per identity" if apart else "shared or missing", apart)

    def live(self, assignments: Mapping[str, str]) -> dict[str, str]:
        """The assignments of `assignments` (grant tag -> name) that still exist."""
        return {tag: name for tag, name in assignments.items() if self.assignment_named(name)}

    async def delete_and_check(self, what: str, name: str, workload: str,
                               assignments: Mapping[str, str], delete: Awaitable[None]) -> None:
        """The person deletes an app or job: it is gone, the webhook cleans up after it and
        every grant aca-warden made for it is revoked."""
        live = self.live(assignments)
        self.say.detail(f"{PERSON} deletes {name}; aca-warden's grants for it: "
                        + (", ".join(live) or "none"))
        outcomes = await self.act(delete)
        gone = self.emu.get(workload) is None
        self.check(f"{what} gone", "gone" if gone else "still there", gone)
        deleted = self.of(workload, outcomes, "deleted")
        self.check("the webhook cleans up", "deleted" if deleted else "not reported",
                   bool(deleted))
        left = [tag for tag in live if self.assignment_named(live[tag])]
        self.check("its grants revoked",
                   f"{len(live)} of {len(live)} revoked" if not left
                   else "left: " + ", ".join(left),
                   bool(live) and not left)

    async def step_delete_job(self) -> None:
        apps = self.live(self.warden_assignments)
        await self.delete_and_check("job", JOB_NAME, self.org.job_id, self.job_assignments,
                                    self.person.delete_job())
        kept = self.live(apps)
        self.check("the app's grants untouched", f"{len(kept)} of {len(apps)} still there",
                   bool(apps) and len(kept) == len(apps))

    async def step_delete(self) -> None:
        await self.delete_and_check("app", APP_NAME, self.org.app_id, self.warden_assignments,
                                    self.person.delete_app())
        self.check_persons_assignment("the person's assignment still there")

STEPS = (
    ("1 create app", "a person creates an app with two grant tags", "step_create"),
    ("2 re-tag", "the tags change through the Tags API", "step_retag"),
    ("3 Owner tag", "a tag asks for Owner", "step_owner"),
    ("4 person's own", "a person's own role assignment for the app", "step_person"),
    ("5 scheduled job", "a person creates a scheduled job with grant tags", "step_job"),
    ("6 delete job", "the job is deleted", "step_delete_job"),
    ("7 delete app", "the app is deleted", "step_delete"),
)


async def tell_story(story: Story) -> None:
    """Run the steps in order; a step that cannot finish ends the story."""
    for number, (name, title, method) in enumerate(STEPS, start=1):
        story.step_name = name
        story.say.step(number, title)
        try:
            # The settle wait has its own deadline; this one bounds the SDK calls.
            await asyncio.wait_for(getattr(story, method)(), story.step_timeout + 10)
        except (_Timeout, TimeoutError) as exc:
            story.check("Event Grid delivery settles", f"timed out: {exc}", False)
        except Exception as exc:  # noqa: BLE001 - the demo reports, then stops
            story.check("the step runs", one_line(exc), False)
        else:
            continue
        for skipped, _, _ in STEPS[number:]:
            story.step_name = skipped
            story.check("the step runs", "not run: an earlier step did not finish", False)
        return
