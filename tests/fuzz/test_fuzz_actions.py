"""Action patterns match one way: the service's privilege floor (``handlers.grants``) and
the emulator's authorizer (``emulator.operations``) are independent code, so that the
emulator stays an oracle, and they must agree on every pattern and every action.

The rule (the contract's): case-insensitive; ``*`` matches any run of characters,
``/`` included; each ``/*/`` also matches a single ``/``, adjacent ones too
(``*/*/*/*`` allows ``a/write``).
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from emulator.operations import action_matches
from handlers.grants import pattern_matches

from .conftest import budget

# the pieces that make wildcards interesting, in Azure's alphabet and beyond it
PIECES = st.sampled_from(["*", "/", "/*/", "*/", "/*", "a", "A", "b", "write", "Write",
                          "Microsoft.App", "containerApps", ".", "ſ", "S", "s", "K", "k"])
PATTERNS = st.lists(PIECES, max_size=8).map("".join)
ACTIONS = st.lists(PIECES.filter(lambda p: "*" not in p), max_size=8).map("".join)


@budget(0.05)
@given(pattern=PATTERNS, action=ACTIONS)
@example(pattern="*/*/*/*", action="a/write")
@example(pattern="a/*/*/b", action="a/b")
@example(pattern="Microsoft.App/containerApps/*/write", action="Microsoft.App/containerApps/write")
def test_the_service_and_the_emulator_match_actions_alike(pattern: str, action: str) -> None:
    assert pattern_matches(pattern, action) is action_matches(pattern, action)


@budget(0.05)
@given(pattern=st.text(), action=st.text())
def test_they_agree_on_any_text(pattern: str, action: str) -> None:
    assert pattern_matches(pattern, action) is action_matches(pattern, action)


@pytest.mark.parametrize(("pattern", "action", "matches"), [
    ("*/*/*/*", "a/write", True),  # each /*/ may match one "/": */*/*/* is */*
    ("*/*/*/*", "write", False),
    ("a/*/*/b", "a/b", True),
    ("a/*/*/b", "a/x/b", True),
    ("a/**/b", "a/b", False),  # "**" is not "/*/"
    ("Microsoft.App/*/*/write", "Microsoft.App/write", True),
    ("microſoft.app/*", "Microsoft.App/jobs/write", True),  # case as .NET folds it
    ("*", "a\nb", True),  # any run of characters
])
def test_adjacent_wildcards(pattern: str, action: str, matches: bool) -> None:
    assert pattern_matches(pattern, action) is matches
    assert action_matches(pattern, action) is matches
