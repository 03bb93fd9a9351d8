"""Policies that can never work: rejected at start (naming file and key); policies that
manage nothing: a warning. handlers.review, on top of handlers.policy's per-key checks."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from handlers.errors import PolicyError
from handlers.policy import load_policy, parse_policy
from handlers.review import review_policy

OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
UAA = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"


def review(toml: str) -> list[str]:
    return review_policy(parse_policy(toml, "/etc/warden/p.toml"))


@pytest.mark.parametrize("roles", [
    '["Owner"]', '["owner"]', f'["{OWNER}"]', f'["{OWNER.upper()}"]',
    f'["/providers/Microsoft.Authorization/roleDefinitions/{OWNER}"]',
    f'["/subscriptions/00000000-0000-0000-0000-000000000001/providers/'
    f'Microsoft.Authorization/roleDefinitions/{OWNER}"]',
    '["Owner", "User Access Administrator"]',
    f'["Role Based Access Control Administrator", "{UAA}"]',
])
def test_allowed_roles_naming_only_roles_under_the_floor_is_rejected(roles: str) -> None:
    with pytest.raises(PolicyError) as caught:
        review(f"[grants]\nallowed_roles = {roles}\n")
    message = str(caught.value)
    assert "/etc/warden/p.toml" in message and "grants.allowed_roles" in message
    assert "privilege floor" in message and "can never" in message


@pytest.mark.parametrize("roles", ['["Reader", "Owner"]', '["*", "Owner"]'])
def test_a_floor_role_next_to_grantable_ones_is_a_warning_naming_it(roles: str) -> None:
    [warning] = review(f"[grants]\nallowed_roles = {roles}\n")
    assert "grants.allowed_roles" in warning and "'Owner'" in warning
    assert "privilege floor" in warning and "/etc/warden/p.toml" in warning


@pytest.mark.parametrize("roles", ['["*"]', '["Reader", "Tag Contributor"]',
                                   '["Contoso App Reader"]', '["Contributor"]',
                                   '["acdd72a7-3385-48ef-bd42-f606fba81ae7"]'])
def test_grantable_broad_and_custom_roles_pass_quietly(roles: str) -> None:
    assert review(f"[grants]\nallowed_roles = {roles}\n") == []


@pytest.mark.parametrize(("toml", "key", "says"), [
    ("[apps]\nresource_groups = []", "apps.resource_groups", "no app"),
    ("[grants]\nallowed_scopes = []", "grants.allowed_scopes", "every grant tag"),
    ("[grants]\nallowed_roles = []", "grants.allowed_roles", "every grant tag"),
])
def test_a_list_that_admits_nothing_is_a_warning(toml: str, key: str, says: str) -> None:
    [warning] = review(toml)
    assert key in warning and says in warning and "/etc/warden/p.toml" in warning


def test_the_default_and_the_example_policy_pass_quietly() -> None:
    assert review("") == []
    root = Path(__file__).resolve().parents[2]
    example = (root / "policy.example.toml").read_text(encoding="utf-8")
    assert review_policy(parse_policy(example, "policy.example.toml")) == []


@pytest.mark.parametrize(("toml", "key"), [
    ('[grants]\ntag_prefix = "grant/"', "grants.tag_prefix"),
    ('[grants]\ntag_prefix = "a<b"', "grants.tag_prefix"),
    ('[apps]\nopt_out_tag = "skip?"', "apps.opt_out_tag"),
    ('[apps]\nopt_out_tag = "50%"', "apps.opt_out_tag"),
    ('[apps]\nresource_groups = ["rg-*", "/subscriptions/x/resourceGroups/rg"]',
     "apps.resource_groups"),
])
def test_names_azure_can_never_carry_are_rejected_at_parse(toml: str, key: str) -> None:
    with pytest.raises(PolicyError, match=key.replace(".", r"\.")):
        parse_policy(toml, "p.toml")


def test_the_service_does_not_start_with_a_floor_only_policy_and_logs_warnings(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from handlers.warden import Warden

    bad = tmp_path / "bad.toml"
    bad.write_text('[grants]\nallowed_roles = ["Owner"]\n')
    with pytest.raises(PolicyError, match=r"grants\.allowed_roles"):
        Warden.from_env({"WARDEN_POLICY": str(bad)})
    empty = tmp_path / "empty.toml"
    empty.write_text("[apps]\nresource_groups = []\n")
    with caplog.at_level(logging.WARNING):
        warden = Warden.from_env({"WARDEN_POLICY": str(empty)})
    asyncio.run(warden.close())
    assert warden.policy.resource_groups == ()
    assert any("apps.resource_groups" in r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING)
    assert load_policy({"WARDEN_POLICY": str(empty)}).resource_groups == ()
