"""What a request must contain (ITI 17, REQ-25): each missing piece is refused naming its field; missing
recovery circumstances, make or model only warn."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from typing import Any

import pytest

from registry.errors import InvalidCountry, ValidationError
from tests.tracing.requests.conftest import complete_input
from tracing.requests.errors import IncompleteRequest
from tracing.requests.inputs import REQUIRED, ObservedMarking, check_complete, check_draft


def values(**overrides: Any) -> dict[str, Any]:
    data = check_draft(complete_input(), home_country="KE")
    out = dataclasses.asdict(data)
    out["markings"] = [m.as_dict() for m in data.markings]
    out["poc_name"], out["poc_contact"] = "PoC Kenya", "poc@ke.example"
    out.update(overrides)
    return out


def test_a_complete_request_passes_without_warnings() -> None:
    assert check_complete(values()) == []


@pytest.mark.parametrize("fld", [f for f, _why in REQUIRED])
def test_each_required_field_is_named_when_missing(fld: str) -> None:
    empty: Any = [] if fld == "markings" else ""
    extra = {"intended_use_code": None} if fld == "intended_use" else {}
    with pytest.raises(IncompleteRequest) as err:
        check_complete(values(**{fld: empty}, **extra))
    assert err.value.field == fld
    assert err.value.details["missing"] == [fld]
    assert "ITI" in err.value.message


def test_all_missing_fields_are_listed() -> None:
    with pytest.raises(IncompleteRequest) as err:
        check_complete(values(illicit_nature="", calibre="", intended_use="", intended_use_code=None))
    assert err.value.field == "illicit_nature"
    assert err.value.details["missing"] == ["illicit_nature", "calibre", "intended_use"]
    assert "also missing: calibre, intended_use" in err.value.message


def test_a_marking_needs_its_position() -> None:
    with pytest.raises(IncompleteRequest) as err:
        check_complete(values(markings=[{"text": "AB?2345"}]))
    assert err.value.field == "markings[0].position"


def test_intended_use_as_a_code_is_enough() -> None:
    assert check_complete(values(intended_use="")) == []


def test_missing_recovery_make_and_model_only_warn() -> None:
    warnings = check_complete(
        values(recovery_kind=None, recovered_on=None, recovery_place=None, make=None, model=None)
    )
    assert {w.field for w in warnings} == {"recovery_kind", "recovered_on", "recovery_place", "make", "model"}


@pytest.mark.parametrize(
    ("overrides", "fld"),
    [
        ({"requested_country": "KE"}, "requested_country"),
        ({"case_reference": "  "}, "case_reference"),
        ({"urgency": "yesterday"}, "urgency"),
        ({"confidentiality": "public"}, "confidentiality"),
        ({"recovery_kind": "bought"}, "recovery_kind"),
        ({"intended_use_code": "curiosity"}, "intended_use_code"),
        ({"recovered_on": date.today() + timedelta(days=2)}, "recovered_on"),
        ({"markings": [ObservedMarking(text="", position="frame")]}, "markings[0].text"),
        ({"markings": [ObservedMarking(text="ok", position="frame"), ObservedMarking(text="?? -", position="barrel")]}, "markings[1].text"),
        ({"illicit_nature": "x" * 5000}, "illicit_nature"),
    ],
)  # fmt: skip
def test_draft_errors_name_the_field(overrides: dict[str, Any], fld: str) -> None:
    with pytest.raises(ValidationError) as err:
        check_draft(complete_input(**overrides), home_country="KE")
    assert err.value.field == fld


def test_an_unknown_country_is_named() -> None:
    with pytest.raises(InvalidCountry) as err:
        check_draft(complete_input(requested_country="Atlantis"), home_country="KE")
    assert err.value.field == "requested_country"


def test_country_codes_are_normalised() -> None:
    assert check_draft(complete_input(requested_country="uga"), home_country="KE").requested_country == "UG"
