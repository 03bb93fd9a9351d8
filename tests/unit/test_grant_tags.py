"""handlers.grants: the grant-tag grammar and the scope rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.events import arm_path_problem
from handlers.grants import (
    GrantRequest,
    Refusal,
    normalise_scope,
    parse_grant_tags,
    parse_grant_value,
)
from handlers.ids import ArmId
from handlers.policy import Policy

SUB = "5f6e7d8c-1a2b-4c3d-9e8f-0a1b2c3d4e5f"
OTHER_SUB = "0b0b0b0b-1111-2222-3333-444444444444"
RG = f"/subscriptions/{SUB}/resourceGroups/rg1"
APP = f"{RG}/providers/Microsoft.App/containerApps/app1"
STAPP = f"{RG}/providers/Microsoft.Storage/storageAccounts/stapp"
POLICY = Policy()


def parse(
    tags: dict[str, str], policy: Policy = POLICY, location: str | None = "eastus"
) -> tuple[list[GrantRequest], list[Refusal]]:
    return parse_grant_tags(tags, policy, APP, location)


def grants(value: str, policy: Policy = POLICY) -> list[tuple[str, str]]:
    requests, refusals = parse({"grant:x": value}, policy)
    assert refusals == [], refusals
    return [(r.role, r.scope) for r in requests]


def refusal(value: str, policy: Policy = POLICY) -> str:
    requests, refusals = parse({"grant:x": value}, policy)
    assert requests == []
    assert len(refusals) == 1, refusals
    assert refusals[0].tag == "grant:x"
    return refusals[0].reason


# --- grammar ------------------------------------------------------------------


def test_relative_scope_is_below_the_apps_resource_group() -> None:
    assert grants("Storage Blob Data Reader@Microsoft.Storage/storageAccounts/stapp") == [
        ("Storage Blob Data Reader", STAPP)
    ]


def test_dot_is_the_apps_resource_group() -> None:
    assert grants("Reader@.") == [("Reader", RG)]


def test_full_arm_id_is_taken_as_is() -> None:
    kv = f"{RG}/providers/Microsoft.KeyVault/vaults/kv1"
    assert grants(f"Key Vault Secrets User@{kv}") == [("Key Vault Secrets User", kv)]


def test_whitespace_around_separators_and_empty_items_are_ignored() -> None:
    value = (
        " ;  Reader @ . ;; Storage Blob Data Reader  @  Microsoft.Storage/storageAccounts/stapp ; "
    )
    assert grants(value) == [("Reader", RG), ("Storage Blob Data Reader", STAPP)]


def test_role_may_be_a_guid_or_a_role_definition_id() -> None:
    guid = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
    tenant_id = f"/providers/Microsoft.Authorization/roleDefinitions/{guid}"
    sub_id = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{guid}"
    assert grants(f"{guid}@.; {tenant_id}@.; {sub_id}@.") == [
        (guid, RG),
        (tenant_id, RG),
        (sub_id, RG),
    ]


def test_tag_prefix_matches_case_insensitively() -> None:
    requests, refusals = parse({"GRANT:Blob": "Reader@.", "Grant:kv": "Reader@."})
    assert [r.tag for r in requests] == ["GRANT:Blob", "Grant:kv"]
    assert refusals == []


def test_tags_without_the_prefix_are_not_grants() -> None:
    requests, refusals = parse(
        {"env": "prod", "owner": "a@b", "grants": "Reader@.", "xgrant:a": "R@."}
    )
    assert (requests, refusals) == ([], [])


def test_custom_prefix_from_the_policy() -> None:
    policy = Policy(tag_prefix="rbac/")
    requests, _ = parse({"rbac/blob": "Reader@.", "grant:blob": "Reader@."}, policy)
    assert [r.tag for r in requests] == ["rbac/blob"]


def test_same_grant_from_two_tags_gives_one_request_per_tag() -> None:
    requests, _ = parse({"grant:a": "Reader@.", "grant:b": "reader@" + RG})
    assert [(r.tag, r.scope) for r in requests] == [("grant:a", RG), ("grant:b", RG)]


def test_every_item_of_a_tag_is_kept_even_duplicates() -> None:
    assert grants("Reader@.; Reader@.") == [("Reader", RG), ("Reader", RG)]


def test_one_bad_item_does_not_spoil_the_others() -> None:
    requests, refusals = parse(
        {"grant:x": "Reader@.; nonsense; Reader@Microsoft.Storage/storageAccounts/stapp"}
    )
    assert [r.scope for r in requests] == [RG, STAPP]
    assert len(refusals) == 1 and "nonsense" in refusals[0].reason


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("Reader", "no '@'"),
        ("Reader@.@.", "2 '@'"),
        ("@.", "no role"),
        ("Reader@", "no scope"),
        ("Reader @   ", "no scope"),
        ("", "names no grant"),
        (" ; ;", "names no grant"),
        (
            "/providers/Microsoft.Authorization/roleDefinitions/not-a-guid@.",
            "not a role-definition id",
        ),
        ("/subscriptions/x/providers/Microsoft.Web/sites/s@.", "not a role-definition id"),
    ],
)
def test_malformed_items_are_refused(value: str, words: str) -> None:
    reason = refusal(value)
    assert words in reason, reason


def test_refusal_says_what_the_grammar_is() -> None:
    assert "<role>@<scope>" in refusal("Reader")


def test_tag_with_only_the_prefix_is_refused() -> None:
    requests, refusals = parse({"grant:": "Reader@."})
    assert requests == [] and refusals[0].tag == "grant:" and "label" in refusals[0].reason


def test_parse_grant_value_splits_items() -> None:
    assert parse_grant_value("a@b ; c @ d") == [("a", "b"), ("c", "d")]


def test_refusal_to_json_has_the_contract_keys() -> None:
    assert Refusal("bad", tag="grant:x").to_json() == {"tag": "grant:x", "reason": "bad"}
    assert Refusal("gone", identity="/x").to_json() == {"identity": "/x", "reason": "gone"}


# --- scopes: malformed --------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "words"),
    [
        ("Microsoft.Storage/storageAccounts/../stapp", "'..'"),
        ("../rg2", "'..'"),
        ("./Microsoft.Storage/storageAccounts/stapp", "'.'"),
        ("Microsoft.Storage/storageAccounts/stapp/", "ends with '/'"),
        ("Microsoft.Storage//storageAccounts/stapp", "empty segment"),
        (f"{RG}/providers/Microsoft.Storage/storageAccounts/st%2e%2e", "'%'"),
        ("Microsoft.Storage/storageAccounts/st\\app", "'\\\\'"),
        ("Microsoft.Storage/storageAccounts/stapp?x=1", "'?'"),
        ("Microsoft.Storage/storageAccounts/stapp#x", "'#'"),
        ("Microsoft.Storage/storage Accounts/stapp", "whitespace"),
        ("Microsoft.Storage/storageAccounts/st\u00a0app", "whitespace"),
        ("Microsoft.Storage/storageAccounts", "<Namespace>/<type>/<name>"),
        ("Microsoft.Storage/storageAccounts/stapp/blobServices", "has no name"),
        ("/resourceGroups/rg1", "/subscriptions/"),
        ("/subscriptions", "/subscriptions/"),
        (f"/subscriptions/{SUB}/resourceGroups", "resourceGroups has no name"),
        (f"{RG}/Microsoft.Storage/storageAccounts/stapp", "expected 'providers'"),
    ],
)
def test_malformed_scopes_are_refused_before_anything_else(scope: str, words: str) -> None:
    reason = refusal(f"Reader@{scope}")
    assert words in reason, reason
    assert "relative to the app's resource group" in reason  # what would be accepted


def test_scope_problem_is_reported_before_allowed_scopes() -> None:
    reason = refusal(f"Reader@/subscriptions/{OTHER_SUB}/resourceGroups/rg1/../x")
    assert "'..'" in reason and "allowed_scopes" not in reason


# --- scopes: normalisation ----------------------------------------------------


def test_keywords_get_canonical_casing_and_subscription_lower_case() -> None:
    raw = (
        f"/SUBSCRIPTIONS/{SUB.upper()}/resourcegroups/rg1"
        "/PROVIDERS/Microsoft.Storage/storageAccounts/StApp"
    )
    assert grants(f"Reader@{raw}") == [
        ("Reader", f"{RG}/providers/Microsoft.Storage/storageAccounts/StApp")
    ]


def test_relative_scope_may_start_with_providers() -> None:
    assert grants("Reader@providers/Microsoft.Storage/storageAccounts/stapp") == [("Reader", STAPP)]


def test_child_resources_and_extension_resources_are_scopes() -> None:
    container = "Microsoft.Storage/storageAccounts/stapp/blobServices/default/containers/c1"
    ext = "Microsoft.Web/sites/s1/providers/Microsoft.Insights/diagnosticSettings/d1"
    assert grants(f"Reader@{container}; Reader@{ext}") == [
        ("Reader", f"{RG}/providers/{container}"),
        ("Reader", f"{RG}/providers/{ext}"),
    ]


def test_normalise_scope_reports_problems_instead_of_raising() -> None:
    assert normalise_scope("a/..", APP)[0] is None
    assert normalise_scope(".", APP) == (RG, None)


# --- allowed_scopes -----------------------------------------------------------


def test_default_allowed_scopes_admit_the_apps_resource_group_and_below() -> None:
    assert grants(f"Reader@{RG}") == [("Reader", RG)]
    assert grants("Reader@Microsoft.Storage/storageAccounts/stapp") == [("Reader", STAPP)]


def test_rg1_does_not_admit_rg10() -> None:
    reason = refusal(f"Reader@/subscriptions/{SUB}/resourceGroups/rg10")
    assert "outside allowed_scopes" in reason
    assert f"allowed: {RG} and below" in reason


def test_other_resource_group_is_refused_with_what_is_allowed() -> None:
    reason = refusal(
        f"Reader@/subscriptions/{SUB}/resourceGroups/rg2/providers/Microsoft.KeyVault/vaults/kv"
    )
    assert (
        f"/subscriptions/{SUB}/resourceGroups/rg2/providers/Microsoft.KeyVault/vaults/kv" in reason
    )
    assert f"allowed: {RG} and below" in reason


def test_other_subscription_is_refused() -> None:
    reason = refusal(f"Reader@/subscriptions/{OTHER_SUB}/resourceGroups/rg1")
    assert "outside allowed_scopes" in reason


def test_subscription_scope_is_above_the_default_and_refused() -> None:
    assert "outside allowed_scopes" in refusal(f"Reader@/subscriptions/{SUB}")


def test_allowed_scopes_compare_case_insensitively() -> None:
    policy = Policy(allowed_scopes=(f"/SUBSCRIPTIONS/{SUB.upper()}/RESOURCEGROUPS/RG1",))
    assert grants("Reader@.", policy) == [("Reader", RG)]
    assert grants(f"Reader@/subscriptions/{SUB}/resourceGroups/Rg1/providers/A.B/c/d", policy)


def test_allowed_scopes_expand_placeholders_per_app() -> None:
    policy = Policy(
        allowed_scopes=("/subscriptions/{subscription}/resourceGroups/shared-{location}",)
    )
    shared_rg = f"/subscriptions/{SUB}/resourceGroups/shared-westeurope"
    shared = f"{shared_rg}/providers/Microsoft.KeyVault/vaults/kv"
    requests, refusals = parse({"grant:kv": f"Reader@{shared}"}, policy, location="West Europe")
    assert [r.scope for r in requests] == [shared] and refusals == []
    # The app's own resource group is not in this policy.
    _, refusals = parse({"grant:rg": "Reader@."}, policy, location="West Europe")
    assert "shared-westeurope and below" in refusals[0].reason


def test_location_placeholder_without_a_location_admits_nothing() -> None:
    policy = Policy(
        allowed_scopes=("/subscriptions/{subscription}/resourceGroups/shared-{location}",)
    )
    _, refusals = parse({"grant:kv": "Reader@."}, policy, location=None)
    assert "outside allowed_scopes" in refusals[0].reason


def test_several_allowed_scopes_are_all_listed_in_the_refusal() -> None:
    policy = Policy(
        allowed_scopes=(
            "/subscriptions/{subscription}/resourceGroups/a",
            "/subscriptions/{subscription}/resourceGroups/b",
        )
    )
    reason = refusal("Reader@.", policy)
    assert reason.endswith(
        f"allowed: /subscriptions/{SUB}/resourceGroups/a and below"
        f" or /subscriptions/{SUB}/resourceGroups/b and below"
    )


@pytest.mark.parametrize(
    ("scope", "inside"),
    [
        (RG, True),
        (STAPP, True),
        (STAPP.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"), True),
        (f"/subscriptions/{SUB}/resourceGroups/rg10", False),
        (f"/subscriptions/{SUB}/resourceGroups/rg10/providers/Microsoft.Storage/"
         "storageAccounts/st", False),
        (f"/subscriptions/{SUB}", False),
    ],
)
def test_allowed_scopes_admit_a_scope_segment_wise(scope: str, inside: bool) -> None:
    policy = Policy(allowed_scopes=("/subscriptions/{subscription}/resourceGroups/rg1",))
    requests, refusals = parse({"grant:x": f"Reader@{scope}"}, policy)
    assert bool(requests) is inside
    assert [r.rule for r in refusals] == ([] if inside else ["allowed_scopes"])


@pytest.mark.parametrize(
    "scope",
    [
        "resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/stapp",
        f"subscriptions/{SUB}/resourceGroups/rg1",
    ],
)
def test_relative_scope_that_looks_like_a_full_id_is_refused_with_a_hint(scope: str) -> None:
    reason = refusal(f"Reader@{scope}")
    assert "starts with '/subscriptions/'" in reason


@pytest.mark.parametrize(
    "scope",
    ["storageAccounts/stapp/x", f"{RG}/providers/storage/accounts/x"],
)
def test_provider_namespace_must_look_like_one(scope: str) -> None:
    assert "not a resource provider namespace" in refusal(f"Reader@{scope}")


def test_tag_value_that_is_not_a_string_is_refused() -> None:
    requests, refusals = parse({"grant:x": 5})  # type: ignore[dict-item]
    assert requests == [] and "must be a string" in refusals[0].reason


def test_refusals_name_the_tag_as_written_on_the_app() -> None:
    _, refusals = parse({"Grant:Blob": "Reader"})
    assert refusals[0].to_json()["tag"] == "Grant:Blob"


def test_results_do_not_depend_on_tag_order() -> None:
    tags = {"grant:b": "Reader@.", "grant:a": "Reader@Microsoft.Storage/storageAccounts/stapp"}
    forward = parse(tags)
    backward = parse(dict(reversed(list(tags.items()))))
    assert forward == backward


# --- properties ------------------------------------------------------------------------------


segments = st.sampled_from([
    "Microsoft.Storage", "storageAccounts", "stapp", "providers", "Microsoft.KeyVault", "vaults",
    "rg1", "rg10", "resourceGroups", "subscriptions", SUB, "..", ".", "", "a b", "x%2f",
    "q?", "h#", "b\\c", "Blob", "\u00e9t\u00e9", "{x}",
])
bases = st.sampled_from(
    [RG, RG.upper(), f"/subscriptions/{SUB}/resourceGroups/rg10", f"/subscriptions/{OTHER_SUB}"]
)
scope_texts = st.one_of(
    st.just("."),
    st.lists(segments, min_size=1, max_size=7).map("/".join),
    st.tuples(bases, st.lists(segments, max_size=6)).map(lambda t: "/".join([t[0], *t[1]])),
    st.tuples(
        st.sampled_from(["", "providers/", "/"]), st.lists(segments, min_size=3, max_size=5)
    ).map(lambda t: t[0] + "Microsoft.Storage/" + "/".join(t[1])),
)
tag_values = st.lists(
    st.tuples(
        st.sampled_from(["Reader", "", " ", "Storage Blob Data Reader", "@", "R@x"]),
        scope_texts,
    ),
    max_size=4,
).map(lambda items: ";".join(f"{role}@{scope}" for role, scope in items))


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["grant:a", "GRANT:b", "x", "grant:"]), tag_values | st.text())
)
def test_every_grant_is_well_formed_and_inside_allowed_scopes(tags: dict[str, str]) -> None:
    requests, refusals = parse(tags)
    for request in requests:
        assert arm_path_problem(request.scope) is None
        assert ArmId.parse(RG).contains(ArmId.parse(request.scope))
        assert "@" not in request.role and ";" not in request.role
        assert normalise_scope(request.scope, APP) == (request.scope, None)
    for item in refusals:
        assert item.tag in tags and item.reason


@settings(max_examples=100, deadline=None)
@given(scope_texts.filter(bool))
def test_normalise_scope_is_idempotent(scope: str) -> None:
    normalised, problem = normalise_scope(scope, APP)
    assert (normalised is None) != (problem is None)
    if normalised is not None:
        assert normalise_scope(normalised, APP) == (normalised, None)


def test_upper_case_prefix_in_the_policy_matches_lower_case_tags() -> None:
    requests, _ = parse({"rbac/blob": "Reader@."}, Policy(tag_prefix="RBAC/"))
    assert [r.tag for r in requests] == ["rbac/blob"]


def test_app_without_tags_asks_for_nothing() -> None:
    assert parse_grant_tags(None, POLICY, APP, None) == ([], [])  # type: ignore[arg-type]
    assert parse({}) == ([], [])
