"""The pieces of lint on their own: JSON lines, ARM expressions, Bicep strings, values."""

from __future__ import annotations

import json
from typing import Any

import pytest

from handlers.lint import bicepsyntax
from handlers.lint.armexpr import ExpressionError, evaluate, is_expression, literal
from handlers.lint.jsonlines import JObject, load
from handlers.lint.values import (
    Obj,
    Partial,
    Placement,
    Text,
    Unknown,
    call,
    join,
    member,
    origins_of,
    placement_of,
    shown,
)

HERE = Placement("sub1", "rg1", "westeurope")


class Scope:
    placement = HERE

    def parameter(self, name: Any) -> Any:
        return Unknown(f"parameter '{name}'")

    def variable(self, name: Any) -> Any:
        return {"stName": "stweb", "obj": {"Key": "v"}}.get(name, Unknown("no such variable"))


def ev(text: str) -> Any:
    return evaluate(text, Scope())


# --- jsonlines ---------------------------------------------------------------------------------


def test_every_key_knows_its_line_and_the_data_is_plain_json() -> None:
    text = ('{\n  "a": {\n    "grant:x/y": "v",\n    "b": [1, {"c": "\\u00e9"}]\n  },\n'
            '  "n": -1.5e3\n}')
    doc = load(text)
    assert doc == json.loads(text)
    assert isinstance(doc, JObject) and doc.key_lines == {"a": 2, "n": 6}
    assert doc["a"].key_lines == {"grant:x/y": 3, "b": 4}  # a '/' in a key is just a key
    assert doc["a"]["b"][1].key_lines == {"c": 4}
    assert doc["a"].line == 2


def test_invalid_json_raises_the_standard_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        load('{"a": }')


# --- ARM expressions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("[concat('Reader@', resourceGroup().id)]",
         "Reader@/subscriptions/sub1/resourceGroups/rg1"),
        ("[format('{0}@{1}', 'Reader', 'x')]", "Reader@x"),
        ("[format('{{0}}{0}', 'a')]", "{0}a"),
        ("[resourceId('Microsoft.Storage/storageAccounts', variables('stName'))]",
         "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/stweb"),
        ("[resourceId('rg2', 'Microsoft.Storage/storageAccounts/blobServices', 'st', 'default')]",
         "/subscriptions/sub1/resourceGroups/rg2/providers/Microsoft.Storage/storageAccounts/st/"
         "blobServices/default"),
        ("[resourceId('s2', 'rg2', 'Microsoft.KeyVault/vaults', 'kv')]",
         "/subscriptions/s2/resourceGroups/rg2/providers/Microsoft.KeyVault/vaults/kv"),
        ("[subscriptionResourceId('Microsoft.Resources/resourceGroups', 'rg9')]",
         "/subscriptions/sub1/providers/Microsoft.Resources/resourceGroups/rg9"),
        ("[subscription().subscriptionId]", "sub1"),
        ("[resourceGroup().ID]", "/subscriptions/sub1/resourceGroups/rg1"),  # members: any case
        ("[variables('obj').key]", "v"),
        ("[variables('obj')['Key']]", "v"),
        ("[toLower('ABC')]", "abc"),
        ("[if(equals(1, 1), 'yes', 'no')]", "yes"),
        ("[createObject('grant:a', 'Reader@.')]", {"grant:a": "Reader@."}),
        ("[union(createObject('a', '1'), createObject('a', '2', 'b', '3'))]", {"a": "2", "b": "3"}),
        ("[concat('it''s')]", "it's"),
        ("[json('{\"a\": 1}').a]", 1),
    ],
)
def test_arm_expressions_lint_evaluates(text: str, value: Any) -> None:
    assert ev(text) == value


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("[parameters('scope')]", "parameter 'scope'"),
        ("[reference('x').id]", "reference()"),
        ("[uniqueString(resourceGroup().id)]", "uniqueString()"),
        ("[ns.fn('a')]", "user-defined function ns.fn()"),
        ("[if(equals(parameters('env'), 'prod'), 'Reader@.', 'Owner@.')]",
         "a condition decided at deployment"),
    ],
)
def test_arm_expressions_lint_cannot_know_are_unknown(text: str, what: str) -> None:
    value = ev(text)
    assert isinstance(value, Unknown) and value.what == what


def test_unknown_parts_stay_in_their_place() -> None:
    value = ev("[concat('Reader@', parameters('rg'), '/x')]")
    assert value == Text(("Reader@", Unknown("parameter 'rg'"), "/x"))


@pytest.mark.parametrize("text", ["[concat('a']", "[concat('a' 'b')]", "[a.]", "[1 2]", "[f(]",
                                  "[concat(')]", "[@]"])
def test_malformed_expressions_raise(text: str) -> None:
    with pytest.raises(ExpressionError):
        ev(text)


def test_escaped_brackets_are_literals() -> None:
    assert is_expression("[x()]") and not is_expression("[[x()]") and not is_expression("x")
    assert literal("[[x]") == "[x]"


# --- values ---------------------------------------------------------------------------------------


def test_join_merges_text_and_keeps_unknowns() -> None:
    u = Unknown("p")
    assert join(["a", 1, True, None, "b"]) == "a1Trueb"
    assert join(["a", u, Text(("b", u)), "c"]) == Text(("a", u, "b", u, "c"))
    assert isinstance(join(["a", {"x": 1}]), Unknown)


def test_union_keeps_where_each_member_is_written() -> None:
    a = Obj({"grant:a": "1", "b": "2"}, origins={"grant:a": ("a.bicep", 3), "b": ("a.bicep", 4)})
    b = Obj({"b": "3"}, origins={"b": ("b.bicep", 9)})
    merged = call("union", [a, b], HERE)
    assert merged == {"grant:a": "1", "b": "3"}
    assert origins_of(merged) == {"grant:a": ("a.bicep", 3), "b": ("b.bicep", 9)}
    partial = call("union", [Unknown("parameter 'tags'"), a], HERE)
    assert isinstance(partial, Partial) and partial.unknown == (Unknown("parameter 'tags'"),)
    assert member(partial, "grant:a") == "1"
    assert isinstance(member(partial, "other"), Unknown)


def test_placement_of_scope_objects() -> None:
    there = placement_of(call("resourceGroup", ["rg-workers"], HERE)["id"], HERE, "module m")
    assert (there.subscription, there.resource_group) == ("sub1", "rg-workers")
    unknown = placement_of(call("resourceGroup", [Unknown("parameter 'rg'")], HERE)["id"], HERE,
                           "module m")
    assert unknown.subscription == "sub1"
    assert shown(unknown.resource_group) == "{resourceGroup of module m}"
    assert shown(Placement().group_id) == "/subscriptions/{subscription}/resourceGroups/" \
                                          "{resourceGroup}"


# --- Bicep strings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quoted", "pieces"),
    [
        ("'Reader@.'", [(False, "Reader@.")]),
        ("'It\\'s \\\\ \\$x \\u{41}'", [(False, "It's \\ $x A")]),
        ("'${a}@${b.id}'", [(True, "a"), (False, "@"), (True, "b.id")]),
        ("'x${format('{0}}', 'y')}z'", [(False, "x"), (True, "format('{0}}', 'y')"), (False, "z")]),
        ("'${'${inner}'}'", [(True, "'${inner}'")]),
        ("''", []),
    ],
)
def test_bicep_strings_split_into_text_and_holes(quoted: str, pieces: list[Any]) -> None:
    assert list(bicepsyntax.split_string(quoted)) == pieces


def test_a_hole_is_parsed_by_the_same_grammar() -> None:
    tree = bicepsyntax.hole("resourceGroup().id")
    assert tree is not None and tree.data == "operator"
    assert bicepsyntax.hole("a b c") is None


# --- workload types -----------------------------------------------------------------------------


def test_terraform_names_only_the_workload_types_of_the_ids_table() -> None:
    from handlers.ids import WORKLOAD_TYPES
    from handlers.lint.model import TERRAFORM_TYPES, declared_workload

    found = {name: declared_workload(name) for name in TERRAFORM_TYPES}
    assert {w.type for w in found.values() if w is not None} == {w.type for w in WORKLOAD_TYPES}
    assert None not in found.values()
    assert declared_workload("Microsoft.App/JOBS@2024-03-01") == WORKLOAD_TYPES[1]
    assert declared_workload("Microsoft.App/containerApps/authConfigs@2024-03-01") is None
