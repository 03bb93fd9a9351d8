"""named_subscriptions: the subscriptions cleanup searches besides the app's own."""

from __future__ import annotations

from handlers.policy import Policy, named_subscriptions, parse_policy

OTHER = "11111111-2222-3333-4444-555555555555"
THIRD = "99999999-8888-7777-6666-555555555555"


def test_default_policy_names_no_subscription() -> None:
    assert named_subscriptions(Policy().allowed_scopes) == ()


def test_placeholder_subscription_is_not_a_named_one() -> None:
    scopes = ("/subscriptions/{subscription}",
              "/subscriptions/{subscription}/resourceGroups/shared",
              "/subscriptions/{subscription}/resourceGroups/{resourceGroup}/providers/"
              "Microsoft.KeyVault/vaults/kv-{location}")
    assert named_subscriptions(scopes) == ()


def test_literal_subscriptions_lower_case_sorted_without_repeats() -> None:
    scopes = (f"/subscriptions/{THIRD.upper()}/resourceGroups/shared",
              "/subscriptions/{subscription}/resourceGroups/{resourceGroup}",
              f"/subscriptions/{OTHER}",
              f"/SUBSCRIPTIONS/{OTHER}/resourceGroups/{{resourceGroup}}",
              f"/subscriptions/{THIRD}/resourceGroups/x/providers/Microsoft.Storage/"
              "storageAccounts/st")
    assert named_subscriptions(scopes) == (OTHER, THIRD)


def test_from_a_parsed_policy() -> None:
    policy = parse_policy(
        "[grants]\n"
        f'allowed_scopes = ["/subscriptions/{{subscription}}/resourceGroups/{{resourceGroup}}",'
        f' "/subscriptions/{OTHER}/resourceGroups/shared"]\n')
    assert named_subscriptions(policy.allowed_scopes) == (OTHER,)
