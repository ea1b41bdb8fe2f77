"""REQ-16: countries are ISO 3166-1, validated by pycountry, normalised to alpha-2 from any code form."""

from __future__ import annotations

import pytest

from registry.errors import InvalidCountry
from registry.reference.countries import alpha3, country_name, normalise_country, numeric


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("DE", "DE"),
        ("de", "DE"),
        ("De", "DE"),
        ("  de\t", "DE"),
        ("DEU", "DE"),
        ("deu", "DE"),
        (" Deu ", "DE"),
        ("276", "DE"),
        ("040", "AT"),
        ("40", "AT"),
        (" 40 ", "AT"),
        ("AUT", "AT"),
        ("4", "AF"),
        ("004", "AF"),
        ("KEN", "KE"),
        ("404", "KE"),
        ("gb", "GB"),
        ("RS", "RS"),
        ("XK", "XK"),
        ("xk", "XK"),
    ],
)
def test_accepts_alpha2_alpha3_and_numeric(given: str, expected: str) -> None:
    assert normalise_country(given) == expected


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("Germany", "names are not accepted"),
        ("Deutschland", "names are not accepted"),
        ("", "empty"),
        ("   ", "empty"),
        ("X", "not a country code"),
        ("ZZ", "not an assigned"),
        ("QQQ", "not an assigned"),
        ("999", "not an assigned"),
        ("0040", "at most three digits"),
        ("D E", "not a country code"),
        ("DE-BY", "subdivision"),
        ("4.0", "not a country code"),
        ("٤٠", "not a country code"),  # Arabic-Indic digits: not an ISO numeric code
        ("YU", "withdrawn"),
        ("SUN", "withdrawn"),
        ("810", "withdrawn"),
        ("UK", "GB"),
        ("XKX", "not an assigned"),  # only the alpha-2 form of Kosovo's user-assigned code is accepted
    ],
)
def test_rejects_everything_else_naming_the_field(given: str, reason: str) -> None:
    with pytest.raises(InvalidCountry) as caught:
        normalise_country(given, field="import_country")
    error = caught.value
    assert error.field == "import_country"
    assert error.details["value"] == given
    assert error.message.startswith("import_country:")
    assert repr(given) in error.message
    assert reason in error.message
    assert "alpha-2" in error.message
    assert "alpha-3" in error.message
    assert "numeric" in error.message
    assert error.as_dict()["code"] == "invalid_country"


def test_default_field_is_country() -> None:
    with pytest.raises(InvalidCountry) as caught:
        normalise_country("Atlantis")
    assert caught.value.field == "country"


def test_rejects_non_text() -> None:
    with pytest.raises(InvalidCountry) as caught:
        normalise_country(276, field="origin")  # type: ignore[arg-type]
    assert caught.value.field == "origin"


def test_every_pycountry_country_round_trips() -> None:
    import pycountry

    for record in pycountry.countries:
        assert normalise_country(record.alpha_2) == record.alpha_2
        assert normalise_country(record.alpha_3.lower()) == record.alpha_2
        assert normalise_country(record.numeric) == record.alpha_2
        assert normalise_country(str(int(record.numeric))) == record.alpha_2
        assert alpha3(record.alpha_2) == record.alpha_3
        assert numeric(record.alpha_2) == record.numeric


def test_names_and_other_forms() -> None:
    assert country_name("DE") == "Germany"
    assert country_name("at") == "Austria"
    assert alpha3("DE") == "DEU"
    assert numeric("AT") == "040"
    assert numeric("AF") == "004"
    assert country_name("XK") == "Kosovo"


def test_kosovo_has_no_alpha3_or_numeric() -> None:
    with pytest.raises(InvalidCountry):
        alpha3("XK")
    with pytest.raises(InvalidCountry):
        numeric("XK")


def test_lookups_of_unknown_codes_raise() -> None:
    with pytest.raises(InvalidCountry):
        country_name("ZZ")
