"""handlers.ids: the ARM id value type, the workload table, the one is_guid and arm_path_problem."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers import ids
from handlers.ids import (
    ArmId,
    WorkloadType,
    arm_path_problem,
    is_guid,
    resource_path,
    role_definition_guid,
    scope_parts,
    split_type,
    subscription_in_path,
    workload_id,
    workload_operation,
    workload_type,
)

SUB = "5f6e7d8c-1a2b-4c3d-9e8f-0a1b2c3d4e5f"
RG = f"/subscriptions/{SUB}/resourceGroups/rg1"
APP = f"{RG}/providers/Microsoft.App/containerApps/web"
UAMI = f"{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/std"


# --- parsing and canonical spelling --------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    APP,
    APP.replace("resourceGroups", "resourcegroups"),
    APP.replace("containerApps", "containerapps"),
    APP.replace("Microsoft.App", "microsoft.app"),
    APP.replace("/subscriptions/", "/Subscriptions/").replace("providers", "Providers"),
    APP.replace(SUB, SUB.upper()),
])
def test_the_spellings_arm_answers_are_one_id_in_canonical_form(raw: str) -> None:
    parsed = ArmId.parse(raw)
    assert str(parsed) == APP
    assert parsed == ArmId.parse(APP) and hash(parsed) == hash(ArmId.parse(APP))


def test_resource_group_and_name_keep_their_case_but_compare_without_it() -> None:
    shouting = ArmId.parse(APP.replace("rg1", "RG1").replace("web", "WEB"))
    assert shouting.resource_group == "RG1" and shouting.name == "WEB"
    assert shouting == ArmId.parse(APP)
    assert {shouting: 1}[ArmId.parse(APP)] == 1


def test_unknown_types_are_kept_as_written() -> None:
    raw = f"{RG}/providers/microsoft.storage/storageaccounts/st1"
    assert str(ArmId.parse(raw)) == raw


@pytest.mark.parametrize(("raw", "canonical"), [
    (UAMI.replace("Microsoft.ManagedIdentity/userAssignedIdentities",
                  "microsoft.managedidentity/userassignedidentities"), UAMI),
    (f"/subscriptions/{SUB}/providers/microsoft.authorization/roledefinitions/x",
     f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/x"),
    (f"{RG}/providers/microsoft.app/jobs/j1", f"{RG}/providers/Microsoft.App/jobs/j1"),
])
def test_known_types_are_spelt_as_azure_documents_them(raw: str, canonical: str) -> None:
    assert str(ArmId.parse(raw)) == canonical


# --- parts ---------------------------------------------------------------------------------------


def test_parts_of_a_workload() -> None:
    app = ArmId.parse(APP)
    assert (app.subscription, app.resource_group, app.provider, app.type, app.name) == (
        SUB, "rg1", "Microsoft.App", "Microsoft.App/containerApps", "web")
    assert app.is_top_level and app.parent == ArmId.parse(RG)
    assert app.workload_type is not None and app.workload_type.type == app.type


def test_parts_of_a_child_resource() -> None:
    child = ArmId.parse(f"{APP}/authConfigs/current")
    assert child.type == "Microsoft.App/containerApps/authConfigs"
    assert child.name == "current" and not child.is_top_level
    assert child.parent == ArmId.parse(APP)
    assert child.workload_type is None


def test_parts_of_an_extension_resource() -> None:
    tags = ArmId.parse(f"{APP}/providers/Microsoft.Resources/tags/default")
    assert tags.type == "Microsoft.Resources/tags" and tags.name == "default"
    assert tags.provider == "Microsoft.Resources" and tags.parent == ArmId.parse(APP)
    assert tags.resource_group == "rg1" and tags.workload_type is None


@pytest.mark.parametrize(("raw", "sub", "rg", "name", "parent"), [
    (f"/subscriptions/{SUB}", SUB, None, SUB, "/"),
    (RG, SUB, "rg1", "rg1", f"/subscriptions/{SUB}"),
    ("/", None, None, None, None),
    ("/providers/Microsoft.Management/managementGroups/mg1", None, None, "mg1", "/"),
    (f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/g1", SUB, None,
     "g1", f"/subscriptions/{SUB}"),
])
def test_parts_of_scopes(raw: str, sub: str | None, rg: str | None, name: str | None,
                         parent: str | None) -> None:
    parsed = ArmId.parse(raw)
    assert (parsed.subscription, parsed.resource_group, parsed.name) == (sub, rg, name)
    assert (str(parsed.parent) if parsed.parent is not None else None) == parent


def test_child_builds_an_extension_resource() -> None:
    assert str(ArmId.parse(APP).child("Microsoft.Resources/tags", "default")) == (
        f"{APP}/providers/Microsoft.Resources/tags/default")
    assert str(ArmId.parse("/").child("Microsoft.Authorization/roleAssignments", "g")) == (
        "/providers/Microsoft.Authorization/roleAssignments/g")


@pytest.mark.parametrize(("outer", "inner", "inside"), [
    (RG, APP, True),
    (RG, RG, True),
    (RG.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"), APP, True),
    (RG, RG + "0", False),
    (RG, f"/subscriptions/{SUB}/resourceGroups/rg10/providers/Microsoft.App/containerApps/x",
     False),
    (APP, RG, False),
    ("/", APP, True),
    (f"/subscriptions/{SUB}", APP, True),
])
def test_contains_is_segment_wise_and_case_insensitive(outer: str, inner: str,
                                                       inside: bool) -> None:
    assert ArmId.parse(outer).contains(ArmId.parse(inner)) is inside


def test_an_id_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ArmId.parse(APP).segments = ()  # type: ignore[misc]


def test_an_id_never_equals_its_string() -> None:
    assert ArmId.parse(APP) != APP


# --- what is not an id ---------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "why"), [
    ("", "empty"),
    ("subscriptions/x", "start with '/'"),
    (APP + "/", "ends with '/'"),
    (APP.replace("rg1", ".."), "'..'"),
    (APP.replace("rg1", "rg 1"), "whitespace"),
    (APP.replace("rg1", "rg%2F1"), "'%'"),
    (APP.replace("web", "we?b"), "'?'"),
    (RG + "//providers/x", "empty segment"),
    ("/x" * 3000, "longer than"),
    ("/subscriptions", "no id"),
    (f"/subscriptions/{SUB}/resourceGroups", "no name"),
    (f"{RG}/Microsoft.App/containerApps/x", "expected 'providers'"),
    (f"{RG}/providers/Microsoft.App/containerApps", "<Namespace>/<type>/<name>"),
    (f"{RG}/providers/storage/accounts/x", "not a resource provider namespace"),
    (f"{APP}/authConfigs", "has no name"),
])
def test_malformed_ids_are_refused_with_a_reason(raw: str, why: str) -> None:
    with pytest.raises(ValueError, match=why.replace("?", r"\?").replace("/", r"/")) as info:
        ArmId.parse(raw)
    assert why in str(info.value)
    assert ArmId.try_parse(raw) is None


@pytest.mark.parametrize("value", [None, 3, b"/subscriptions/x", ["/"]])
def test_try_parse_of_a_non_string_is_none(value: object) -> None:
    assert ArmId.try_parse(value) is None


def test_arm_path_problem_is_none_for_a_plain_id_and_the_root_parses() -> None:
    assert arm_path_problem(APP) is None
    assert ArmId.parse("/").segments == () and str(ArmId.parse("/")) == "/"


# --- workloads -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    (APP, APP),
    (APP.lower().replace(SUB, SUB.upper()), APP.lower()),
    (f"{APP}/authConfigs/current", None),
    (f"{APP}/providers/Microsoft.Resources/tags/default", None),
    (f"{RG}/providers/Microsoft.Web/sites/web", None),
    (f"{RG}/providers/microsoft.app/JOBS/j1", f"{RG}/providers/Microsoft.App/jobs/j1"),
    (f"{RG}/providers/Microsoft.App/jobs/j1/executions/e1", None),
    (f"{RG}/providers/Microsoft.App/sessionPools/p1", None),  # not in the table
    (f"/subscriptions/{SUB}/providers/Microsoft.App/containerApps/x", None),  # no group
    (RG, None),
    ("not an id", None),
    (None, None),
])
def test_workload_id_names_only_top_level_workloads_in_a_group(value: object,
                                                               expected: str | None) -> None:
    found = workload_id(value)
    if expected is None:
        assert found is None
    else:
        assert found is not None and found == ArmId.parse(expected)
        assert str(found).startswith(f"/subscriptions/{SUB}/resourceGroups/")


def test_the_workload_table_derives_operations_and_list_paths() -> None:
    apps = workload_type("microsoft.app/CONTAINERAPPS")
    assert apps is not None
    assert apps.write_operation == "Microsoft.App/containerApps/write"
    assert apps.delete_operation == "Microsoft.App/containerApps/delete"
    assert apps.list_path(SUB) == f"/subscriptions/{SUB}/providers/Microsoft.App/containerApps"
    assert (apps.namespace, apps.collection) == ("Microsoft.App", "containerApps")
    assert apps.status_kind == "containerappOperationStatuses"
    assert workload_type("Microsoft.Web/sites") is None


def test_jobs_are_workloads_of_their_own_type() -> None:
    jobs = workload_type("microsoft.app/JOBS")
    assert jobs is not None and jobs.type == "Microsoft.App/jobs"
    assert (jobs.write_operation, jobs.delete_operation) == (
        "Microsoft.App/jobs/write", "Microsoft.App/jobs/delete")
    assert jobs.status_kind == "containerappsjobOperationStatuses"
    assert jobs.list_path(SUB) == f"/subscriptions/{SUB}/providers/Microsoft.App/jobs"
    job = workload_id(f"{RG}/providers/microsoft.app/JOBS/same")
    assert job is not None and job.workload_type == jobs
    assert job != ArmId.parse(f"{RG}/providers/Microsoft.App/containerApps/same")


def test_a_new_workload_type_is_one_line_in_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    pools = WorkloadType("Microsoft.App/sessionPools", "sessionPoolOperationStatuses")
    monkeypatch.setattr(ids, "WORKLOAD_TYPES", (*ids.WORKLOAD_TYPES, pools))
    pool = workload_id(f"{RG}/providers/microsoft.app/sessionPools/p1")
    assert pool is not None and pool.workload_type == pools
    assert pools.write_operation == "Microsoft.App/sessionPools/write"
    assert workload_operation("microsoft.app/SESSIONPOOLS/delete") == (pools, "delete")


@pytest.mark.parametrize(("operation", "found"), [
    ("Microsoft.App/containerApps/write", ("Microsoft.App/containerApps", "write")),
    ("microsoft.app/JOBS/DELETE", ("Microsoft.App/jobs", "delete")),
    ("Microsoft.App/containerApps/start/action", None),
    ("Microsoft.App/containerApps/authConfigs/write", None),
    ("Microsoft.Resources/tags/write", None),
    ("write", None),
])
def test_workload_operations_come_from_the_table(operation: str,
                                                 found: tuple[str, str] | None) -> None:
    got = workload_operation(operation)
    assert ((got[0].type, got[1]) if got else None) == found


# --- guids and paths -----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "ok"), [
    ("2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", True),
    ("2A2B9908-6EA1-4AE2-8E65-A410DF84E7D1", True),
    ("2a2b99086ea14ae28e65a410df84e7d1", False),
    ("{2a2b9908-6ea1-4ae2-8e65-a410df84e7d1}", False),
    ("2a2b9908-6ea1-4ae2-8e65-a410df84e7d", False),
    ("Reader", False),
    ("", False),
])
def test_is_guid_takes_only_the_8_4_4_4_12_form(value: str, ok: bool) -> None:
    assert is_guid(value) is ok


@pytest.mark.parametrize(("path", "sub"), [
    (f"https://management.azure.com{APP}?api-version=1", SUB),
    (f"/SUBSCRIPTIONS/{SUB.upper()}/resourceGroups/x", SUB),
    ("https://management.azure.com/providers/Microsoft.Authorization/x", ""),
    ("/subscriptions?api-version=2022-12-01", ""),
])
def test_subscription_in_path(path: str, sub: str) -> None:
    assert subscription_in_path(path) == sub


# --- properties ----------------------------------------------------------------------------------

names = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd"),
                                       whitelist_characters="-_."), min_size=1, max_size=12)


@given(names, names, st.sampled_from(["containerApps", "containerapps", "CONTAINERAPPS"]),
       st.booleans())
def test_parse_round_trips_and_ignores_case(rg: str, name: str, collection: str,
                                             upper: bool) -> None:
    if rg in (".", "..") or name in (".", ".."):
        return
    raw = f"/subscriptions/{SUB}/resourcegroups/{rg}/providers/Microsoft.App/{collection}/{name}"
    parsed = ArmId.parse(raw.upper() if upper else raw)
    assert ArmId.parse(str(parsed)) == parsed
    assert str(ArmId.parse(str(parsed))) == str(parsed)
    assert parsed.key == str(parsed).lower()
    assert parsed.parent is not None and parsed.parent.contains(parsed)


GUID = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"


@pytest.mark.parametrize(("value", "guid"), [
    (f"/providers/Microsoft.Authorization/roleDefinitions/{GUID}", GUID),
    (f"/subscriptions/{SUB}/providers/microsoft.authorization/ROLEDEFINITIONS/{GUID.upper()}",
     GUID),
    (f"{RG}/providers/Microsoft.Authorization/roleDefinitions/{GUID}", None),  # not ARM's form
    (f"{APP}/providers/Microsoft.Authorization/roleDefinitions/{GUID}", None),
    ("/providers/Microsoft.Authorization/roleDefinitions/Reader", None),
    (f"/providers/Microsoft.Authorization/roleAssignments/{GUID}", None),
    (f"/providers/Microsoft.Authorization/roleDefinitions/{GUID}/x/y", None),
    (GUID, None),
    (f"/subscriptions/a b/providers/Microsoft.Authorization/roleDefinitions/{GUID}", None),
])
def test_role_definition_guid(value: str, guid: str | None) -> None:
    assert role_definition_guid(value) == guid


# --- ids written with parts known later (infrastructure code) ----------------------------------


def test_split_type_gives_the_namespace_and_the_type_names() -> None:
    assert split_type("Microsoft.Storage/storageAccounts/blobServices") == (
        "Microsoft.Storage", ("storageAccounts", "blobServices"))
    assert split_type("Microsoft.Storage") == ("Microsoft.Storage", ())


class Later:
    """A piece of a path that is not text (a template value known at deployment)."""

    def __repr__(self) -> str:
        return "<later>"


LATER = Later()


@pytest.mark.parametrize(("rtype", "names", "path"), [
    ("Microsoft.Storage/storageAccounts", ["st"],
     ("providers", "Microsoft.Storage", "storageAccounts", "st")),
    ("Microsoft.Storage/storageAccounts/blobServices", ["st", "default"],
     ("providers", "Microsoft.Storage", "storageAccounts", "st", "blobServices", "default")),
    ("Microsoft.Storage/storageAccounts/blobServices", ["st/default"],  # a template's child
     ("providers", "Microsoft.Storage", "storageAccounts", "st", "blobServices", "default")),
    ("Microsoft.Storage/storageAccounts/blobServices", [LATER, "default"],
     ("providers", "Microsoft.Storage", "storageAccounts", LATER, "blobServices", "default")),
    ("Microsoft.Storage/storageAccounts/blobServices", [LATER], None),
    ("Microsoft.Storage/storageAccounts", ["a", "b"], None),
    ("Microsoft.Storage", [], None),
])
def test_resource_path_pairs_type_names_with_names(rtype: str, names: list[object],
                                                   path: tuple[object, ...] | None) -> None:
    assert resource_path(rtype, names) == path


@pytest.mark.parametrize(("parts", "found"), [
    ([RG], ((SUB,), ("rg1",))),
    ([f"/SUBSCRIPTIONS/{SUB}/resourcegroups/rg1/providers/Microsoft.App/containerApps/x"],
     ((SUB,), ("rg1",))),
    ([f"/subscriptions/{SUB}"], ((SUB,), None)),
    (["/subscriptions/", LATER, "/resourceGroups/rg-", LATER, "/providers/x"],
     ((LATER,), ("rg-", LATER))),
    (["/subscriptions/", "s", "1/resourceGroups/", "rg"], (("s1",), ("rg",))),
    ([LATER], (None, None)),
    (["/providers/Microsoft.Management/managementGroups/mg"], (None, None)),
    (["/subscriptions/"], (None, None)),
    ([f"/subscriptions/{SUB}/resourceGroups/"], ((SUB,), None)),
    ([], (None, None)),
])
def test_scope_parts_of_paths_known_in_part(parts: list[object],
                                            found: tuple[object, object]) -> None:
    assert scope_parts(parts) == found
