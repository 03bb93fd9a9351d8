"""Call economy (issue 5), through the emulator's request log.

"ARM requests" as the contract counts them: token requests excluded, LRO polls
included; writes are PUT, PATCH, DELETE and POST. Complements
tests/integration/test_warden_economy.py (single apps created through the SDK)
with the k-grant table, whole batches and the no-op and self-caused variants.
"""

from __future__ import annotations

import asyncio

import pytest

from emulator.ids import norm

from .conftest import TEMPLATE


@pytest.mark.parametrize("k", [1, 3, 5])
async def test_new_app_with_k_grant_tags_costs_k_plus_one_writes(burst, make_warden, k):
    app = burst.new_app("app1", k)
    warden = make_warden()
    burst.emu.clear_log()
    [out] = await warden.handle_payload([burst.event(app)])
    assert out.result == "applied", out
    assert burst.writes() == k + 1
    assert burst.writes(method="PATCH") == 1  # one identity PATCH with the full map
    assert burst.writes(method="PUT", path_contains="roleAssignments") == k


@pytest.mark.parametrize("k", [0, 2])
async def test_standard_identity_rides_on_the_same_patch(burst, make_warden, k):
    std = burst.emu.seed_identity(f"{burst.rg('rg1')}/providers/Microsoft.ManagedIdentity/"
                                  "userAssignedIdentities/std")["id"]
    app = burst.new_app("app1", k)
    warden = make_warden(standard_identities=(std,))
    burst.emu.clear_log()
    [out] = await warden.handle_payload([burst.event(app)])
    assert out.result == "applied", out
    assert burst.writes() == k + 1
    assert burst.writes(method="PATCH") == 1


async def test_new_app_without_grants_or_standard_identities_writes_nothing(burst, make_warden):
    app = burst.new_app("app1", 0)
    warden = make_warden()
    burst.emu.clear_log()
    [out] = await warden.handle_payload([burst.event(app)])
    assert out.result == "unchanged"
    # the GET of the app and the subscription's listing (grants of an old principal?)
    assert burst.writes() == 0 and burst.requests() == 2


async def test_missing_identity_created_once_per_resource_group_across_concurrent_batches(
        burst, make_warden):
    warden = make_warden(standard_identities=(TEMPLATE,), create_missing=True)
    burst.rg("rg2")
    apps = [burst.new_app(f"app{i}", 1, rg="rg1" if i < 100 else "rg2") for i in range(110)]
    events = [burst.event(a) for a in apps]
    burst.emu.clear_log()
    # two deliveries of one burst arriving at once, sharing the process
    first, second = await asyncio.gather(warden.handle_payload(events[:60]),
                                         warden.handle_payload(events[60:]))
    outs = first + second
    assert {o.result for o in outs} == {"applied"}, [o for o in outs if o.result != "applied"][:1]
    assert burst.writes(path_contains="userAssignedIdentities") == 2  # rg1 and rg2, once each
    assert burst.writes() == 2 + 110 * 2
    assert burst.requests(method="GET", path_contains="userAssignedIdentities") == 2
    # a later burst of the same resource group: no identity request at all
    more = [burst.new_app(f"late{i}", 1) for i in range(10)]
    burst.emu.clear_log()
    outs = await warden.handle_payload([burst.event(a) for a in more])
    assert {o.result for o in outs} == {"applied"}
    assert burst.requests(path_contains="userAssignedIdentities") == 0
    assert burst.writes() == 10 * 2


async def test_no_op_events_cost_at_most_two_requests_and_no_write(burst, make_warden):
    std = burst.emu.seed_identity(f"{burst.rg('rg1')}/providers/Microsoft.ManagedIdentity/"
                                  "userAssignedIdentities/std")["id"]
    warden = make_warden(standard_identities=(std,))
    app = burst.new_app("app1", 3)
    [out] = await warden.handle_payload([burst.event(app)])
    assert out.result == "applied"
    # a tag that is not a grant tag changes: ARM sends a tags write event
    burst.emu.store.resources[norm(app)]["tags"]["team"] = "y"
    tags_uri = f"{app}/providers/Microsoft.Resources/tags/default"
    variants = {
        "replayed write": burst.event(app),
        "tags write": burst.event(app, op="Microsoft.Resources/tags/write", uri=tags_uri),
        "bare-id tags write": burst.event(app, op="Microsoft.Resources/tags/write"),
        "other case": burst.event(app.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/")),
    }
    for name, event in variants.items():
        burst.emu.clear_log()
        [out] = await warden.handle_payload([event])
        assert out.result == "unchanged", (name, out)
        assert burst.writes() == 0, name
        assert burst.requests() <= 2, (name, burst.emu.request_log)


async def test_events_not_for_the_service_cost_no_request(burst, make_warden):
    warden = make_warden(resource_groups=("prod-*",))
    app = burst.new_app("app1", 2)
    events = [
        burst.event(app),  # outside apps.resource_groups
        burst.event(f"{app}/authConfigs/current",
                    op="Microsoft.App/containerApps/authConfigs/write"),
        burst.event(app, event_type="Microsoft.Resources.ResourceWriteFailure",
                    op="Microsoft.Resources/tags/write"),
        burst.event(app, op="Microsoft.Storage/storageAccounts/write"),
    ]
    burst.emu.clear_log()
    outs = await warden.handle_payload(events)
    assert {o.result for o in outs} == {"ignored"}, outs
    assert burst.requests() == 0


async def test_opted_out_app_costs_one_read(burst, make_warden):
    warden = make_warden()
    app = burst.new_app("app1", 2)
    burst.emu.store.resources[norm(app)]["tags"]["warden:ignore"] = "true"
    burst.emu.clear_log()
    [out] = await warden.handle_payload([burst.event(app)])
    assert out.result == "ignored"
    assert burst.requests() == 1 and burst.writes() == 0


async def test_self_caused_events_cost_no_request_even_in_a_fresh_process(
        burst, emu, make_warden):
    app = burst.new_app("app1", 2)
    mark = len(emu.events)
    await make_warden().handle_payload([burst.event(app)])
    own = emu.events[mark:]
    assert any(e["data"]["operationName"].lower() == "microsoft.app/containerapps/write"
               for e in own), "the service's PATCH produced no event"
    by_appid = burst.event(app, claims={"appid": emu.service_appid})
    by_oid_tags = burst.event(app, op="Microsoft.Resources/tags/write", claims={
        "oid": emu.service_oid})
    fresh = make_warden()  # nothing cached: the token's claims are all it needs
    emu.clear_log()
    outs = await fresh.handle_payload([*own, by_appid, by_oid_tags])
    assert all(o.result == "ignored" for o in outs), outs
    assert burst.requests() == 0
    assert emu.count(kind="token") <= 1


async def test_roles_and_identities_looked_up_once_per_process_in_a_concurrent_batch(
        burst, emu, make_warden):
    std = emu.seed_identity(f"{burst.rg('rg1')}/providers/Microsoft.ManagedIdentity/"
                            "userAssignedIdentities/std")["id"]
    warden = make_warden(standard_identities=(std,))
    apps = [burst.new_app(f"app{i}", 3) for i in range(40)]
    emu.clear_log()
    outs = await warden.handle_payload([burst.event(a) for a in apps])
    assert {o.result for o in outs} == {"applied"}
    assert burst.requests(path_contains="roleDefinitions") == 3  # three roles, 40 apps
    assert burst.requests(path_contains="userAssignedIdentities") == 1
    more = [burst.new_app(f"more{i}", 3) for i in range(10)]
    emu.clear_log()
    outs = await warden.handle_payload([burst.event(a) for a in more])
    assert {o.result for o in outs} == {"applied"}
    assert burst.requests(path_contains="roleDefinitions") == 0
    assert burst.requests(path_contains="userAssignedIdentities") == 0
    assert burst.writes() == 10 * 4


def _own_requests(burst, app: str) -> int:
    """Requests about one new app: its GETs and PATCH, and the PUTs of its grants."""
    names = {ra["name"] for ra in burst.emu.role_assignments()
             if (ra["properties"]["description"] or "").endswith(f"{app} (do not edit)")}
    return sum(1 for r in burst.emu.request_log if r.kind != "token" and (
        r.path.lower() == app.lower() or r.path.rsplit("/", 1)[-1] in names))


@pytest.mark.parametrize("k", [1, 2, 3])
async def test_a_burst_of_new_apps_costs_k_plus_3_requests_each_and_shares_the_rest(
        burst, make_warden, k):
    apps = [burst.new_app(f"app{i}", k) for i in range(30)]
    warden = make_warden()
    burst.emu.clear_log()
    outs = await warden.handle_payload([burst.event(a) for a in apps])
    assert {o.result for o in outs} == {"applied"}
    own = [_own_requests(burst, a) for a in apps]
    assert own == [k + 3] * len(apps)  # GET, PATCH, GET for the principal, k PUTs
    assert burst.emu.count(kind="poll") == 0  # the identity change is not waited for
    shared = burst.requests() - sum(own)
    assert shared <= 1 + k  # one listing of the subscription, each role looked up once


async def test_a_replayed_burst_costs_at_most_two_requests_per_event_in_a_fresh_process(
        burst, make_warden):
    apps = [burst.new_app(f"app{i}", 2) for i in range(30)]
    events = [burst.event(a) for a in apps]
    await make_warden().handle_payload(events)
    burst.emu.clear_log()
    outs = await make_warden().handle_payload(events)  # Event Grid redelivers elsewhere
    assert {o.result for o in outs} == {"unchanged"}
    assert burst.writes() == 0 and burst.requests() <= 2 * len(events)


async def test_three_events_per_app_in_a_delivery_cost_no_more_than_one(burst, emu,
                                                                       make_warden):
    ones = [burst.new_app(f"one{i}", 2) for i in range(20)]
    threes = [burst.new_app(f"three{i}", 2) for i in range(20)]
    emu.clear_log()
    await make_warden().handle_payload([burst.event(a) for a in ones])
    cost_one = (burst.requests(), burst.writes())
    tags = "/providers/Microsoft.Resources/tags/default"
    service = {"http://schemas.microsoft.com/identity/claims/objectidentifier":
               emu.service_oid}
    delivery = []
    for a in threes:
        delivery += [burst.event(a),
                     burst.event(a, op="Microsoft.Resources/tags/write", uri=a + tags),
                     burst.event(a, claims=service)]
    emu.clear_log()
    outs = await make_warden().handle_payload(delivery)
    assert [o.result for o in outs] == ["applied", "applied", "ignored"] * len(threes)
    assert (burst.requests(), burst.writes()) == cost_one
