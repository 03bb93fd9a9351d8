"""handlers.events: every row of the contract's event table, in both schemas."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.events import (
    AppEvent,
    is_validation_event,
    parse_payload,
    type_name,
)
from handlers.ids import arm_path_problem, workload_id


def canonical_app_id(value: object) -> str | None:
    app = workload_id(value)
    return str(app) if app is not None else None

DATA = Path(__file__).parent / "data" / "events"
SUB = "5f6e7d8c-1a2b-4c3d-9e8f-0a1b2c3d4e5f"
APP = f"/subscriptions/{SUB}/resourceGroups/rg-apps/providers/Microsoft.App/containerApps/app1"
SCHEMAS = ["eg", "ce"]


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def one(payload: object) -> AppEvent:
    events = parse_payload(payload)
    assert len(events) == 1
    return events[0]


def resource_event(
    operation: str = "Microsoft.App/containerApps/write",
    uri: str = APP,
    event_type: str = "Microsoft.Resources.ResourceWriteSuccess",
    schema: str = "eg",
) -> dict[str, Any]:
    event = load(f"{schema}.app_write_success.json")
    event["eventType" if schema == "eg" else "type"] = event_type
    event["data"]["operationName"] = operation
    event["data"]["resourceUri"] = uri
    return event


# --- the table, with the published samples ------------------------------------


@pytest.mark.parametrize("schema", SCHEMAS)
def test_container_app_write_success_is_a_write(schema: str) -> None:
    event = one(load(f"{schema}.app_write_success.json"))
    assert event.kind == "write"
    assert event.app_id == APP  # 'resourcegroups' in the sample, canonical spelling here
    assert event.event_id == "4db48cba-50a2-455a-93b4-de41a3b5b7f6"
    assert event.event_type == "Microsoft.Resources.ResourceWriteSuccess"
    assert event.reason is None


@pytest.mark.parametrize("schema", SCHEMAS)
def test_tags_write_on_a_container_app_is_a_write_of_that_app(schema: str) -> None:
    event = one(load(f"{schema}.app_tags_write_success.json"))
    assert (event.kind, event.app_id) == ("write", APP)


@pytest.mark.parametrize("schema", SCHEMAS)
def test_tags_write_on_the_bare_app_id_is_a_write(schema: str) -> None:
    payload = resource_event("Microsoft.Resources/tags/write", APP, schema=schema)
    assert (one(payload).kind, one(payload).app_id) == ("write", APP)


@pytest.mark.parametrize("schema", SCHEMAS)
def test_container_app_delete_success_is_a_delete(schema: str) -> None:
    # The CloudEvents sample spells the attribute "specVersion".
    event = one(load(f"{schema}.app_delete_success.json"))
    assert (event.kind, event.app_id) == ("delete", APP)
    assert event.event_id == "19a69642-1aad-4a96-a5ab-8d05494513ce"


@pytest.mark.parametrize("schema", SCHEMAS)
def test_resource_notifications_created_or_updated_is_a_write(schema: str) -> None:
    event = one(load(f"{schema}.arn_app_CreatedOrUpdated.json"))
    assert (event.kind, event.app_id) == ("write", APP)
    assert event.event_id == "4eef929a-a65c-47dd-93e2-46b8c17c6c17"


@pytest.mark.parametrize("schema", SCHEMAS)
def test_resource_notifications_deleted_is_a_delete(schema: str) -> None:
    event = one(load(f"{schema}.arn_app_Deleted.json"))
    assert (event.kind, event.app_id) == ("delete", APP)


@pytest.mark.parametrize("schema", SCHEMAS)
def test_actions_on_a_container_app_are_ignored(schema: str) -> None:
    event = one(load(f"{schema}.app_action_success.json"))
    assert event.kind == "ignored"
    assert "not handled" in (event.reason or "")


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_failed_app_write_is_reconciled(schema: str) -> None:
    event = one(load(f"{schema}.app_write_failure.json"))
    assert (event.kind, event.failure) == ("write", True)


@pytest.mark.parametrize(
    "name",
    sorted(p.name for p in (Path(__file__).parent / "data" / "events").glob("*.json")),
)
def test_every_sample_parses_to_one_event_with_its_id(name: str) -> None:
    payload = load(name)
    event = one(payload)
    assert event.event_id == payload["id"]
    assert event.kind != "refused", event.reason


def test_published_storage_samples_are_ignored() -> None:
    # The unmodified samples are about storage accounts: not for this service.
    samples = DATA.parent / "published"
    for path in sorted(samples.glob("*.json")):
        for event in parse_payload(json.loads(path.read_text())):
            assert event.kind == "ignored", (path.name, event.reason)


# --- ignored rows -------------------------------------------------------------


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize(
    ("operation", "uri"),
    [
        (
            "Microsoft.Storage/storageAccounts/write",
            f"/subscriptions/{SUB}/resourceGroups/rg-apps/providers/Microsoft.Storage/storageAccounts/st1",
        ),
        ("Microsoft.App/containerApps/authConfigs/write", APP + "/authConfigs/current"),
        (
            "Microsoft.App/managedEnvironments/write",
            f"/subscriptions/{SUB}/resourceGroups/rg-apps/providers/Microsoft.App/managedEnvironments/env",
        ),
        ("Microsoft.App/containerApps/start/action", APP),
    ],
)
def test_other_operations_are_ignored(schema: str, operation: str, uri: str) -> None:
    event = one(resource_event(operation, uri, schema=schema))
    assert event.kind == "ignored"
    assert operation in (event.reason or "")


def test_container_app_write_on_a_child_resource_is_ignored() -> None:
    event = one(resource_event(uri=APP + "/authConfigs/current"))
    assert event.kind == "ignored"
    assert "child resource" in (event.reason or "")


def test_tags_write_on_a_storage_account_is_ignored() -> None:
    rg = f"/subscriptions/{SUB}/resourceGroups/rg-apps"
    storage = f"{rg}/providers/Microsoft.Storage/storageAccounts/st1"
    event = one(
        resource_event(
            "Microsoft.Resources/tags/write",
            storage + "/providers/Microsoft.Resources/tags/default",
        )
    )
    assert (event.kind, event.app_id) == ("ignored", None)
    assert "not a workload (Microsoft.App/containerApps, Microsoft.App/jobs)" in (
        event.reason or "")


def test_tags_write_on_a_resource_group_is_ignored() -> None:
    rg = f"/subscriptions/{SUB}/resourceGroups/rg-apps"
    event = one(
        resource_event(
            "Microsoft.Resources/tags/write", rg + "/providers/Microsoft.Resources/tags/default"
        )
    )
    assert event.kind == "ignored"


def test_tags_write_on_a_child_of_a_container_app_is_ignored() -> None:
    uri = APP + "/authConfigs/current/providers/Microsoft.Resources/tags/default"
    assert one(resource_event("Microsoft.Resources/tags/write", uri)).kind == "ignored"


def test_delete_operation_inside_a_write_event_is_ignored() -> None:
    assert one(resource_event("Microsoft.App/containerApps/delete")).kind == "ignored"


def test_write_operation_inside_a_delete_event_is_ignored() -> None:
    event_type = "Microsoft.Resources.ResourceDeleteSuccess"
    assert one(resource_event(event_type=event_type)).kind == "ignored"


@pytest.mark.parametrize(
    "event_type",
    [
        "Microsoft.Resources.ResourceWriteCancel",
        "Microsoft.Resources.ResourceDeleteFailure",
        "Microsoft.Resources.ResourceDeleteCancel",
        "Microsoft.Resources.ResourceActionSuccess",
        "Microsoft.Storage.BlobCreated",
        "Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged",
    ],
)
def test_other_event_types_are_ignored(event_type: str) -> None:
    event = one(resource_event(event_type=event_type))
    assert event.kind == "ignored"
    assert event_type in (event.reason or "")


@pytest.mark.parametrize("schema", SCHEMAS)
def test_resource_notifications_for_other_types_are_ignored(schema: str) -> None:
    payload = load(f"{schema}.arn_app_CreatedOrUpdated.json")
    payload["data"]["resourceInfo"]["type"] = "Microsoft.App/containerApps/authConfigs"
    event = one(payload)
    assert event.kind == "ignored"
    assert "Microsoft.App/containerApps/authConfigs" in (event.reason or "")


def test_validation_event_is_ignored_by_parse_and_answered_by_is_validation_event() -> None:
    payload = json.loads(
        (DATA.parent / "published" / "docs.subscription_validation_event.json").read_text()
    )
    assert is_validation_event(payload[0]) == "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
    assert is_validation_event(payload) == "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
    assert one(payload).kind == "ignored"


@pytest.mark.parametrize(
    "item",
    [
        None,
        "x",
        [],
        {},
        {"eventType": "Microsoft.EventGrid.SubscriptionValidationEvent"},
        {
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "data": {"validationCode": 5},
        },
    ],
)
def test_is_validation_event_is_none_for_anything_else(item: object) -> None:
    assert is_validation_event(item) is None


def test_is_validation_event_is_none_for_ordinary_events() -> None:
    assert is_validation_event(load("eg.app_write_success.json")) is None


# --- case-insensitive ARM names -----------------------------------------------


def test_arm_names_are_case_insensitive() -> None:
    uri = (
        f"/SUBSCRIPTIONS/{SUB.upper()}/RESOURCEGROUPS/rg-apps"
        "/PROVIDERS/microsoft.app/containerapps/app1"
    )
    event = one(resource_event("microsoft.app/containerapps/WRITE", uri))
    assert (event.kind, event.app_id) == ("write", APP)


def test_event_type_is_matched_case_insensitively() -> None:
    event = one(resource_event(event_type="microsoft.resources.resourcewritesuccess"))
    assert event.kind == "write"


def test_resource_group_in_other_case_is_kept_but_compares_equal() -> None:
    upper = APP.replace("rg-apps", "RG-APPS")
    event = one(resource_event(uri=upper))
    assert event.app_id is not None and event.app_id.lower() == APP.lower()


def test_arn_type_matched_case_insensitively() -> None:
    payload = load("eg.arn_app_Deleted.json")
    payload["data"]["resourceInfo"]["type"] = "microsoft.app/CONTAINERAPPS"
    assert one(payload).kind == "delete"


# --- claims, correlation, extra fields ----------------------------------------


def test_claims_and_correlation_id_are_extracted() -> None:
    payload = resource_event()
    payload["data"]["claims"] = {
        "http://schemas.microsoft.com/identity/claims/objectidentifier": "oid-1",
        "appid": "app-9",
    }
    payload["data"]["correlationId"] = "corr-7"
    event = one(payload)
    assert (event.caller_oid, event.caller_appid, event.correlation_id) == (
        "oid-1",
        "app-9",
        "corr-7",
    )


def test_short_oid_claim_is_used_when_the_long_one_is_missing() -> None:
    payload = resource_event()
    payload["data"]["claims"] = {"oid": "oid-2"}
    event = one(payload)
    assert (event.caller_oid, event.caller_appid) == ("oid-2", None)


def test_claims_of_the_wrong_type_are_ignored() -> None:
    payload = resource_event()
    payload["data"]["claims"] = {"oid": 5, "appid": ["x"]}
    event = one(payload)
    assert (event.kind, event.caller_oid, event.caller_appid) == ("write", None, None)
    payload["data"]["claims"] = "not a dict"
    assert one(payload).kind == "write"


def test_dead_lettered_event_with_extra_fields_is_accepted() -> None:
    payload = load("eg.app_write_success.json")
    payload.update(
        deadLetterReason="MaxDeliveryAttemptsExceeded",
        deliveryAttempts=10,
        lastDeliveryOutcome="Probation",
        publishTime="2026-01-01T00:00:00Z",
        lastDeliveryAttemptTime="2026-01-01T00:05:00Z",
    )
    payload["data"]["somethingNew"] = {"nested": [1, 2]}
    assert one(payload).kind == "write"


def test_batch_keeps_input_order_and_one_bad_item_does_not_stop_it() -> None:
    batch = [load("eg.app_write_success.json"), 42, load("eg.app_delete_success.json"), {}]
    kinds = [e.kind for e in parse_payload(batch)]
    assert kinds == ["write", "refused", "delete", "refused"]


def test_empty_batch_gives_no_events() -> None:
    assert parse_payload([]) == []


@pytest.mark.parametrize("payload", [None, "text", 3, 2.5, True])
def test_payload_that_is_neither_object_nor_array_is_one_refused_event(payload: object) -> None:
    event = one(payload)
    assert event.kind == "refused"
    assert "payload must be" in (event.reason or "")


# --- malformed items ----------------------------------------------------------


def _without(path: tuple[str, ...], schema: str = "eg") -> dict[str, Any]:
    payload = load(f"{schema}.app_write_success.json")
    target = payload
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return payload


@pytest.mark.parametrize(
    ("path", "words"),
    [
        (("id",), "'id'"),
        (("data",), "'data'"),
        (("data", "resourceUri"), "resourceUri"),
        (("data", "operationName"), "operationName"),
    ],
)
def test_missing_required_field_is_refused_naming_it(path: tuple[str, ...], words: str) -> None:
    event = one(_without(path))
    assert event.kind == "refused"
    assert words in (event.reason or "")
    assert "missing" in (event.reason or "")


def test_item_without_event_type_or_specversion_is_refused() -> None:
    event = one({"id": "x", "data": {}})
    assert (event.kind, event.event_id) == ("refused", "x")
    assert "eventType" in (event.reason or "")


def test_cloudevent_with_another_specversion_is_refused() -> None:
    payload = load("ce.app_write_success.json")
    payload["specversion"] = "0.3"
    event = one(payload)
    assert event.kind == "refused"
    assert "specversion" in (event.reason or "")


@pytest.mark.parametrize(
    ("key", "value"),
    [("id", 5), ("id", ""), ("eventType", None), ("subject", 1), ("data", []), ("eventTime", {})],
)
def test_wrong_types_at_the_top_level_are_refused(key: str, value: object) -> None:
    payload = load("eg.app_write_success.json")
    payload[key] = value
    event = one(payload)
    assert event.kind == "refused"
    assert key in (event.reason or "")


@pytest.mark.parametrize(("key", "value"), [("resourceUri", 7), ("operationName", ["x"])])
def test_wrong_types_in_data_are_refused(key: str, value: object) -> None:
    payload = load("eg.app_write_success.json")
    payload["data"][key] = value
    event = one(payload)
    assert event.kind == "refused"
    assert key in (event.reason or "")


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("", "empty"),
        ("subscriptions/x/resourceGroups/rg/providers/Microsoft.App/containerApps/a", "start"),
        (APP + "/", "ends with '/'"),
        (APP.replace("/resourceGroups/", "//resourceGroups/"), "empty segment"),
        (APP.replace("/rg-apps/", "/./"), "'.'"),
        (APP.replace("/rg-apps/", "/rg-apps/../rg-apps/"), "'..'"),
        (APP + "%2F..", "'%'"),
        (APP.replace("/app1", "/app\\1"), "'\\\\'"),
        (APP + "?api-version=1", "'?'"),
        (APP + "#frag", "'#'"),
        (APP.replace("app1", "app 1"), "whitespace"),
        (APP.replace("app1", "app\t1"), "whitespace"),
        (APP.replace("app1", "app\x001"), "control"),
    ],
)
def test_malformed_resource_uri_is_refused_with_the_reason(uri: str, words: str) -> None:
    event = one(resource_event(uri=uri))
    assert event.kind == "refused"
    assert words in (event.reason or ""), event.reason


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            lambda i: i.update(
                id="/subscriptions/x/resourceGroups/rg/providers/Microsoft.App/containerApps/../y"
            ),
            "'..'",
        ),
        (
            lambda i: i.update(
                id="/subcriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/a"
            ),
            "not a Microsoft.App/containerApps id",
        ),
        (lambda i: i.pop("id"), "missing"),
        (lambda i: i.update(type=3), "type"),
    ],
)
def test_malformed_resource_notification_is_refused(change: Any, words: str) -> None:
    payload = load("eg.arn_app_CreatedOrUpdated.json")
    change(payload["data"]["resourceInfo"])
    event = one(payload)
    assert event.kind == "refused"
    assert words in (event.reason or ""), event.reason


def test_resource_notification_without_resource_info_is_refused() -> None:
    payload = load("ce.arn_app_Deleted.json")
    del payload["data"]["resourceInfo"]
    event = one(payload)
    assert event.kind == "refused"
    assert "resourceInfo" in (event.reason or "")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_parse_payload_never_raises_on_arbitrary_json(value: object) -> None:
    events = parse_payload(value)
    assert len(events) == (len(value) if isinstance(value, list) else 1)
    for event in events:
        assert event.kind in ("write", "delete", "ignored", "refused")
        assert event.kind in ("write", "delete") or event.reason


event_keys = st.sampled_from(
    ["id", "eventType", "type", "specversion", "specVersion", "subject", "data", "topic"]
)
data_keys = st.sampled_from(
    ["operationName", "resourceUri", "resourceInfo", "claims", "correlationId"]
)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_parse_payload_never_raises_on_mutated_real_events(data: st.DataObject) -> None:
    names = sorted(p.name for p in DATA.glob("*.json"))
    payload = copy.deepcopy(load(data.draw(st.sampled_from(names))))
    for _ in range(data.draw(st.integers(0, 3))):
        if data.draw(st.booleans()):
            payload[data.draw(event_keys)] = data.draw(json_values)
        elif isinstance(payload.get("data"), dict):
            payload["data"][data.draw(data_keys)] = data.draw(json_values)
    events = parse_payload(payload)
    assert len(events) == 1
    if events[0].kind in ("write", "delete"):
        assert canonical_app_id(events[0].app_id) == events[0].app_id


# --- canonical ids ------------------------------------------------------------


def test_canonical_app_id_fixes_casing_of_fixed_words_and_subscription() -> None:
    raw = (
        f"/Subscriptions/{SUB.upper()}/resourcegroups/My-RG"
        "/Providers/MICROSOFT.APP/ContainerApps/My-App"
    )
    assert canonical_app_id(raw) == (
        f"/subscriptions/{SUB}/resourceGroups/My-RG/providers/Microsoft.App/containerApps/My-App"
    )


@pytest.mark.parametrize(
    "value",
    [
        None,
        5,
        "",
        APP + "/authConfigs/x",
        APP.rsplit("/", 1)[0],
        APP.replace("Microsoft.App", "Microsoft.Web"),
        APP + "/",
        APP.replace("app1", ".."),
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.App/jobs/j1/executions/e1",
        f"/subscriptions/{SUB}/providers/Microsoft.App/jobs/j1",
    ],
)
def test_canonical_app_id_is_none_for_anything_but_a_workload(value: object) -> None:
    assert canonical_app_id(value) is None


def test_canonical_app_id_of_a_job_keeps_the_jobs_type() -> None:
    raw = f"/subscriptions/{SUB.upper()}/resourcegroups/rg/providers/microsoft.app/JOBS/j1"
    assert canonical_app_id(raw) == (
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.App/jobs/j1")


def test_arm_path_problem_accepts_a_plain_id() -> None:
    assert arm_path_problem(APP) is None


def test_cloudevents_attribute_spelled_spec_version_with_capital_v_is_accepted() -> None:
    payload = load("ce.app_write_success.json")
    payload["specVersion"] = payload.pop("specversion")
    assert (one(payload).kind, one(payload).app_id) == ("write", APP)


def test_cloudevent_without_any_specversion_is_refused() -> None:
    payload = load("ce.app_write_success.json")
    del payload["specversion"]
    assert one(payload).kind == "refused"


def test_nested_array_item_is_refused_not_flattened() -> None:
    event = one([[load("eg.app_write_success.json")]])
    assert event.kind == "refused"
    assert "got array" in (event.reason or "")


def test_refused_event_keeps_its_id_when_it_has_one() -> None:
    event = one(resource_event(uri="not-an-id"))
    assert (event.kind, event.event_id) == ("refused", "4db48cba-50a2-455a-93b4-de41a3b5b7f6")


def test_app_events_are_frozen_and_hashable() -> None:
    event = one(load("eg.app_write_success.json"))
    with pytest.raises(AttributeError):
        event.kind = "delete"  # type: ignore[misc]
    assert len({event, one(load("eg.app_write_success.json"))}) == 1


def test_resource_notification_carries_no_claims() -> None:
    event = one(load("eg.arn_app_CreatedOrUpdated.json"))
    assert (event.caller_oid, event.caller_appid, event.correlation_id) == (None, None, None)


def test_published_sample_claims_are_carried_through() -> None:
    event = one(load("eg.app_write_success.json"))
    assert (event.caller_oid, event.caller_appid, event.correlation_id) == ("{ID}", "{ID}", "{ID}")


def test_resource_notification_in_a_batch_with_resource_events() -> None:
    batch = [load("eg.arn_app_Deleted.json"), load("ce.app_tags_write_success.json")]
    assert [(e.kind, e.app_id) for e in parse_payload(batch)] == [("delete", APP), ("write", APP)]


def test_tags_uri_of_an_app_counts_as_that_app_for_any_write() -> None:
    tags_uri = APP + "/providers/Microsoft.Resources/tags/default"
    event = one(resource_event(uri=tags_uri))  # an app write whose resource is its tags
    assert (event.kind, event.app_id) == ("write", APP), event
    job = APP.replace("containerApps/", "jobs/")
    event = one(resource_event("Microsoft.App/jobs/write",
                               job + "/providers/Microsoft.Resources/tags/default"))
    assert (event.kind, event.app_id) == ("write", job), event


def test_tags_uri_of_an_app_in_a_delete_event_is_ignored() -> None:
    tags_uri = APP + "/providers/Microsoft.Resources/tags/default"
    event_type = "Microsoft.Resources.ResourceDeleteSuccess"
    event = one(resource_event("Microsoft.App/containerApps/delete", tags_uri, event_type))
    assert event.kind == "ignored"


@pytest.mark.parametrize("schema", SCHEMAS)
def test_deleting_all_tags_of_an_app_reconciles_it(schema: str) -> None:
    # The contract's table: the grants go with their tags.
    event_type = "Microsoft.Resources.ResourceDeleteSuccess"
    uri = APP + "/providers/Microsoft.Resources/tags/default"
    event = one(resource_event("Microsoft.Resources/tags/delete", uri, event_type, schema))
    assert (event.kind, event.app_id, event.failure) == ("write", APP, False)


def test_write_failure_of_an_app_write_reconciles_it_and_is_never_self_caused() -> None:
    event = one(resource_event(event_type="Microsoft.Resources.ResourceWriteFailure"))
    assert (event.kind, event.app_id, event.failure) == ("write", APP, True)


@pytest.mark.parametrize("operation", ["Microsoft.App/containerApps/delete",
                                       "Microsoft.Resources/tags/write",
                                       "Microsoft.App/containerApps/authConfigs/write"])
def test_other_write_failures_are_ignored(operation: str) -> None:
    uri = APP + ("/authConfigs/current" if "authConfigs" in operation else "")
    event = one(resource_event(operation, uri, "Microsoft.Resources.ResourceWriteFailure"))
    assert event.kind == "ignored"


def test_deleting_tags_of_something_else_is_ignored() -> None:
    rg = f"/subscriptions/{SUB}/resourceGroups/rg-apps"
    event_type = "Microsoft.Resources.ResourceDeleteSuccess"
    uri = rg + "/providers/Microsoft.Resources/tags/default"
    assert one(resource_event("Microsoft.Resources/tags/delete", uri, event_type)).kind == "ignored"


def test_tags_delete_inside_a_write_event_is_ignored() -> None:
    assert one(resource_event("Microsoft.Resources/tags/delete")).kind == "ignored"


@pytest.mark.parametrize(("value", "name"), [
    (None, "null"), (True, "boolean"), (0, "integer"), (1.5, "number"), ("", "string"),
    ([], "array"), ({}, "object"), (b"", "bytes"),
])
def test_a_json_value_is_named_by_its_json_type(value: object, name: str) -> None:
    assert type_name(value) == name


def test_type_names_come_from_the_table_given_first_match_first() -> None:
    toml = ((bool, "boolean"), (int, "integer"), (dict, "table"))
    assert [type_name(v, toml) for v in (False, 3, {}, None)] == [
        "boolean", "integer", "table", "NoneType"]
