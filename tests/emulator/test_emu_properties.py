"""Properties of the pure helpers: id matching and JSON merge patch."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.common import merge_patch
from emulator.ids import mixed_case_id, norm, parse_resource_id, scope_contains

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_docs = st.recursive(json_leaf, lambda c: st.dictionaries(st.text(max_size=4), c,
                                                              max_size=4), max_leaves=12)


def _flip(text: str, mask: list[bool]) -> str:
    mask = (mask + [False] * len(text))[: len(text)]
    return "".join(c.upper() if m else c for c, m in zip(text, mask, strict=True))


@settings(max_examples=60, deadline=None)
@given(sub=names, rg=names, app=names, mask=st.lists(st.booleans(), max_size=200))
def test_any_casing_of_an_id_is_the_same_resource(sub, rg, app, mask) -> None:
    canonical = (f"/subscriptions/{sub}/resourceGroups/{rg}"
                 f"/providers/Microsoft.App/containerApps/{app}")
    flipped = _flip(canonical.lower(), mask)
    assert norm(flipped) == norm(canonical)
    ref = parse_resource_id(flipped)
    assert ref is not None and ref.type == "Microsoft.App/containerApps"
    assert "/resourcegroups/" in mixed_case_id(flipped)


@settings(max_examples=60, deadline=None)
@given(a=st.lists(names, min_size=1, max_size=5), b=st.lists(names, max_size=3),
       tail=names)
def test_scope_containment_is_segment_wise(a, b, tail) -> None:
    outer = "/" + "/".join(a)
    assert scope_contains(outer, outer + "/" + "/".join([*b, tail]))
    assert scope_contains(outer, outer.upper())
    assert not scope_contains(outer, outer + tail)  # rg1 does not admit rg10
    assert scope_contains("/", outer)


@settings(max_examples=80, deadline=None)
@given(doc=json_docs, patch=json_docs)
def test_merge_patch_laws(doc, patch) -> None:
    once = merge_patch(doc, patch)
    assert merge_patch(once, patch) == once  # idempotent
    if isinstance(patch, dict):
        for key, value in patch.items():
            if value is None:
                assert key not in once
            elif not isinstance(value, dict):
                assert once[key] == value
    else:
        assert once == patch
