from datetime import date

import pytest

from hardware.codes import uii
from hardware.codes.errors import PayloadError
from hardware.codes.uii import UniqueMark

GLOCK = UniqueMark(enterprise="GLOCK", model="17", serial="ABC123", country="AT", year=2024)
EXPECTED = "[)>\x1e06\x1dVGLOCK\x1d1P17\x1dSABC123\x1d4LAT\x1d23D2024\x1e\x04"


def test_compose_gives_the_documented_layout() -> None:
    assert uii.compose(GLOCK) == EXPECTED


def test_parse_gives_back_every_field() -> None:
    assert uii.parse(EXPECTED) == GLOCK
    assert GLOCK.uii == "GLOCK17ABC123"


def test_minimal_and_cage_and_date_forms_round_trip() -> None:
    for mark in (
        UniqueMark(enterprise="0CVA5", serial="786950", enterprise_di="17V", model="1234"),
        UniqueMark(enterprise="FNH", serial="X1", production_date=date(2025, 2, 28)),
    ):
        assert uii.parse(uii.compose(mark)) == mark


def test_parse_accepts_any_element_order() -> None:
    payload = "[)>\x1e06\x1dSABC123\x1d4LAT\x1dVGLOCK\x1e\x04"
    assert uii.parse(payload) == UniqueMark(enterprise="GLOCK", serial="ABC123", country="AT")


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ("VGLOCK\x1dSABC123", "envelope", "must start with '[)>'"),
        ("[)>06VGLOCKSABC123", "envelope", "separators are missing"),
        ("[)>\x1e05\x1d0112345\x1e\x04", "format", "format '05' is not supported"),
        ("[)>\x1e06\x1dVGLOCK\x1dSABC123\x1e", "envelope", "end with RS"),
        ("[)>\x1e06\x1dVGLOCK\x1dSABC123\x1e\x04X", "envelope", "end with RS"),
        ("[)>\x1e06\x1dVGLOCK\x1e\x04[)>\x1e06\x1dSABC\x1e\x04", "envelope", "only one format 06"),
        ("[)>\x1e06\x1dVGLOCK\x1d\x1dSABC123\x1e\x04", None, "empty data element"),
        ("[)>\x1e06\x1dVGLOCK\x1d9KXYZ\x1dSABC123\x1e\x04", "data_identifier", "'9K' is not used"),
        ("[)>\x1e06\x1dVGLOCK\x1dSABC123\x1dS999\x1e\x04", "serial", "given twice"),
        ("[)>\x1e06\x1dVGLOCK\x1dSabc123\x1e\x04", "serial", "contains 'a'"),
        ("[)>\x1e06\x1dVGLOCK\x1dS\x1e\x04", "serial", "is empty"),
        ("[)>\x1e06\x1dVGLOCK\x1e\x04", "serial", "serial is missing"),
        ("[)>\x1e06\x1d1P17\x1dSABC\x1e\x04", "enterprise", "enterprise is missing"),
        ("[)>\x1e06\x1dVGLOCK\x1dSABC\x1d4LXX\x1e\x04", "country", "not an ISO 3166-1 alpha-2"),
        ("[)>\x1e06\x1dVGLOCK\x1dSABC\x1d23D24\x1e\x04", "year", "four digits"),
        ("[)>\x1e06\x1dVGLOCK\x1dSABC\x1d16D20250230\x1e\x04", "production_date", "not a date"),
        ("[)>\x1e06\x1d17VABC\x1dSABC\x1e\x04", "enterprise", "5 characters"),
        ("[)>\x1e06\x1dVGLOCK\x1dS" + "1" * 36 + "\x1e\x04", "serial", "at most 35"),
    ],
)
def test_malformed_payloads_are_refused_by_name(payload: str, field: str | None, words: str) -> None:
    with pytest.raises(PayloadError) as err:
        uii.parse(payload)
    assert err.value.field == field
    assert words in err.value.message


def test_error_gives_the_offset_of_the_bad_character() -> None:
    with pytest.raises(PayloadError) as err:
        uii.parse("[)>\x1e06\x1dVGLOCK\x1dSAB c\x1e\x04")
    assert err.value.position == len("[)>\x1e06\x1dVGLOCK\x1dSAB")


def test_compose_refuses_content_it_could_not_read_back() -> None:
    with pytest.raises(PayloadError, match="contains"):
        uii.compose(UniqueMark(enterprise="GLOCK", serial="AB\x1d12"))
    with pytest.raises(PayloadError, match="enterprise data identifier"):
        uii.compose(UniqueMark(enterprise="GLOCK", serial="1", enterprise_di="1P"))
