"""Candidates from the registry: exact, each tolerance, ranking, anchors, and no whole-table scans."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from registry.errors import ValidationError
from tests.factories import manufacture_marking, register_weapon
from tracing.matching import service as matcher
from tracing.matching.skeleton import SKELETON_ALPHABET, skeleton


def _register(session: Session, serial: str) -> str:
    return str(register_weapon(session, serial=serial).weapon.id)


def _ids(cands: list[matcher.Candidate]) -> list[str]:
    return [str(c.weapon_id) for c in cands]


def test_exact_match_ranks_first_and_is_the_only_exact(session: Session) -> None:
    target = _register(session, "AB12345")
    near = _register(session, "A812345")  # a confusable neighbour is also a candidate, below
    cands = matcher.find_candidates(session, observed="ab-12345")
    assert _ids(cands)[:2] == [target, near]
    assert cands[0].exact
    assert cands[0].score == 1.0
    assert cands[0].method == "exact"
    assert not cands[1].exact
    assert cands[1].score < 1.0
    assert "'B' read for '8' at position 2" in cands[1].reason


@pytest.mark.parametrize(
    ("registered", "observed"),
    [("X0Y", "XOY"), ("XDY", "XQY"), ("X1Y", "X7Y"), ("XIY", "XLY"), ("X2Y", "XZY"), ("X5Y", "XSY"),
     ("X6Y", "XGY"), ("X8Y", "XBY")],
)  # fmt: skip
def test_each_confusable_class_finds_the_weapon(session: Session, registered: str, observed: str) -> None:
    target = _register(session, f"RR{registered}4455")
    cands = matcher.find_candidates(session, observed=f"RR{observed}4455")
    assert _ids(cands) == [target]
    assert not cands[0].exact
    assert cands[0].method == "probe"


def test_unreadable_positions(session: Session) -> None:
    target = _register(session, "KE2024X9981")
    _register(session, "KE2024X9971")  # also fits the pattern: both come back, closest first
    cands = matcher.find_candidates(session, observed="KE2024X99?1")
    assert set(_ids(cands)) >= {target}
    assert len(cands) == 2
    assert all("unreadable" in c.reason for c in cands)


def test_two_unreadable_a_confusable_and_a_transposition_together(session: Session) -> None:
    target = _register(session, "GL0CK55821")
    cands = matcher.find_candidates(session, observed="GLOKC5?8?1")  # C/K swapped, 0 read O, two unreadable
    assert _ids(cands) == [target]
    reason = cands[0].reason
    assert "transposed" in reason
    assert "unreadable" in reason
    assert "'O' read for '0'" in reason


def test_a_mark_text_is_matched_too(session: Session) -> None:
    reg = register_weapon(
        session, markings=[manufacture_marking("SN12", text="GLOCK AUSTRIA SN12 2020")], manufactured=True
    )
    cands = matcher.find_candidates(session, observed="GL0CK AUSTRIA SN12 2O2?")
    assert _ids(cands) == [str(reg.weapon.id)]
    assert "text of a mark" in cands[0].reason


def test_ranking_prefers_fewer_and_cheaper_differences(session: Session) -> None:
    a = _register(session, "PQ1234567")
    b = _register(session, "PQ1234561")  # differs at the end: the '?' covers it but the 7 → 1 does not
    c = _register(session, "P01234567")  # Q/0 confusable with the observed Q
    cands = matcher.find_candidates(session, observed="PQ123456?")
    assert _ids(cands)[0] == a
    assert set(_ids(cands)) == {a, b, c}
    assert [x.score for x in cands] == sorted((x.score for x in cands), reverse=True)


def test_anchors_find_a_misreading_outside_the_classes(session: Session) -> None:
    target = _register(session, "MZ4481762")
    cands = matcher.find_candidates(session, observed="MZ4481X62")  # X is not a look-alike of 7
    assert _ids(cands) == [target]
    assert cands[0].method == "anchor"
    assert "differs" in cands[0].reason


def test_many_unreadable_fall_back_to_anchors(session: Session) -> None:
    target = _register(session, "HK77123456")
    cands = matcher.find_candidates(session, observed="HK77????56")
    assert _ids(cands) == [target]


def test_nothing_found_is_an_empty_list(session: Session) -> None:
    _register(session, "AB12345")
    assert matcher.find_candidates(session, observed="ZZZZ9999") == []


def test_an_observation_without_characters_is_refused() -> None:
    with pytest.raises(ValidationError) as err:
        matcher.Query.parse("  ?-- ", field="markings[0].text")
    assert err.value.field == "markings[0].text"


def test_probe_budget() -> None:
    two = matcher.probe_patterns(skeleton("AB??5678"))
    assert len(two) <= matcher.MAX_PROBES
    assert "A8005618" in two  # a fill of both holes
    assert "8A005618" in two  # with a transposition
    assert len(matcher.probe_patterns("A????5")) == 0  # 26^4 > budget: anchors only
    assert len(SKELETON_ALPHABET) == 26


def test_retrieval_uses_the_index_not_a_scan(session: Session) -> None:
    """Every statement the matcher sends names the length and the skeleton (index columns), never a
    bare scan of the table."""
    _register(session, "AB12345")
    seen: list[str] = []
    conn = session.connection()

    def capture(_c: object, _cur: object, statement: str, *_a: object) -> None:
        seen.append(statement)

    event.listen(conn, "before_cursor_execute", capture)
    try:
        matcher.find_candidates(session, observed="A?12345")
        matcher.find_candidates(session, observed="XX????45")
    finally:
        event.remove(conn, "before_cursor_execute", capture)
    queries = [s for s in seen if "serial_skeletons" in s]
    assert queries
    assert all("skel_len =" in s and ("skeleton" in s) for s in queries)
    if session.get_bind().dialect.name == "sqlite":
        plan = (
            session.connection()
            .exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT weapon_id FROM serial_skeletons WHERE skel_len = 7 AND skeleton >= 'A' AND skeleton < 'B'"
            )
            .all()
        )
        assert any("USING INDEX ix_serial_skeletons_len_skeleton" in str(r) for r in plan)


def test_an_unreadable_character_at_either_end_is_an_index_range() -> None:
    end = matcher.plan(skeleton("AB1234567?"))
    assert "A81234561" in end.prefixes  # the readable prefix before the last position
    # Only the transposition that moves the `?` one place inward is probed: its 26 fillings.
    assert len(end.exact) == 26
    assert all(e.startswith("A8123456") and e.endswith("1") for e in end.exact)
    start = matcher.plan(skeleton("?B12345678"))
    assert "812345618" in start.suffixes
    assert len(start.exact) == 26
    middle = matcher.plan(skeleton("AB12?45678"))
    assert middle.prefixes == []
    assert len(middle.exact) > 26
    assert end.lookups < middle.lookups / 5


def test_a_range_never_leaves_a_character_free() -> None:
    # A `?` one place from either end is probed, not a range that would also fetch every first (last)
    # character: 26 times the rows, which at 10,000,000 weapons overflowed the range's row limit.
    for observed in ("A?12345678", "AB123456?8", "?B1234567?", "A?1234567?"):
        p = matcher.plan(skeleton(observed))
        assert all(len(r) == len(observed) - 1 for r in [*p.prefixes, *p.suffixes]), observed
    second = matcher.plan(skeleton("A?12345678"))
    assert "A?12345618".replace("?", "0") in second.exact  # its 26 fillings are probed
    assert second.suffixes == ["A12345618"]  # only the variant with A and ? swapped: `?` first


def test_weapons_are_found_through_the_ranges(session: Session) -> None:
    last = _register(session, "QR55012349")
    first = _register(session, "ST77012348")
    found_last = matcher.find_candidates(session, observed="QR5S01234?")  # S for 5, last unreadable
    assert _ids(found_last) == [last]
    found_first = matcher.find_candidates(session, observed="?T77012384")  # first unreadable, 8/4 swapped
    assert _ids(found_first) == [first]
    assert "transposed" in found_first[0].reason
    if session.get_bind().dialect.name == "sqlite":
        plan = (
            session.connection()
            .exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT weapon_id FROM serial_skeletons WHERE skel_len = ? "
                "AND skeleton >= ? AND skeleton < ?",
                (10, "A", "B"),
            )
            .all()
        )
        assert any("(skel_len=? AND skeleton>? AND skeleton<?)" in str(r) for r in plan)
