"""``python -m handlers lint`` over the sample templates in tests/lint/samples (and a few
written on the spot): findings, their lines, "not checked", exit codes, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from handlers.cli import main

REPO = Path(__file__).resolve().parents[2]
SAMPLES = Path(__file__).parent / "samples"
ARM = "tests/lint/samples/arm/azuredeploy.json"
ARM_CLEAN = "tests/lint/samples/arm/clean.json"
BICEP = "tests/lint/samples/bicep/main.bicep"
BICEP_MODULE = "tests/lint/samples/bicep/modules/app.bicep"
PLAN = "tests/lint/samples/terraform/plan.json"
PLAN_ONE_LINE = "tests/lint/samples/terraform/plan.oneline.json"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # sample paths as a person types them; no policy.toml here
    monkeypatch.delenv("WARDEN_POLICY", raising=False)


def lint(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    rc = main(["lint", *args])
    out, err = capsys.readouterr()
    return rc, out.splitlines(), err


def heads(lines: list[str]) -> list[str]:
    """``FILE:LINE: TAG`` of each finding line."""
    return [": ".join(line.split(": ")[:2]) for line in lines]


def reason(lines: list[str], head: str) -> str:
    [found] = [line for line in lines if line.startswith(head + ": ")]
    return found[len(head) + 2:]


# --- ARM JSON ---------------------------------------------------------------------------------


def test_arm_template_findings_name_file_line_tag_and_reason(capsys) -> None:
    rc, lines, err = lint(capsys, ARM)
    assert rc == 1
    assert heads(lines) == [
        f"{ARM}:32: grant:data",
        f"{ARM}:33: grant:owner",
        f"{ARM}:34: grant:tags",
        f"{ARM}:35: grant:shared",
        f"{ARM}:36: GRANT:typo",
        f"{ARM}:48: tags",
        f"{ARM}:75: grant:worker",
    ]
    assert reason(lines, f"{ARM}:32: grant:data") == (
        "not checked: the value uses parameter 'dataScope', known only at deployment")
    owner = reason(lines, f"{ARM}:33: grant:owner")
    assert owner.startswith("role Owner (8e3af657-a8ff-443c-a75c-2fe8c4bcb635) falls under "
                            "the privilege floor")
    tags = reason(lines, f"{ARM}:34: grant:tags")
    assert "is broad" in tags and "'Microsoft.Resources/tags/*'" in tags
    assert "Microsoft.Resources/tags/write" in tags and "grants.allowed_roles" in tags
    shared = reason(lines, f"{ARM}:35: grant:shared")
    assert shared.startswith("not checked: scope /subscriptions/0b0b0b0b-1111-2222-3333-"
                             "444444444444/resourceGroups/rg-shared is outside allowed_scopes")
    assert "/subscriptions/{subscription}/resourceGroups/{resourceGroup}" in shared
    assert "ends with '/'" in reason(lines, f"{ARM}:36: GRANT:typo")
    assert reason(lines, f"{ARM}:48: tags").startswith(
        "not checked: tags come from parameter 'jobTags'")
    # the nested deployment's parameter is bound: Contributor arrives and is broad
    assert "role Contributor" in reason(lines, f"{ARM}:75: grant:worker")
    assert "7 finding(s) (3 not checked); policy: defaults" in err


def test_clean_template_exits_0_and_prints_nothing(capsys) -> None:
    rc, lines, err = lint(capsys, ARM_CLEAN)
    assert (rc, lines) == (0, [])
    assert "1 workload(s), 0 finding(s)" in err


def test_literal_subscription_and_resource_group_decide_what_depended_on_them(capsys) -> None:
    where = ["--subscription", "0B0B0B0B-1111-2222-3333-444444444444",
             "--resource-group", "rg-shared"]
    _rc, lines, _ = lint(capsys, ARM, *where)
    assert f"{ARM}:35: grant:shared" not in heads(lines)  # admitted: it is the app's own group
    _rc, lines, _ = lint(capsys, ARM, "--resource-group", "rg-web",
                        "--subscription", "0b0b0b0b-1111-2222-3333-444444444444")
    shared = reason(lines, f"{ARM}:35: grant:shared")
    assert shared.startswith("scope /subscriptions/0b0b0b0b-1111-2222-3333-444444444444/"
                             "resourceGroups/rg-shared is outside allowed_scopes; allowed: "
                             "/subscriptions/0b0b0b0b-1111-2222-3333-444444444444/"
                             "resourceGroups/rg-web and below")


def test_policy_file_admits_broad_roles_it_names(capsys, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[grants]\nallowed_roles = ["*", "Contributor", "tag contributor"]\n')
    rc, lines, err = lint(capsys, ARM, "--policy", str(policy))
    assert rc == 1
    assert f"{ARM}:34: grant:tags" not in heads(lines)
    assert f"{ARM}:75: grant:worker" not in heads(lines)
    assert f"{ARM}:33: grant:owner" in heads(lines)  # the floor: no setting allows it
    assert f"policy: {policy}" in err


def test_warden_policy_is_the_default_policy(capsys, tmp_path: Path, monkeypatch) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text('[grants]\nallowed_roles = ["Reader"]\n')
    monkeypatch.setenv("WARDEN_POLICY", str(policy))
    rc, lines, _ = lint(capsys, ARM_CLEAN)
    assert rc == 1
    assert "is not in grants.allowed_roles; allowed: Reader" in reason(
        lines, f"{ARM_CLEAN}:17: grant:read")


# --- Bicep ------------------------------------------------------------------------------------


def test_bicep_with_modules_parameters_and_interpolation(capsys) -> None:
    rc, lines, err = lint(capsys, BICEP)
    assert rc == 1
    assert heads(lines) == [
        f"{BICEP}:28: grant:self",  # written in main.bicep, passed into the module
        f"{BICEP}:40: grant:queue",
        f"{BICEP}:50: grant:blob",
        f"{BICEP}:51: grant:reports",
        f"{BICEP}:52: grant:audit",
        f"{BICEP}:52: grant:audit",
    ]
    # '${prefix}self' is resolved through a variable; the role is broad (writes apps)
    self_reason = reason(lines, f"{BICEP}:28: grant:self")
    assert "Container Apps Contributor" in self_reason
    assert "'Microsoft.App/containerApps/*/write' allows Microsoft.App/containerApps/write" \
        in self_reason
    # the worker module is deployed to rg-workers; its grant points at the caller's group
    queue = reason(lines, f"{BICEP}:40: grant:queue")
    assert queue.startswith("not checked: scope /subscriptions/{subscription}/resourceGroups/"
                            "{resourceGroup} is outside allowed_scopes; allowed: "
                            "/subscriptions/{subscription}/resourceGroups/rg-workers and below")
    assert reason(lines, f"{BICEP}:50: grant:blob") == (
        "not checked: the value uses parameter 'dataAccount', known only at deployment")
    audit = [line for line in lines if line.startswith(f"{BICEP}:52: grant:audit: ")]
    assert any("parameter 'reportScope'" in a for a in audit)  # the scope is not checked ...
    assert any("User Access Administrator" in a and "privilege floor" in a for a in audit)
    # ... but the role is. The module's own tags ('grant:rg' = 'Reader@.') and the vault
    # grant (an `existing` vault with a literal name) pass, so nothing points at the module.
    assert not any(line.startswith(BICEP_MODULE) for line in lines)
    assert "3 workload(s)" in err


def test_bicep_module_deployed_where_its_grant_points_passes(capsys) -> None:
    _rc, lines, _ = lint(capsys, BICEP, "--resource-group", "rg-workers")
    assert f"{BICEP}:40: grant:queue" not in heads(lines)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return str(path)


def test_bicep_loops_conditions_and_registry_modules(capsys, tmp_path: Path) -> None:
    path = write(tmp_path, "loops.bicep", """
        param deployJob bool = true
        param names array
        var roles = [
          'Reader'
          'Owner'
        ]
        resource apps 'Microsoft.App/containerApps@2024-03-01' = [for (role, i) in roles: {
          name: 'app-${role}'
          tags: {
            'grant:r': '${role}@.'
          }
        }]
        resource more 'Microsoft.App/containerApps@2024-03-01' = [for n in names: {
          name: n
          tags: {
            'grant:n': '${n}@.'
          }
        }]
        resource job 'Microsoft.App/jobs@2024-03-01' = if (deployJob) {
          name: 'job'
          tags: {
            'grant:j': 'Managed Identity Operator@.'
          }
        }
        module shared 'br/public:avm/res/app/container-app:0.11.0' = {
          name: 'shared'
          params: {
            tags: {
              'grant:x': 'Reader@.'
            }
          }
        }
        module plain 'br/public:avm/res/storage/storage-account:0.14.0' = {
          name: 'plain'
          params: {
            name: 'stplain'
          }
        }
        """)
    rc, lines, _ = lint(capsys, path)
    assert rc == 1
    assert heads(lines) == [f"{path}:10: grant:r", f"{path}:16: grant:n",
                            f"{path}:22: grant:j", f"{path}:25: module"]
    assert "role Owner" in reason(lines, f"{path}:10: grant:r")  # the loop's second item
    assert "an item of a loop over values decided at deployment" in reason(
        lines, f"{path}:16: grant:n")
    assert "Managed Identity Operator" in reason(lines, f"{path}:22: grant:j")
    assert "passed grant tags" in reason(lines, f"{path}:25: module")


def test_bicep_module_that_cannot_be_read_is_not_checked(capsys, tmp_path: Path) -> None:
    path = write(tmp_path, "main.bicep", """
        module m './missing.bicep' = {
          name: 'm'
        }
        """)
    rc, lines, _ = lint(capsys, path)
    assert rc == 1
    assert reason(lines, f"{path}:1: module").startswith(
        "not checked: module 'm': " + str(tmp_path / "missing.bicep") + ": no such file")


def test_bicep_tags_from_a_parameter_are_never_passed(capsys, tmp_path: Path) -> None:
    path = write(tmp_path, "app.bicep", """
        param tags object
        param label string
        param role string = 'Reader'
        resource app 'Microsoft.App/containerApps@2024-03-01' = {
          name: 'app'
          tags: union(tags, {
            'grant:${label}': 'Reader@.'
            'grant:role': '${role}@.'
            'x-${label}': 'not a grant tag'
          })
        }
        """)
    rc, lines, _ = lint(capsys, path)
    assert rc == 1
    assert heads(lines) == [f"{path}:6: tags", f"{path}:8: grant:role"]
    # 'grant:${label}' is a grant tag whatever the label; its value passes
    assert "parameter 'role'" in reason(lines, f"{path}:8: grant:role")


# --- Terraform --------------------------------------------------------------------------------


def test_terraform_plan_findings(capsys) -> None:
    rc, lines, err = lint(capsys, PLAN)
    assert rc == 1
    assert heads(lines) == [f"{PLAN}:100: grant:tags", f"{PLAN}:105: grant:blob",
                            f"{PLAN}:129: grant:acr"]
    assert "Tag Contributor" in reason(lines, f"{PLAN}:100: grant:tags")
    assert reason(lines, f"{PLAN}:105: grant:blob") == (
        "not checked: the value is computed by Terraform, known only after apply")
    assert reason(lines, f"{PLAN}:129: grant:acr").startswith(
        "scope /subscriptions/5f6e7d8c-1a2b-4c3d-9e8f-0a1b2c3d4e5f/resourceGroups/rg-shared/"
        "providers/Microsoft.ContainerRegistry/registries/acrshared is outside allowed_scopes")
    # the app being deleted (grant:all = Owner) and the data source are not checked
    assert "3 workload(s)" in err


def test_terraform_plan_as_printed_on_one_line(capsys) -> None:
    rc, lines, _ = lint(capsys, PLAN_ONE_LINE)
    assert rc == 1
    assert heads(lines) == [f"{PLAN_ONE_LINE}:1: grant:tags", f"{PLAN_ONE_LINE}:1: grant:blob",
                            f"{PLAN_ONE_LINE}:1: grant:acr"]


# --- roles --------------------------------------------------------------------------------------


def test_custom_role_is_unknown_without_arm(capsys, tmp_path: Path) -> None:
    template = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
                "deploymentTemplate.json#", "contentVersion": "1.0.0.0", "resources": [
                    {"type": "Microsoft.App/jobs", "name": "j", "apiVersion": "2024-03-01",
                     "tags": {"grant:c": "11111111-2222-3333-4444-555555555555@.",
                              "grant:n": "Our Custom Reader@.",
                              "grant:id": "/providers/Microsoft.Authorization/roleDefinitions/"
                                          "acdd72a7-3385-48ef-bd42-f606fba81ae7@."}}]}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(template, indent=2))
    rc, lines, _ = lint(capsys, str(path))
    assert rc == 1
    assert heads(lines) == [f"{path}:10: grant:c", f"{path}:11: grant:n"]  # the id is Reader
    assert reason(lines, f"{path}:11: grant:n") == (
        "unknown role 'Our Custom Reader': not one of Azure's built-in roles; a custom role "
        "is looked up in ARM only with --arm")


def test_opted_out_apps_and_apps_outside_resource_groups_are_left_alone(
        capsys, tmp_path: Path) -> None:
    path = write(tmp_path, "apps.bicep", """
        resource a 'Microsoft.App/containerApps@2024-03-01' = {
          name: 'a'
          tags: {
            'warden:ignore': 'True'
            'grant:x': 'Owner@.'
          }
        }
        module other './other.bicep' = {
          name: 'other'
          scope: resourceGroup('rg-legacy')
        }
        """)
    write(tmp_path, "other.bicep", """
        resource b 'Microsoft.App/containerApps@2024-03-01' = {
          name: 'b'
          tags: {
            'grant:x': 'Owner@.'
          }
        }
        """)
    policy = tmp_path / "policy.toml"
    policy.write_text('[apps]\nresource_groups = ["rg-apps-*"]\n')
    rc, lines, _ = lint(capsys, path, "--policy", str(policy))
    assert (rc, lines) == (0, [])
    rc, lines, _ = lint(capsys, path)  # every group is managed by default
    assert heads(lines) == [f"{tmp_path / 'other.bicep'}:4: grant:x"]


def test_tag_prefix_of_the_policy(capsys, tmp_path: Path) -> None:
    path = write(tmp_path, "p.bicep", """
        resource a 'Microsoft.App/containerApps@2024-03-01' = {
          name: 'a'
          tags: {
            'grant:x': 'Owner@.'
            'RBAC-y': 'Contributor@.'
          }
        }
        """)
    policy = tmp_path / "policy.toml"
    policy.write_text('[grants]\ntag_prefix = "rbac-"\n')
    _rc, lines, _ = lint(capsys, path, "--policy", str(policy))
    assert heads(lines) == [f"{path}:5: RBAC-y"]


# --- usage --------------------------------------------------------------------------------------


def test_missing_file_is_usage_and_the_others_are_still_checked(capsys) -> None:
    rc, lines, err = lint(capsys, "nope.bicep", ARM)
    assert rc == 2
    assert "error: nope.bicep: no such file" in err
    assert f"{ARM}:33: grant:owner" in heads(lines)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.json", '{"resources": [\n}',
         "bad.json: not JSON: Expecting value at line 2 column 1"),
        ("other.json", '{"name": "my-package"}', "neither an ARM template"),
        ("bad.bicep", "resource x 'a@b' = {\n  name: \n}\n", "bad.bicep: not Bicep"),
        ("open.bicep", "var x = '''\n", "a multi-line string (''') is not closed"),
        ("main.tf", 'resource "x" "y" {}\n', "Terraform configuration; lint its plan"),
        ("main.bicepparam", "using './main.bicep'\n", "a Bicep parameters file"),
        ("latin1.json", None, "not UTF-8 text"),
    ],
)
def test_unusable_files_are_usage_errors_naming_the_file(
        capsys, tmp_path: Path, name: str, text: str | None, message: str) -> None:
    path = tmp_path / name
    if text is None:
        path.write_bytes(b'{"tags": "caf\xe9"}')
    else:
        path.write_text(text)
    rc, lines, err = lint(capsys, str(path))
    assert rc == 2 and lines == []
    assert message in err, err


def test_other_json_can_be_skipped_for_hooks(capsys, tmp_path: Path) -> None:
    path = tmp_path / "package.json"
    path.write_text('{"name": "x"}')
    rc, lines, _ = lint(capsys, str(path), ARM_CLEAN, "--skip-other-json")
    assert (rc, lines) == (0, [])


def test_bad_policy_is_usage_naming_file_and_key(capsys, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[grants]\nallowed_rolez = ["*"]\n')
    rc, lines, err = lint(capsys, ARM_CLEAN, "--policy", str(policy))
    assert rc == 2 and lines == []
    assert str(policy) in err and "allowed_rolez" in err
    rc, _, err = lint(capsys, ARM_CLEAN, "--policy", str(tmp_path / "none.toml"))
    assert rc == 2 and "none.toml" in err


def test_a_policy_the_service_would_refuse_is_usage(capsys, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    policy = tmp_path / "owner.toml"
    policy.write_text('[grants]\nallowed_roles = ["Owner"]\n')
    rc, lines, err = lint(capsys, ARM_CLEAN, "--policy", str(policy))
    assert rc == 2 and lines == []
    assert f"error: policy {policy}: grants.allowed_roles" in err and "Owner" in err
    monkeypatch.setenv("WARDEN_POLICY", str(policy))  # the service's own policy: the same
    rc, lines, err = lint(capsys, ARM_CLEAN)
    assert rc == 2 and lines == [] and "privilege floor" in err


def test_the_policy_reviews_warnings_go_to_stderr(capsys, tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text('[grants]\nallowed_roles = ["Owner", "Reader"]\n'
                      '[apps]\nresource_groups = []\n')
    rc, lines, err = lint(capsys, ARM_CLEAN, "--policy", str(policy))
    assert rc == 1 and lines and not any("warning" in line for line in lines)
    assert f"warning: policy {policy}: apps.resource_groups is empty" in err
    assert f"warning: policy {policy}: grants.allowed_roles: 'Owner'" in err


@pytest.mark.parametrize("args", [[], ["--no-such-option", ARM], [ARM, "--resource-group", "a/b"]])
def test_bad_options_are_usage(capsys, args: list[str]) -> None:
    rc, _, err = lint(capsys, *args)
    assert rc == 2 and err


def test_help_has_an_example_and_the_exit_codes(capsys) -> None:
    rc, lines, _ = lint(capsys, "--help")
    text = "\n".join(lines)
    assert rc == 0
    assert "example:" in text and "python -m handlers lint" in text
    assert "exit codes:" in text and "not checked" in text
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    assert "check grant tags in ARM, Bicep and Terraform plan files" in capsys.readouterr().out


def test_the_command_as_a_user_runs_it() -> None:
    env = {k: v for k, v in os.environ.items() if k != "WARDEN_POLICY"}
    out = subprocess.run([sys.executable, "-m", "handlers", "lint", BICEP, PLAN], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    assert out.stdout.splitlines()[0].startswith(f"{BICEP}:28: grant:self: role Container Apps")
    assert out.stderr.strip().endswith("policy: defaults")


def test_the_service_never_imports_lint() -> None:
    code = ("import sys, function_app, handlers.cli, handlers.warden, handlers.serve\n"
            "handlers.cli.build_parser()\n"
            "print(sorted(m for m in sys.modules if m.startswith(('handlers.lint', 'pycep', "
            "'lark'))))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_readme_example_is_what_lint_prints(capsys) -> None:
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- lint-example -->\n```console\n", 1)[1].split("```", 1)[0]
    command, *shown, echo, code = block.strip().splitlines()
    assert command.startswith("$ .venv/bin/python -m handlers lint ") and echo == "$ echo $?"
    rc, lines, err = lint(capsys, *command.split()[5:])
    assert lines + err.strip().splitlines()[-1:] == shown
    assert str(rc) == code


def test_a_run_leaves_the_process_logging_as_it_was(capsys) -> None:
    import logging

    azure, policy = logging.getLogger("azure"), logging.getLogger("handlers.policy")
    before = (azure.level, policy.level)
    lint(capsys, ARM_CLEAN)
    assert (azure.level, policy.level) == before


def test_hostile_bicep_neither_crashes_nor_hangs_nor_passes(capsys, tmp_path: Path) -> None:
    path = write(tmp_path, "self.bicep", """
        var a = b
        var b = a
        var d = 'x${[1]}'
        resource app 'Microsoft.App/containerApps@2024-03-01' = [for i in range(0, 3): {
          name: 'a${i}'
          tags: i
        }]
        resource app2 'Microsoft.App/containerApps@2024-03-01' = {
          name: d
          tags: {
            'grant:a': a
            'grant:g': '${app2.id}'
            'grant:k': 'Owner@${'${'.'}'}'
            'grant:m': (1 + 2)
            '${d}': 'Owner@.'
          }
        }
        module self './self.bicep' = {
          name: 'self'
        }
        module loop './self.bicep' = [for x in [1, 2]: {
          name: 'l${x}'
        }]
        """)
    rc, lines, _ = lint(capsys, path)
    assert rc == 1
    assert heads(lines) == [f"{path}:6: tags", f"{path}:11: grant:a", f"{path}:12: grant:g",
                            f"{path}:13: grant:k", f"{path}:14: grant:m", f"{path}:15: <an "
                            "object or array used as a string>", f"{path}:18: module",
                            f"{path}:21: module"]
    assert "defined in terms of itself" in reason(lines, f"{path}:11: grant:a")
    assert reason(lines, f"{path}:12: grant:g") == ("not checked: the value uses an object or "
                                                    "array used as a string, known only at "
                                                    "deployment")  # no marker leaks out
    assert "role Owner" in reason(lines, f"{path}:13: grant:k")
    assert "which uses it in turn" in reason(lines, f"{path}:18: module")


def test_templates_that_link_each_other_are_not_followed_forever(capsys, tmp_path) -> None:
    def linking(other: str) -> dict:
        return {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
                "deploymentTemplate.json#", "resources": [
                    {"type": "Microsoft.Resources/deployments", "name": "d",
                     "properties": {"templateLink": {"relativePath": other}}},
                    {"type": "Microsoft.App/jobs", "name": "j", "tags": {"grant:x": "Owner@."}}]}
    (tmp_path / "a.json").write_text(json.dumps(linking("b.json"), indent=1))
    (tmp_path / "b.json").write_text(json.dumps(linking("a.json"), indent=1))
    rc, lines, _ = lint(capsys, str(tmp_path / "a.json"))
    assert rc == 1
    # a.json's job, then b.json's link back to a.json (not followed) and b.json's job
    assert [line.split(": ")[1] for line in lines] == ["grant:x", "template", "grant:x"]
    assert lines[1].startswith(str(tmp_path / "b.json"))
    assert "links " + str(tmp_path / "a.json") + ", which links it in turn" in lines[1]


def test_terraform_state_json_is_read_from_its_values(capsys, tmp_path: Path) -> None:
    state = {"format_version": "1.0", "terraform_version": "1.9.8", "values": {"root_module": {
        "resources": [], "child_modules": [{"address": "module.apps", "resources": [
            {"address": "module.apps.azurerm_container_app_job.j", "mode": "managed",
             "type": "azurerm_container_app_job", "name": "j",
             "values": {"name": "j", "resource_group_name": "rg-apps", "location": "westeurope",
                        "tags": {"grant:x": "Managed Identity Operator@."}}}]}]}}}
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state, indent=2))
    rc, lines, _ = lint(capsys, str(path))
    assert rc == 1
    assert heads(lines) == [f"{path}:21: grant:x"]
    assert "Managed Identity Operator" in lines[0] and "is broad" in lines[0]


@pytest.mark.parametrize(("location", "admitted"), [("West Europe", True), ("eastus", False)])
def test_location_placeholder_is_the_apps_location(capsys, tmp_path: Path, location: str,
                                                    admitted: bool) -> None:
    sub = "5f6e7d8c-1a2b-4c3d-9e8f-0a1b2c3d4e5f"
    path = write(tmp_path, "loc.bicep", f"""
        resource a 'Microsoft.App/containerApps@2024-03-01' = {{
          name: 'a'
          location: '{location}'
          tags: {{
            'grant:x': 'Reader@/subscriptions/{sub}/resourceGroups/rg-shared-westeurope'
          }}
        }}
        """)
    policy = tmp_path / "policy.toml"
    policy.write_text('[grants]\nallowed_scopes = ["/subscriptions/{subscription}/'
                      'resourceGroups/rg-shared-{location}"]\n')
    rc, lines, _ = lint(capsys, path, "--policy", str(policy), "--subscription", sub)
    assert (rc == 0) is admitted, lines
    if not admitted:
        assert "is outside allowed_scopes; allowed: /subscriptions/" + sub + \
            "/resourceGroups/rg-shared-eastus and below" in lines[0]


def test_what_is_never_deployed_is_not_checked(capsys, tmp_path: Path) -> None:
    path = write(tmp_path, "never.bicep", """
        param deploy bool
        resource off 'Microsoft.App/containerApps@2024-03-01' = if (false) {
          name: 'off'
          tags: { 'grant:x': 'Owner@.' }
        }
        resource some 'Microsoft.App/containerApps@2024-03-01' = if (1 == 2) {
          name: 'some'
          tags: { 'grant:x': 'Owner@.' }
        }
        resource maybe 'Microsoft.App/containerApps@2024-03-01' = if (deploy) {
          name: 'maybe'
          tags: { 'grant:y': 'Owner@.' }
        }
        resource there 'Microsoft.App/containerApps@2024-03-01' existing = {
          name: 'there'
        }
        """)
    rc, lines, _ = lint(capsys, path)
    assert rc == 1
    assert heads(lines) == [f"{path}:12: grant:y"]  # a condition decided at deployment counts
    template = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
                "deploymentTemplate.json#", "languageVersion": "2.0", "resources": {
                    "off": {"type": "Microsoft.App/jobs", "name": "off", "condition": False,
                            "tags": {"grant:x": "Owner@."}},
                    "old": {"type": "Microsoft.App/jobs", "name": "old", "existing": True,
                            "tags": {"grant:x": "Owner@."}},
                    "on": {"type": "Microsoft.App/jobs", "name": "on",
                           "condition": "[equals(1, 1)]", "tags": {"grant:x": "Owner@."}}}}
    arm_path = tmp_path / "v2.json"
    arm_path.write_text(json.dumps(template, indent=1))
    _, lines, _ = lint(capsys, str(arm_path))
    assert [line.split(": ")[0] for line in lines] == [f"{arm_path}:26"]  # "on" only


def test_azapi_body_tags_as_a_json_string(capsys, tmp_path: Path) -> None:
    body = json.dumps({"tags": {"grant:x": "Contributor@."}, "properties": {}})
    plan = {"format_version": "1.2", "resource_changes": [
        {"address": "azapi_resource.job", "mode": "managed", "type": "azapi_resource",
         "name": "job", "change": {"actions": ["create"], "after": {
             "type": "microsoft.app/JOBS@2024-03-01", "name": "job",
             "parent_id": "/subscriptions/s1/resourceGroups/rg1", "body": body},
             "after_unknown": {}}}]}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan, indent=2))
    rc, lines, _ = lint(capsys, str(path))
    assert rc == 1 and len(lines) == 1
    assert ": grant:x: role Contributor" in lines[0]


def test_a_new_workload_type_in_the_ids_table_is_linted_too(
        capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers import ids

    pools = ids.WorkloadType("Microsoft.App/sessionPools", "sessionPoolOperationStatuses")
    monkeypatch.setattr(ids, "WORKLOAD_TYPES", (*ids.WORKLOAD_TYPES, pools))
    template = tmp_path / "pool.json"
    template.write_text(json.dumps({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
                   "deploymentTemplate.json#", "contentVersion": "1.0.0.0",
        "resources": [{"type": "microsoft.app/SESSIONPOOLS", "apiVersion": "2024-03-01",
                       "name": "pool", "tags": {"grant:all": "Owner@."}}]}, indent=2))
    bicep = tmp_path / "pool.bicep"
    bicep.write_text("resource pool 'Microsoft.App/sessionPools@2024-03-01' = {\n"
                     "  name: 'pool'\n  tags: {\n    'grant:all': 'Owner@.'\n  }\n}\n")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"format_version": "1.2", "resource_changes": [
        {"address": "azapi_resource.pool", "mode": "managed", "type": "azapi_resource",
         "name": "pool", "change": {"actions": ["create"], "after": {
             "type": "Microsoft.App/sessionPools@2024-03-01", "name": "pool",
             "parent_id": "/subscriptions/s1/resourceGroups/rg1",
             "tags": {"grant:all": "Owner@."}}, "after_unknown": {}}}]}, indent=2))
    rc, lines, err = lint(capsys, str(template), str(bicep), str(plan))
    assert rc == 1, err
    assert heads(lines) == [f"{template}:10: grant:all", f"{bicep}:4: grant:all",
                            f"{plan}:18: grant:all"]
    assert all("privilege floor" in line for line in lines)
