"""The finder's description (make, model, calibre, category) ranks candidates the marking alone cannot
separate, and never adds or removes one."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.factories import register_weapon, weapon_input
from tracing.matching import service as matcher
from tracing.matching.description import Description, Registered


def _register(session: Session, serial: str, **weapon: object) -> str:
    return str(register_weapon(session, serial=serial, weapon=weapon_input(**weapon)).weapon.id)


def _ids(cands: list[matcher.Candidate]) -> list[str]:
    return [str(c.weapon_id) for c in cands]


GLOCK = Registered("GLOCK", "GLOCK", "17", "9x19", "SA-PIS", "AT", 2019)


def test_agreement_compares_each_field_the_way_officers_write_it() -> None:
    bonus, agreed = Description(
        make="Glock GmbH", model="17", calibre="9mm Luger", category="SA-PIS"
    ).agreement(GLOCK)
    assert agreed == ("make", "model", "calibre", "category")
    assert bonus == 0.21
    assert Description(make="glock", model="19").agreement(GLOCK) == (0.10, ("make",))
    assert Description(make="Beretta", calibre="9x19mm").agreement(GLOCK) == (0.04, ("calibre",))
    assert Description(country="at", year=2019).agreement(GLOCK) == (0.04, ("country", "year"))
    # Too short to compare by prefix: "GL" is not the make GLOCK.
    assert Description(make="GL").agreement(GLOCK) == (0.0, ())
    assert not Description()
    assert not Description(make="", model=None)


def test_equally_good_serials_are_ranked_by_the_description(session: Session) -> None:
    # Both fit the reading with one unreadable character, equally well: the serial cannot decide.
    beretta = _register(session, "DS40071X", make="Beretta", model="92FS", calibre="9x19")
    glock = _register(session, "DS40072X", make="Glock", model="17", calibre="9x19")
    plain = matcher.find_candidates(session, observed="DS4007?X")
    assert set(_ids(plain)) == {beretta, glock}
    assert plain[0].score == plain[1].score
    for make, first in (("Glock", glock), ("BERETTA", beretta)):
        cands = matcher.find_candidates(session, observed="DS4007?X", description=Description(make=make))
        assert _ids(cands)[0] == first
        assert set(_ids(cands)) == {beretta, glock}  # reordered, nothing removed
        assert cands[0].agreed == ("make",)
        assert cands[0].score == plain[0].score  # the marking's own score is kept
        assert cands[0].rank_score == round(cands[0].score + 0.10, 4)
        assert cands[0].reason.endswith("; make as described")
        assert cands[1].agreed == ()


def test_the_described_make_outranks_an_exact_serial_of_another_make(session: Session) -> None:
    other = _register(session, "QT55810", make="Beretta", model="92FS")
    described = _register(session, "QT5581O", make="Glock", model="17")  # O read for 0 at the end
    plain = matcher.find_candidates(session, observed="QT55810")
    assert _ids(plain)[:2] == [other, described]
    cands = matcher.find_candidates(
        session, observed="QT55810", description=Description(make="glock", model="17")
    )
    assert _ids(cands)[:2] == [described, other]
    assert cands[1].exact  # still shown, still the exact one
    assert "make and model as described" in cands[0].reason


def test_only_candidates_within_reach_are_read_and_the_limit_holds(session: Session) -> None:
    ids = [_register(session, f"WR9{i}44", make="Glock" if i == 7 else "Taurus") for i in range(10)]
    cands = matcher.find_candidates(
        session, observed="WR9?44", limit=3, description=Description(make="Glock")
    )
    assert len(cands) == 3
    assert _ids(cands)[0] == ids[7]
