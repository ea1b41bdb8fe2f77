"""The pure scorer: each tolerance, its cost, its reason, and never a false exact."""

from __future__ import annotations

import pytest

from tracing.matching.scorer import compare
from tracing.matching.skeleton import CONFUSABLE_CLASSES


def test_exact_only_when_identical() -> None:
    c = compare("AB12345", "AB12345")
    assert c is not None
    assert c.exact
    assert c.score == 1.0
    assert c.reason() == "exact match of the normalised marking"


@pytest.mark.parametrize("cls", CONFUSABLE_CLASSES)
def test_each_confusable_class_is_tolerated_and_named(cls: str) -> None:
    for registered in cls:
        for observed in cls:
            if observed == registered:
                continue
            c = compare(f"X{observed}9", f"X{registered}9")
            assert c is not None, (observed, registered)
            assert not c.exact
            assert c.count("confusable") == 1
            assert f"{observed!r} read for {registered!r} at position 2" in c.reason()


def test_unreadable_positions_match_anything_but_are_never_exact() -> None:
    c = compare("AB?23??", "AB12345")
    assert c is not None
    assert not c.exact
    assert c.count("unreadable") == 3
    assert "position 3 unreadable (registered '1')" in c.reason()
    assert c.score < compare("AB?2345", "AB12345").score  # type: ignore[union-attr]


def test_one_transposition() -> None:
    c = compare("AB13245", "AB12345")
    assert c is not None
    assert c.count("transposition") == 1
    assert "'32' transposed at positions 4-5" in c.reason()


def test_two_transpositions_are_too_many() -> None:
    assert compare("BA13245", "AB12345") is None


def test_transposition_with_a_confusable_and_an_unreadable() -> None:
    c = compare("A8?3245", "AB12345")
    assert c is not None
    assert (c.count("confusable"), c.count("unreadable"), c.count("transposition")) == (1, 1, 1)


def test_other_characters_are_refused_unless_allowed() -> None:
    assert compare("AX12345", "AB12345") is None
    c = compare("AX12345", "AB12345", max_substitutions=1)
    assert c is not None
    assert c.count("substitution") == 1
    assert compare("AX1234X", "AB12345", max_substitutions=1) is None


def test_length_must_agree() -> None:
    assert compare("AB1234", "AB12345") is None


def test_scores_order_by_evidence() -> None:
    exact = compare("AB12345", "AB12345")
    confusable = compare("A812345", "AB12345")
    unreadable = compare("A?12345", "AB12345")
    swapped = compare("BA12345", "AB12345")
    misread = compare("AX12345", "AB12345", max_substitutions=1)
    scores = [x.score for x in (exact, confusable, unreadable, swapped, misread)]  # type: ignore[union-attr]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) == len(scores)
