"""handlers.policy: where the policy comes from, every key, and the errors that stop the service."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from handlers.errors import PolicyError
from handlers.policy import Policy, expand, load_policy, parse_policy, short_location

ROOT = Path(__file__).resolve().parents[2]
APP = (
    "/subscriptions/5f6e7d8c-1a2b-4c3d-9e8f-0a1b2c3d4e5f/resourceGroups/Rg-Apps"
    "/providers/Microsoft.App/containerApps/app1"
)
UAMI = (
    "/subscriptions/{subscription}/resourceGroups/{resourceGroup}"
    "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-{location}"
)


def write(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- where it comes from ------------------------------------------------------


def test_defaults_are_the_contracts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="handlers.policy"):
        policy = load_policy(env={}, cwd=str(tmp_path))
    assert policy == Policy()
    assert policy.standard_identities == ()
    assert policy.create_missing is False
    assert policy.tag_prefix == "grant:"
    assert policy.allowed_roles == ("*",)
    assert policy.allowed_scopes == (
        "/subscriptions/{subscription}/resourceGroups/{resourceGroup}",
    )
    assert policy.enable_system_identity is True
    assert policy.resource_groups == ("*",)
    assert policy.opt_out_tag == "warden:ignore"
    assert policy.dry_run is False
    assert policy.source is None
    assert any("default" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_policy_toml_in_the_current_directory_is_used(tmp_path: Path) -> None:
    write(tmp_path, '[grants]\ntag_prefix = "rbac:"\n')
    policy = load_policy(env={}, cwd=str(tmp_path))
    assert policy.tag_prefix == "rbac:"
    assert policy.source == str(tmp_path / "policy.toml")


def test_warden_policy_wins_over_policy_toml(tmp_path: Path) -> None:
    write(tmp_path, '[grants]\ntag_prefix = "cwd:"\n')
    named = write(tmp_path, '[grants]\ntag_prefix = "named:"\n', "other.toml")
    policy = load_policy(env={"WARDEN_POLICY": str(named)}, cwd=str(tmp_path))
    assert policy.tag_prefix == "named:"


def test_relative_warden_policy_is_read_from_the_current_directory(tmp_path: Path) -> None:
    write(tmp_path, "[run]\ndry_run = true\n", "conf.toml")
    assert load_policy(env={"WARDEN_POLICY": "conf.toml"}, cwd=str(tmp_path)).dry_run is True


def test_missing_file_named_by_warden_policy_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"nope.toml.*does not exist"):
        load_policy(env={"WARDEN_POLICY": str(tmp_path / "nope.toml")}, cwd=str(tmp_path))


def test_directory_named_by_warden_policy_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(env={"WARDEN_POLICY": str(tmp_path)}, cwd=str(tmp_path))


def test_empty_file_means_every_default(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    policy = load_policy(env={"WARDEN_POLICY": str(path)}, cwd=str(tmp_path))
    assert policy == Policy(source=str(path))


def test_the_example_policy_loads_and_sets_every_key() -> None:
    policy = load_policy(env={"WARDEN_POLICY": str(ROOT / "policy.example.toml")}, cwd=str(ROOT))
    assert policy.standard_identities and policy.standard_identities[0].startswith(
        "/subscriptions/"
    )
    assert "Contributor" in policy.allowed_roles
    text = (ROOT / "policy.example.toml").read_text()
    for key in (
        "standard",
        "create_missing",
        "tag_prefix",
        "allowed_roles",
        "allowed_scopes",
        "enable_system_identity",
        "resource_groups",
        "opt_out_tag",
        "dry_run",
    ):
        assert f"\n{key} =" in text, key


# --- WARDEN_DRY_RUN -----------------------------------------------------------


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "Yes", " yes ", "on", "ON", "On"])
def test_warden_dry_run_turns_dry_run_on(tmp_path: Path, value: str) -> None:
    assert load_policy(env={"WARDEN_DRY_RUN": value}, cwd=str(tmp_path)).dry_run is True


@pytest.mark.parametrize("value", ["", " ", "0", "false", "no", "off", "OFF", "False", "No"])
def test_off_warden_dry_run_values_leave_it_off(tmp_path: Path, value: str) -> None:
    assert load_policy(env={"WARDEN_DRY_RUN": value}, cwd=str(tmp_path)).dry_run is False


@pytest.mark.parametrize("value", ["maybe", "2", "y", "enabled", "tru", "1 0", "-1", "nein"])
def test_any_other_warden_dry_run_value_is_a_usage_error_never_off(tmp_path: Path,
                                                                   value: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(env={"WARDEN_DRY_RUN": value}, cwd=str(tmp_path))
    message = str(caught.value)
    assert "WARDEN_DRY_RUN" in message and repr(value.strip()) in message
    for accepted in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        assert accepted in message


def test_a_bad_warden_dry_run_is_an_error_even_when_the_file_turns_dry_run_on(
        tmp_path: Path) -> None:
    path = write(tmp_path, "[run]\ndry_run = true\n")
    with pytest.raises(PolicyError, match="WARDEN_DRY_RUN"):
        load_policy(env={"WARDEN_POLICY": str(path), "WARDEN_DRY_RUN": "sure"},
                    cwd=str(tmp_path))


def test_warden_dry_run_off_never_turns_off_a_file_that_says_dry_run(tmp_path: Path) -> None:
    path = write(tmp_path, "[run]\ndry_run = true\n")
    env = {"WARDEN_POLICY": str(path), "WARDEN_DRY_RUN": "off"}
    assert load_policy(env=env, cwd=str(tmp_path)).dry_run is True


def test_warden_dry_run_applies_on_top_of_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[run]\ndry_run = false\n")
    env = {"WARDEN_POLICY": str(path), "WARDEN_DRY_RUN": "1"}
    assert load_policy(env=env, cwd=str(tmp_path)).dry_run is True


# --- every key: valid values --------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "field", "expected"),
    [
        (f'[identities]\nstandard = ["{UAMI}"]', "standard_identities", (UAMI,)),
        ("[identities]\ncreate_missing = true", "create_missing", True),
        ('[grants]\ntag_prefix = "access:"', "tag_prefix", "access:"),
        (
            '[grants]\nallowed_roles = ["Reader", "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"]',
            "allowed_roles",
            ("Reader", "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"),
        ),
        (
            '[grants]\nallowed_scopes = ["/subscriptions/{subscription}"]',
            "allowed_scopes",
            ("/subscriptions/{subscription}",),
        ),
        ("[grants]\nallowed_roles = []", "allowed_roles", ()),
        ("[grants]\nenable_system_identity = false", "enable_system_identity", False),
        ('[apps]\nresource_groups = ["rg-*", "prod"]', "resource_groups", ("rg-*", "prod")),
        ('[apps]\nopt_out_tag = "skip"', "opt_out_tag", "skip"),
        ("[run]\ndry_run = true", "dry_run", True),
    ],
)
def test_every_key_is_read(toml: str, field: str, expected: object) -> None:
    policy = parse_policy(toml, "p.toml")
    assert getattr(policy, field) == expected
    assert policy.source == "p.toml"


# --- every key: wrong type, unknown key, unparseable --------------------------


@pytest.mark.parametrize(
    ("toml", "key", "expected"),
    [
        (
            "[identities]\nstandard = 3",
            "identities.standard",
            "expected a list of strings, got integer",
        ),
        (
            '[identities]\nstandard = "x"',
            "identities.standard",
            "expected a list of strings, got string",
        ),
        ('[identities]\ncreate_missing = "yes"', "identities.create_missing", "expected a boolean"),
        ("[grants]\ntag_prefix = 1", "grants.tag_prefix", "expected a string, got integer"),
        (
            "[grants]\nallowed_roles = 5",
            "grants.allowed_roles",
            "expected a list of strings, got integer",
        ),
        (
            '[grants]\nallowed_roles = ["Reader", 5]',
            "grants.allowed_roles",
            "expected a list of strings, got integer at position 2",
        ),
        ("[grants]\nallowed_scopes = {a = 1}", "grants.allowed_scopes", "got table"),
        ("[grants]\nenable_system_identity = 1", "grants.enable_system_identity", "got integer"),
        ("[apps]\nresource_groups = [1.5]", "apps.resource_groups", "got float"),
        ("[apps]\nopt_out_tag = false", "apps.opt_out_tag", "expected a string, got boolean"),
        ("[run]\ndry_run = 1979-05-27", "run.dry_run", "expected a boolean"),
        ('[run]\ndry_run = "true"', "run.dry_run", "got string"),
    ],
)
def test_wrong_type_names_file_key_and_expectation(toml: str, key: str, expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(toml, "/etc/warden/policy.toml")
    message = str(info.value)
    assert "/etc/warden/policy.toml" in message
    assert key in message
    assert expected in message


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[grants]\nallowed_role = []", "grants.allowed_role"),
        ("[identities]\nstandards = []", "identities.standards"),
        ("[run]\ndryrun = true", "run.dryrun"),
        ("[apps]\nopt_out = 'x'", "apps.opt_out"),
    ],
)
def test_unknown_key_is_an_error_naming_it(toml: str, key: str) -> None:
    with pytest.raises(PolicyError, match=f"p.toml.*unknown key {key}"):
        parse_policy(toml, "p.toml")


@pytest.mark.parametrize("toml", ["[grant]\ntag_prefix = 'x'", "dry_run = true", "[extra]"])
def test_unknown_table_or_top_level_key_is_an_error(toml: str) -> None:
    with pytest.raises(PolicyError, match=r"p.toml: unknown table or key"):
        parse_policy(toml, "p.toml")


def test_table_given_as_a_value_is_an_error() -> None:
    with pytest.raises(PolicyError, match=r"p.toml: grants: expected a table, got string"):
        parse_policy('grants = "x"', "p.toml")


@pytest.mark.parametrize(
    "text", ["[grants\n", "tag_prefix = ", "[run]\ndry_run = yes", "a = 1\na = 2"]
)
def test_unparseable_file_is_an_error_naming_it(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(env={"WARDEN_POLICY": str(path)}, cwd=str(tmp_path))


def test_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(b"[grants]\ntag_prefix = '\xff'\n")
    with pytest.raises(PolicyError, match=r"policy.toml"):
        load_policy(env={}, cwd=str(tmp_path))


# --- value checks -------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "words"),
    [
        (
            "/subscriptions/{subscription}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x",
            "not a user-assigned identity id",
        ),
        ("id-platform", "not a well-formed"),
        (
            "/subscriptions/{subscription}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x",
            "unknown placeholder {rg}",
        ),
        (
            "/subscriptions/{subscription/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x",
            "unbalanced",
        ),
        (
            "/subscriptions/{subscription}/resourceGroups/rg"
            "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/a b",
            "whitespace",
        ),
        (
            "/subscriptions/{subscription}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x/",
            "ends with",
        ),
    ],
)
def test_standard_identity_must_be_a_user_assigned_identity_id(template: str, words: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(f"[identities]\nstandard = ['{template}']", "p.toml")
    assert "identities.standard" in str(info.value)
    assert words in str(info.value)
    assert "userAssignedIdentities" in str(info.value)  # what would be accepted


def test_standard_identity_accepts_lowercase_resourcegroups_and_a_fixed_id() -> None:
    uami = (
        "/subscriptions/5f6e7d8c-1a2b-4c3d-9e8f-0a1b2c3d4e5f/resourcegroups/rg"
        "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/myidentity"
    )
    assert parse_policy(f"[identities]\nstandard = ['{uami}']").standard_identities == (uami,)


@pytest.mark.parametrize(
    ("scope", "words"),
    [
        ("resourceGroups/x", "not a well-formed"),
        ("/resourceGroups/{resourceGroup}", "does not start with /subscriptions/"),
        ("/subscriptions/{subscription}/resourceGroups/{group}", "unknown placeholder {group}"),
        ("/subscriptions/{subscription}/resourceGroups/..", "'..'"),
        ("/subscriptions/{subscription}/", "ends with"),
        ("/subscriptions/{subscription}/resourceGroups/rg%31", "'%'"),
    ],
)
def test_allowed_scopes_must_be_well_formed(scope: str, words: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(f"[grants]\nallowed_scopes = ['{scope}']", "p.toml")
    assert "grants.allowed_scopes" in str(info.value)
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[grants]\ntag_prefix = ""', "grants.tag_prefix"),
        ('[grants]\ntag_prefix = "  "', "grants.tag_prefix"),
        ('[apps]\nopt_out_tag = ""', "apps.opt_out_tag"),
        ('[apps]\nresource_groups = [""]', "apps.resource_groups"),
        ('[grants]\nallowed_roles = [""]', "grants.allowed_roles"),
    ],
)
def test_empty_strings_are_refused(toml: str, key: str) -> None:
    with pytest.raises(PolicyError, match=f"{key}.*empty"):
        parse_policy(toml, "p.toml")


# --- expand -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "short"),
    [
        ("East US", "eastus"),
        ("eastus", "eastus"),
        ("West Europe", "westeurope"),
        ("  North  Central US ", "northcentralus"),
        ("SWEDENCENTRAL", "swedencentral"),
    ],
)
def test_short_location(location: str, short: str) -> None:
    assert short_location(location) == short


def test_expand_fills_every_placeholder_from_the_app() -> None:
    assert expand(UAMI, APP, "East US") == (
        "/subscriptions/5f6e7d8c-1a2b-4c3d-9e8f-0a1b2c3d4e5f/resourceGroups/Rg-Apps"
        "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-eastus"
    )


def test_expand_lowercases_the_subscription() -> None:
    upper = APP.replace(
        "5f6e7d8c-1a2b-4c3d-9e8f-0a1b2c3d4e5f", "5F6E7D8C-1A2B-4C3D-9E8F-0A1B2C3D4E5F"
    )
    assert expand("{subscription}", upper, None) == "5f6e7d8c-1a2b-4c3d-9e8f-0a1b2c3d4e5f"


def test_expand_without_placeholders_is_identity() -> None:
    assert (
        expand("/subscriptions/x/resourceGroups/shared", APP, None)
        == "/subscriptions/x/resourceGroups/shared"
    )


def test_expand_needs_a_location_only_when_the_template_uses_it() -> None:
    assert expand("/subscriptions/{subscription}", APP, None).endswith("4e5f")
    with pytest.raises(ValueError, match="location"):
        expand(UAMI, APP, None)


def test_expand_refuses_an_id_outside_a_resource_group() -> None:
    with pytest.raises(ValueError):
        expand("{resourceGroup}", "/subscriptions/x", None)


def test_example_policy_expands_for_an_app() -> None:
    policy = parse_policy((ROOT / "policy.example.toml").read_text(), "policy.example.toml")
    expanded = expand(policy.standard_identities[0], APP, "West Europe")
    assert expanded.startswith(
        "/subscriptions/5f6e7d8c-1a2b-4c3d-9e8f-0a1b2c3d4e5f/resourceGroups/Rg-Apps/"
    )
    assert "westeurope" in expanded and "{" not in expanded


def test_policy_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Policy().dry_run = True  # type: ignore[misc]


def test_location_placeholder_is_allowed_in_scopes() -> None:
    scope = "/subscriptions/{subscription}/resourceGroups/shared-{location}"
    toml = f"[grants]\nallowed_scopes = ['{scope}']"
    assert parse_policy(toml).allowed_scopes[0].endswith("shared-{location}")


def test_keys_of_several_tables_combine() -> None:
    policy = parse_policy(
        "[identities]\ncreate_missing = true\n[grants]\nenable_system_identity = false\n"
        "[apps]\nopt_out_tag = 'skip'\n[run]\ndry_run = true\n"
    )
    assert (policy.create_missing, policy.enable_system_identity) == (True, False)
    assert (policy.opt_out_tag, policy.dry_run) == ("skip", True)
    assert policy.tag_prefix == "grant:"  # untouched keys keep their defaults


def test_policy_errors_start_with_the_word_policy_and_the_file() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy("[grants]\nallowed_roles = 5", "/etc/warden/policy.toml")
    assert str(info.value) == (
        "policy /etc/warden/policy.toml: grants.allowed_roles: "
        "expected a list of strings, got integer"
    )
