"""Container apps and jobs are both workloads: each kind's own events, and two workloads of
one name (an app and a job) that never share a grant.

Everything else is run for both kinds by the other modules (``[app]`` / ``[job]``); here
are a person's Tags API write on a workload and the cases that need both kinds at once.
"""

from __future__ import annotations

from handlers.model import assignment_name, description_for

from .conftest import APP, BLOB_READER, JOB, READER, World, both_workloads, service_warden

ONE = {"grant:rg": f"{READER}@."}
TWO = {"grant:rg": f"{READER}@.",
       "grant:blob": f"{BLOB_READER}@Microsoft.Storage/storageAccounts/st1"}


def ours(world: World, app_id: str) -> list[dict]:
    return [a for a in world.assignments()
            if a["properties"]["description"] == description_for(app_id)]


# -- a person's Tags API write ------------------------------------------------------------
@both_workloads
async def test_a_tags_api_write_on_a_workload_reconciles_it(world, warden):
    """The Tags API's PUT on the workload's tags resource (its DELETE: test_hostile_life)."""
    app_id = world.app_id("app1")
    await warden.handle_payload(await world.create_app("app1"))
    events = await world.put_tags(app_id, TWO)
    assert [e["data"]["operationName"] for e in events] == ["Microsoft.Resources/tags/write"]
    assert events[0]["data"]["resourceUri"].lower().endswith(
        "/providers/microsoft.resources/tags/default")
    [out] = await warden.handle_payload(events)
    assert out.result == "applied" and out.app == app_id, out
    assert len(ours(world, app_id)) == 2


# -- an app and a job of one name ----------------------------------------------------------
async def test_an_app_and_a_job_of_one_name_never_share_a_grant(emu):
    async with World(emu, APP) as apps, World(emu, JOB) as jobs:
        warden = service_warden(emu)
        try:
            app_id, job_id = apps.app_id("same"), jobs.app_id("same")
            outs = await warden.handle_payload([*await apps.create_app("same", ONE),
                                                *await jobs.create_app("same", ONE)])
            assert [(o.app, o.result) for o in outs] == [(app_id, "applied"),
                                                         (job_id, "applied")]
            [for_app], [for_job] = ours(apps, app_id), ours(jobs, job_id)
            assert for_app["properties"]["principalId"] == apps.principal("same").lower()
            assert for_job["properties"]["principalId"] == jobs.principal("same").lower()
            for a, owner in ((for_app, app_id), (for_job, job_id)):
                p = a["properties"]
                assert a["name"] == assignment_name(owner, p["principalId"],
                                                    p["roleDefinitionId"].rsplit("/", 1)[-1],
                                                    p["scope"])
            assert "/Microsoft.App/jobs/same " in for_job["properties"]["description"]
            assert "/Microsoft.App/containerApps/same " in for_app["properties"]["description"]

            [out] = await warden.handle_payload(await jobs.delete_app("same"))
            assert out.result == "deleted" and len(out.changes) == 1
            assert ours(jobs, job_id) == [] and [a["name"] for a in ours(apps, app_id)] == [
                for_app["name"]]
            planned = await warden.plan_app(app_id)
            assert planned.result == "unchanged", planned
            planned = await warden.plan_app(job_id)
            # gone, and no grant of its left: "not found"
            assert planned.result == "refused" and "not found" in (planned.error or "")
        finally:
            await warden.close()


async def test_the_sweep_lists_jobs_and_apps_and_cleans_up_after_deleted_jobs(emu):
    async with World(emu, APP) as apps, World(emu, JOB) as jobs:
        warden = service_warden(emu)
        try:
            app_id, job_id, gone_id = (apps.app_id("same"), jobs.app_id("same"),
                                       jobs.app_id("gone"))
            apps.seed(app_id, tags=ONE)
            jobs.seed(job_id, tags=TWO)
            await warden.handle_payload(await jobs.create_app("gone", ONE))
            assert len(ours(jobs, gone_id)) == 1
            await jobs.delete_app("gone")  # its delete event is lost
            outs = {o.app: o for o in await warden.reconcile_all([emu.subscription_id])}
            assert {k: o.result for k, o in outs.items()} == {
                app_id: "applied", job_id: "applied", gone_id: "deleted"}
            assert len(ours(apps, app_id)) == 1 and len(ours(jobs, job_id)) == 2
            assert ours(jobs, gone_id) == []
            again = await warden.reconcile_all([emu.subscription_id])
            assert sorted((o.app, o.result) for o in again) == sorted(
                [(app_id, "unchanged"), (job_id, "unchanged")])
        finally:
            await warden.close()
