"""Marking rules (ITI 7, 8, 10; Protocol 5; profiles), as pure functions over a catalogue built in memory."""

from __future__ import annotations

import dataclasses

import pytest

from registry.errors import InvalidCountry, MarkingRuleViolation, UnknownReference, ValidationError
from registry.markings import rules
from registry.markings.rules import MarkingInput
from registry.profiles import EU, ITI, US
from registry.reference import catalogue as shipped
from registry.reference.models import ComponentKindRef
from registry.reference.service import Catalogue


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    cat = Catalogue()
    for k in shipped.load_component_kinds():
        cat.component_kinds[k.code] = ComponentKindRef(
            code=k.code, name=k.name, is_primary=k.primary, essential=k.essential
        )
    return cat


def mark(**overrides: object) -> MarkingInput:
    values: dict[str, object] = {
        "text": "GLOCK AUSTRIA ABC123",
        "manufacturer": "GLOCK",
        "country": "AT",
        "serial": "ABC123",
        "year": 2020,
    }
    values.update(overrides)
    return MarkingInput(**values)  # type: ignore[arg-type]


def check(m: MarkingInput, catalogue: Catalogue, profile=ITI) -> set[str]:
    rules.normalise(m, catalogue=catalogue)
    return {w.code for w in rules.check(m, profile=profile, catalogue=catalogue)}


# --- normalise ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["AT", "at", "AUT", "040"])
def test_countries_are_normalised_to_alpha2(catalogue: Catalogue, typed: str) -> None:
    m = rules.normalise(mark(country=typed, transferring_state=typed), catalogue=catalogue)
    assert (m.country, m.transferring_state) == ("AT", "AT")


def test_unknown_country_is_refused_naming_the_field(catalogue: Catalogue) -> None:
    with pytest.raises(InvalidCountry) as exc:
        rules.normalise(mark(country="Austria"), catalogue=catalogue, prefix="markings[2]")
    assert exc.value.field == "markings[2].country"


@pytest.mark.parametrize(
    ("fld", "value"), [("kind", "laser_etched"), ("method", "chisel"), ("condition", "rusty")]
)
def test_codes_outside_their_lists_are_refused(catalogue: Catalogue, fld: str, value: str) -> None:
    with pytest.raises(ValidationError, match=value) as exc:
        rules.normalise(mark(**{fld: value}), catalogue=catalogue)
    assert exc.value.field == f"marking.{fld}"


def test_unknown_component_is_refused(catalogue: Catalogue) -> None:
    with pytest.raises(UnknownReference) as exc:
        rules.normalise(mark(component="grip"), catalogue=catalogue)
    assert exc.value.field == "marking.component"


def test_mark_text_is_required(catalogue: Catalogue) -> None:
    with pytest.raises(ValidationError) as exc:
        rules.normalise(mark(text="   "), catalogue=catalogue)
    assert exc.value.field == "marking.text"


@pytest.mark.parametrize("year", [1200, 3000])
def test_implausible_year_is_refused(catalogue: Catalogue, year: int) -> None:
    with pytest.raises(ValidationError) as exc:
        rules.normalise(mark(year=year), catalogue=catalogue)
    assert exc.value.field == "marking.year"


# --- REQ-05: the manufacture mark -----------------------------------------------------------------------


def test_complete_manufacture_mark_passes_without_warnings(catalogue: Catalogue) -> None:
    assert check(mark(), catalogue) == set()


def test_all_missing_elements_are_listed(catalogue: Catalogue) -> None:
    with pytest.raises(MarkingRuleViolation) as exc:
        check(mark(manufacturer=None, country=None, serial=None), catalogue)
    assert exc.value.field == "marking.manufacturer"
    assert exc.value.details["missing"] == ["manufacturer", "country", "serial"]


def test_remarking_is_held_to_the_same_elements(catalogue: Catalogue) -> None:
    with pytest.raises(MarkingRuleViolation) as exc:
        check(mark(kind="remarking", country=None), catalogue)
    assert exc.value.field == "marking.country"


def test_alternative_scheme_needs_symbol_code_and_country_but_no_maker(catalogue: Catalogue) -> None:
    assert check(mark(manufacturer=None, scheme_symbol="star-10", serial="10 0042"), catalogue) == set()
    with pytest.raises(MarkingRuleViolation) as exc:
        check(mark(manufacturer=None, scheme_symbol="star-10", serial=None), catalogue)
    assert exc.value.field == "marking.serial"
    with pytest.raises(MarkingRuleViolation) as exc:
        check(mark(manufacturer=None, scheme_symbol="star-10", country=None), catalogue)
    assert exc.value.field == "marking.country"


def test_missing_year_warns_under_iti_and_is_refused_under_eu(catalogue: Catalogue) -> None:
    assert check(mark(year=None), catalogue) == {"year_missing"}
    with pytest.raises(MarkingRuleViolation, match="eu profile") as exc:
        check(mark(year=None), catalogue, EU)
    assert exc.value.field == "marking.year"


# --- other kinds of marks -------------------------------------------------------------------------------


def test_import_mark_needs_the_country_of_import(catalogue: Catalogue) -> None:
    with pytest.raises(MarkingRuleViolation) as exc:
        check(MarkingInput(text="IMP 2021", kind="import", year=2021), catalogue)
    assert exc.value.field == "marking.country"
    assert check(MarkingInput(text="IMP KE", kind="import", country="KEN"), catalogue) == {
        "import_year_missing"
    }


def test_import_mark_needs_no_maker_or_serial(catalogue: Catalogue) -> None:
    assert check(MarkingInput(text="IMP KE 21", kind="import", country="KE", year=2021), catalogue) == set()


def test_state_transfer_mark_names_the_transferring_state(catalogue: Catalogue) -> None:
    with pytest.raises(MarkingRuleViolation) as exc:
        check(MarkingInput(text="GOV", kind="state_transfer"), catalogue)
    assert exc.value.field == "marking.transferring_state"
    assert (
        check(MarkingInput(text="GOV KE", kind="state_transfer", transferring_state="KE"), catalogue) == set()
    )


# --- REQ-11 and REQ-14: quality and condition -----------------------------------------------------------


@pytest.mark.parametrize("flag", ["exposed_surface", "conspicuous", "readable", "durable", "recoverable"])
def test_a_no_on_the_unique_mark_is_flagged(catalogue: Catalogue, flag: str) -> None:
    m = mark(**{flag: False})
    rules.normalise(m, catalogue=catalogue)
    warnings = rules.check(m, profile=ITI, catalogue=catalogue)
    assert [(w.code, w.field) for w in warnings] == [("mark_quality", f"marking.{flag}")]


def test_quality_flags_of_secondary_kinds_are_not_flagged(catalogue: Catalogue) -> None:
    assert check(MarkingInput(text="PROOF", kind="proof", readable=False, durable=False), catalogue) == set()


@pytest.mark.parametrize(
    ("condition", "flagged"), [("altered", True), ("obliterated", True), ("missing", False)]
)
def test_altered_or_obliterated_marks_go_to_criminal_referral(
    catalogue: Catalogue, condition: str, flagged: bool
) -> None:
    assert ("mark_tampered" in check(mark(condition=condition), catalogue)) is flagged


# --- REQ-12: which mark identifies the weapon -----------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "unique"),
    [
        ({}, True),
        ({"component": "receiver"}, True),
        ({"component": "upper_receiver"}, True),
        ({"component": "embedded_plate"}, True),
        ({"kind": "remarking"}, True),
        ({"component": "barrel"}, False),
        ({"component": "slide"}, False),
        ({"component": "cylinder"}, False),
        ({"component": "breech_block"}, False),
        ({"serial": None}, False),
        ({"readable": False}, False),
        ({"condition": "obliterated"}, False),
        ({"condition": "altered"}, False),
        ({"kind": "import"}, False),
        ({"kind": "proof"}, False),
    ],
)
def test_unique_mark_is_a_legible_serial_on_the_frame_or_receiver(
    catalogue: Catalogue, overrides: dict, unique: bool
) -> None:
    assert rules.is_unique_mark(mark(**overrides), catalogue) is unique


# --- REQ-44: serials ------------------------------------------------------------------------------------


@pytest.mark.parametrize("serial", ["AB-12", "12", "a1", "X-1-Y"])
def test_us_serials_of_letters_digits_and_hyphens_pass(serial: str) -> None:
    rules.check_serial(serial, profile=US, field="serial")


@pytest.mark.parametrize("serial", ["AB_12", "ABCD", "AB 12", "AB.12", "ÅB12", "АB12", "AB12\n", "----"])
def test_us_serials_outside_the_rule_are_refused(serial: str) -> None:
    with pytest.raises((MarkingRuleViolation, ValidationError)) as exc:
        rules.check_serial(serial, profile=US, field="serial")
    assert exc.value.field == "serial"


@pytest.mark.parametrize("serial", ["AB_12", "ABCD", "№ 17/3"])
def test_iti_accepts_any_serial_with_a_letter_or_digit(serial: str) -> None:
    rules.check_serial(serial, profile=ITI, field="serial")


@pytest.mark.parametrize("serial", ["", "---", " / "])
def test_a_serial_needs_a_letter_or_digit(serial: str) -> None:
    with pytest.raises(ValidationError, match="no letters or digits"):
        rules.check_serial(serial, profile=ITI, field="serial")


def test_serial_rule_comes_from_the_profile_not_the_country() -> None:
    strict = dataclasses.replace(ITI, serial_pattern=US.serial_pattern, serial_pattern_text="US-like")
    with pytest.raises(MarkingRuleViolation, match="US-like"):
        rules.check_serial("ABCD", profile=strict, field="serial")
