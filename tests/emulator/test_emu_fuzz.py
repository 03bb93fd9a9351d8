"""Random ARM-shaped requests: the emulator answers every one with an ARM answer, never 500."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator import EmulatorThread

SUB = "0b5fe924-9a61-425c-96af-cfe6e287ca2d"
GUID = "05c5a614-a7d6-4502-b150-c2fb455033ff"
WORDS = ["subscriptions", SUB, "resourceGroups", "rg", "RESOURCEGROUPS", "providers",
         "Microsoft.App", "containerApps", "app1", "Microsoft.ManagedIdentity",
         "userAssignedIdentities", "id1", "Microsoft.Authorization", "roleAssignments",
         "roleDefinitions", GUID, "acdd72a7-3385-48ef-bd42-f606fba81ae7", "Microsoft.Resources",
         "tags", "default", "Microsoft.Storage", "storageAccounts", "st1", "locations",
         "containerappOperationStatuses", "start", "listSecrets", "x", "", "%20", "..", "ä"]

json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=6)
json_values = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(
        st.sampled_from(["location", "tags", "identity", "type", "properties", "principalId",
                         "roleDefinitionId", "userAssignedIdentities", "secrets",
                         "configuration", "operation", "roleName", "assignableScopes", "x"]),
        c, max_size=4),
    max_leaves=10)
bodies = st.one_of(st.none(), json_values.map(lambda v: json.dumps(v).encode()),
                   st.binary(max_size=40))


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    with EmulatorThread(time_scale=0, page_size=2, principal_delay_s=0, subscription_id=SUB) as e:
        e.seed_resource_group("rg")
        e.seed_identity(f"/subscriptions/{SUB}/resourceGroups/rg/providers"
                        "/Microsoft.ManagedIdentity/userAssignedIdentities/id1")
        e.seed_container_app(f"/subscriptions/{SUB}/resourceGroups/rg/providers"
                             "/Microsoft.App/containerApps/app1", identity="SystemAssigned")
        yield e


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE", "POST", "HEAD"]),
       path=st.lists(st.sampled_from(WORDS), min_size=0, max_size=10),
       body=bodies,
       query=st.sampled_from(["api-version=2022-04-01", "api-version=2022-04-01&$filter=bogus",
                              "api-version=2022-04-01&$skiptoken=x",
                              "api-version=2022-04-01&$filter=atScope()", ""]))
def test_random_requests_get_arm_answers(emu: Any, method: str, path: list[str],
                                         body: bytes | None, query: str) -> None:
    url = f"{emu.endpoint}/{'/'.join(urllib.parse.quote(p) for p in path)}?{query}"
    req = urllib.request.Request(url, data=body, method=method, headers={
        "Authorization": f"Bearer {emu.person_token()}", "Content-Type": "application/json"})
    ctx = ssl.create_default_context(cafile=emu.ca_path)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            status, text = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read()
    assert status < 500, (method, url, text[:300])
    if status >= 400 and method != "HEAD":
        error = json.loads(text)["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)


def test_fuzzing_left_a_consistent_store(emu: Any) -> None:
    for ra in emu.role_assignments():
        assert uuid.UUID(ra["name"])
        assert ra["properties"]["scope"].startswith("/")
