"""Registering a weapon: ITI sections II and III and the node's profile (REQ-01, 05-08, 12, 13, 17, 18, 40, 44)."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.audit.models import AuditEntry
from registry.codes import Status
from registry.errors import (
    DuplicateMarking,
    MarkingRuleViolation,
    OutOfScope,
    UnknownReference,
    ValidationError,
)
from registry.history.inputs import EventInput
from registry.profiles import EU, ITI, US
from registry.weapons import service as weapons
from tests.factories import (
    HOME,
    import_marking,
    manufacture_marking,
    record,
    register_weapon,
    remarking,
    unique_serial,
    weapon_input,
)


def codes(warnings: list) -> set[str]:
    return {w.code for w in warnings}


# --- the happy path -------------------------------------------------------------------------------------


def test_imported_weapon_is_registered_with_marks_first_event_and_audit_entry(session: Session) -> None:
    serial = unique_serial()
    reg = register_weapon(session, imported=True, serial=serial)

    assert reg.warnings == []
    assert reg.weapon.manufacturer_code == "GLOCK"
    assert reg.weapon.country_of_manufacture == "AT"
    assert reg.weapon.calibre == "9x19"
    assert reg.weapon.serial == serial
    assert reg.weapon.uniqueness_key == f"GLOCK|AT|{serial}"
    assert reg.state.status == Status.ACTIVE
    assert reg.state.country == HOME
    assert reg.state.pending_marking is False
    assert (reg.event.seq, reg.event.type) == (1, "imported")
    assert sorted(m.kind for m in reg.markings) == ["import", "manufacture"]
    entries = session.execute(
        select(AuditEntry).where(AuditEntry.subject == f"weapon:{reg.weapon.id}")
    ).scalars()
    assert [e.action for e in entries] == ["weapon.registered"]


def test_manufactured_weapon_is_active_in_the_home_country(session: Session) -> None:
    reg = register_weapon(session, manufactured=True)
    assert reg.state.status == Status.ACTIVE
    assert reg.state.country == HOME


# --- REQ-06: encouraged fields warn, never refuse -------------------------------------------------------


def test_off_table_make_and_calibre_are_recorded_as_written_with_warnings(session: Session) -> None:
    serial = unique_serial()
    reg = register_weapon(
        session,
        serial=serial,
        weapon=weapon_input(
            make="Acme Arms Works", model="X1", calibre="13 mm Gyrojet", country_of_manufacture="ZA"
        ),
        markings=[
            manufacture_marking(serial, text=f"ACME ZA {serial}", manufacturer="ACME", country="ZA"),
            import_marking(),
        ],
    )
    assert codes(reg.warnings) == {"make_off_table", "calibre_off_table"}
    assert {w.field for w in reg.warnings} == {"make", "calibre"}
    assert reg.weapon.manufacturer_code is None
    assert reg.weapon.make == "Acme Arms Works"
    assert reg.weapon.calibre == "13 mm Gyrojet"


def test_unknown_model_of_a_known_maker_warns(session: Session) -> None:
    reg = register_weapon(session, weapon=weapon_input(model="17X-Prototype"))
    assert codes(reg.warnings) == {"model_off_table"}
    assert reg.weapon.model == "17X-Prototype"


def test_missing_year_model_and_calibre_only_warn(session: Session) -> None:
    serial = unique_serial()
    reg = register_weapon(
        session,
        serial=serial,
        weapon=weapon_input(model=None, calibre=None, year_of_manufacture=None),
        markings=[manufacture_marking(serial, year=None), import_marking()],
    )
    fields = {(w.code, w.field) for w in reg.warnings}
    assert fields == {
        ("model_missing", "model"),
        ("calibre_missing", "calibre"),
        ("year_missing", "year_of_manufacture"),
        ("year_missing", "markings[0].year"),
    }
    assert reg.state.status == Status.ACTIVE


# --- REQ-01: categories and scope -----------------------------------------------------------------------


def test_unknown_category_is_an_error_naming_the_field(session: Session) -> None:
    with pytest.raises(UnknownReference, match="SA-XYZ") as exc:
        register_weapon(session, weapon=weapon_input(category="SA-XYZ"))
    assert exc.value.field == "category"


@pytest.mark.parametrize("calibre", ["120MM-MOR", "120 mm", "120mm mortar"])
def test_mortar_of_100_mm_or_more_is_out_of_scope(session: Session, calibre: str) -> None:
    with pytest.raises(OutOfScope, match="120 mm") as exc:
        register_weapon(
            session, weapon=weapon_input(category="LW-MOR", make="UNKNOWN", model=None, calibre=calibre)
        )
    assert exc.value.field == "calibre"


def test_mortar_under_100_mm_is_a_light_weapon(session: Session) -> None:
    reg = register_weapon(
        session, weapon=weapon_input(category="LW-MOR", make="UNKNOWN", model=None, calibre="81 mm")
    )
    assert reg.weapon.calibre == "81MM-MOR"
    assert reg.weapon.category == "LW-MOR"


# --- REQ-05 / REQ-12: the manufacture mark ---------------------------------------------------------------


@pytest.mark.parametrize("missing", ["manufacturer", "country", "serial"])
def test_manufacture_mark_missing_an_element_is_refused_naming_it(session: Session, missing: str) -> None:
    mark = manufacture_marking(**{missing: None})
    with pytest.raises(MarkingRuleViolation, match=f"missing: {missing}") as exc:
        register_weapon(session, manufactured=True, markings=[mark])
    assert exc.value.field == f"markings[0].{missing}"
    assert exc.value.details["missing"] == [missing]


def test_alternative_geometric_symbol_scheme_is_accepted(session: Session) -> None:
    # ITI 8(a): a registered symbol with a code that lets any state identify the country of manufacture.
    mark = manufacture_marking(
        "11-4711", text="⬠ 11 4711", manufacturer=None, country="PL", scheme_symbol="pentagon-11", year=1988
    )
    reg = register_weapon(
        session,
        serial="11-4711",
        weapon=weapon_input(make="FB Radom", model="Beryl", calibre="5.56x45", category="SA-ASR"),
        markings=[mark, import_marking()],
    )
    assert reg.weapon.serial == "11-4711"
    saved = next(m for m in reg.markings if m.kind == "manufacture")
    assert saved.scheme_symbol == "pentagon-11"
    assert saved.manufacturer is None


def test_alternative_scheme_without_country_is_refused(session: Session) -> None:
    mark = manufacture_marking("11-4712", manufacturer=None, country=None, scheme_symbol="pentagon-11")
    with pytest.raises(MarkingRuleViolation, match="country of manufacture") as exc:
        register_weapon(session, markings=[mark, import_marking()])
    assert exc.value.field == "markings[0].country"


@pytest.mark.parametrize("component", ["barrel", "slide", "bolt"])
def test_manufactured_weapon_needs_its_unique_mark_on_the_frame_or_receiver(
    session: Session, component: str
) -> None:
    with pytest.raises(MarkingRuleViolation, match="frame or receiver") as exc:
        register_weapon(session, manufactured=True, markings=[manufacture_marking(component=component)])
    assert exc.value.field == "markings"


@pytest.mark.parametrize("component", ["frame", "receiver", "lower_receiver", "embedded_plate"])
def test_primary_components_carry_the_unique_mark(session: Session, component: str) -> None:
    serial = unique_serial()
    reg = register_weapon(
        session,
        manufactured=True,
        serial=serial,
        markings=[
            manufacture_marking(serial, component=component),
            manufacture_marking(serial, component="barrel"),
        ],
    )
    assert sorted(m.is_primary for m in reg.markings) == [False, True]


def test_import_with_unique_mark_only_on_the_barrel_cannot_complete(session: Session) -> None:
    with pytest.raises(MarkingRuleViolation, match="without a unique mark cannot complete import"):
        register_weapon(session, markings=[manufacture_marking(component="barrel"), import_marking()])


# --- REQ-07: uniqueness -----------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["AB-123-X", "ab123x", "Ab 123 x", "AB123X", " ab-12 3x "])
def test_same_maker_country_and_serial_is_a_duplicate(session: Session, variant: str) -> None:
    first = register_weapon(session, serial="AB123X")
    with pytest.raises(DuplicateMarking, match=str(first.weapon.id)) as exc:
        register_weapon(session, serial=variant)
    assert exc.value.details["existing_weapon_id"] == str(first.weapon.id)
    assert exc.value.field == "serial"


def test_duplicate_is_found_through_a_different_form_of_the_maker_name(session: Session) -> None:
    serial = unique_serial()
    first = register_weapon(session, serial=serial)
    with pytest.raises(DuplicateMarking) as exc:
        register_weapon(session, serial=serial, weapon=weapon_input(make="Glock Ges.m.b.H."))
    assert exc.value.details["existing_weapon_id"] == str(first.weapon.id)


def test_same_serial_from_another_maker_is_not_a_duplicate(session: Session) -> None:
    serial = unique_serial()
    register_weapon(session, serial=serial)
    other = register_weapon(
        session,
        serial=serial,
        weapon=weapon_input(make="Beretta", model="92FS"),
        markings=[
            manufacture_marking(serial, text=f"P. BERETTA {serial}", manufacturer="BERETTA", country="IT"),
            import_marking(),
        ],
    )
    assert other.weapon.uniqueness_key == f"BERETTA|IT|{serial}"


def test_profile_with_model_in_uniqueness_allows_same_serial_with_another_model(session: Session) -> None:
    by_model = dataclasses.replace(ITI, name="by-model", uniqueness_includes_model=True)
    serial = unique_serial()
    first = register_weapon(session, serial=serial, profile=by_model)
    second = register_weapon(session, serial=serial, profile=by_model, weapon=weapon_input(model="19"))
    assert first.weapon.id != second.weapon.id
    with pytest.raises(DuplicateMarking) as exc:
        register_weapon(session, serial=serial, profile=by_model, weapon=weapon_input(model="19"))
    assert exc.value.details["existing_weapon_id"] == str(second.weapon.id)


# --- profiles -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("serial", ["AB_12", "ABCD", "AB 12", "ÅB12", "AB12\n"])
def test_us_profile_refuses_serials_outside_letters_digits_hyphens(session: Session, serial: str) -> None:
    with pytest.raises(MarkingRuleViolation, match="us profile") as exc:
        register_weapon(session, serial=serial, profile=US)
    assert exc.value.field is not None
    assert exc.value.field.endswith("serial")


def test_us_profile_accepts_a_serial_with_hyphen_and_digit(session: Session) -> None:
    reg = register_weapon(session, serial=f"AB-{unique_serial('')}", profile=US)
    assert reg.state.status == Status.ACTIVE


def test_us_profile_requires_the_model(session: Session) -> None:
    with pytest.raises(ValidationError, match="requires the model") as exc:
        register_weapon(session, profile=US, weapon=weapon_input(model=None))
    assert exc.value.field == "model"


def test_eu_profile_requires_the_year_in_the_mark(session: Session) -> None:
    serial = unique_serial()
    with pytest.raises(MarkingRuleViolation, match="year") as exc:
        register_weapon(
            session,
            profile=EU,
            serial=serial,
            markings=[manufacture_marking(serial, year=None), import_marking()],
        )
    assert exc.value.field == "markings[0].year"
    # The ITI only encourages it.
    reg = register_weapon(
        session,
        profile=ITI,
        serial=serial,
        markings=[manufacture_marking(serial, year=None), import_marking()],
    )
    assert "year_missing" in codes(reg.warnings)


def test_eu_profile_requires_the_mark_carrier_of_a_polymer_frame(session: Session) -> None:
    with pytest.raises(MarkingRuleViolation, match="polymer frame") as exc:
        register_weapon(session, profile=EU, weapon=weapon_input(frame_material="polymer"))
    assert exc.value.field == "mark_carrier"
    reg = register_weapon(
        session, profile=EU, weapon=weapon_input(frame_material="polymer", mark_carrier="steel serial plate")
    )
    assert reg.weapon.mark_carrier == "steel serial plate"


def test_iti_profile_only_warns_about_a_polymer_frame_without_carrier(session: Session) -> None:
    reg = register_weapon(session, profile=ITI, weapon=weapon_input(frame_material="polymer"))
    assert codes(reg.warnings) == {"mark_carrier_missing"}


def test_unknown_frame_material_is_refused(session: Session) -> None:
    with pytest.raises(ValidationError, match="frame_material") as exc:
        register_weapon(session, weapon=weapon_input(frame_material="wood"))
    assert exc.value.field == "frame_material"


# --- REQ-08: import marks -------------------------------------------------------------------------------


def test_permanent_import_without_import_marking_is_refused(session: Session) -> None:
    with pytest.raises(MarkingRuleViolation, match="import marking") as exc:
        register_weapon(session, imported=True, markings=[manufacture_marking()])
    assert exc.value.field == "markings"


def test_import_marking_without_country_is_refused(session: Session) -> None:
    with pytest.raises(MarkingRuleViolation, match="country of import") as exc:
        register_weapon(session, markings=[manufacture_marking(), import_marking(country=None)])  # type: ignore[arg-type]
    assert exc.value.field == "markings[1].country"


def test_import_marking_without_year_warns(session: Session) -> None:
    reg = register_weapon(session, markings=[manufacture_marking(), import_marking(year=None)])
    assert codes(reg.warnings) == {"import_year_missing"}


def test_temporary_import_with_a_lawful_purpose_is_exempt_from_import_marking(session: Session) -> None:
    reg = register_weapon(
        session,
        markings=[manufacture_marking()],
        event=EventInput(type="imported", to_country=HOME, data={"temporary": True, "purpose": "trade fair"}),
    )
    assert reg.state.status == Status.ACTIVE
    assert [m.kind for m in reg.markings] == ["manufacture"]


def test_temporary_import_must_state_its_purpose(session: Session) -> None:
    with pytest.raises(ValidationError, match="purpose") as exc:
        register_weapon(
            session,
            markings=[manufacture_marking()],
            event=EventInput(type="imported", to_country=HOME, data={"temporary": True}),
        )
    assert exc.value.field == "data.purpose"


# --- REQ-13: found weapons without marks ----------------------------------------------------------------


def test_found_weapon_without_marks_is_pending_until_uniquely_marked(session: Session) -> None:
    reg = register_weapon(session, found_unmarked=True)
    assert reg.state.status == Status.RECOVERED
    assert reg.state.pending_marking is True
    assert "pending_marking" in codes(reg.warnings)
    assert reg.weapon.uniqueness_key is None

    done = record(session, reg.weapon.id, EventInput(type="marked"), marking=remarking())
    assert done.state.pending_marking is False
    assert done.marking is not None
    assert done.marking.kind == "remarking"
    assert done.event.data["unique_mark"] is True


def test_a_secondary_mark_does_not_close_the_pending_case(session: Session) -> None:
    reg = register_weapon(session, found_unmarked=True)
    done = record(session, reg.weapon.id, EventInput(type="marked"), marking=remarking(component="barrel"))
    assert done.state.pending_marking is True


def test_destruction_closes_the_pending_case(session: Session) -> None:
    reg = register_weapon(session, found_unmarked=True)
    done = record(session, reg.weapon.id, EventInput(type="destroyed"))
    assert done.state.status == Status.DESTROYED
    assert done.state.pending_marking is False


def test_two_unmarked_weapons_do_not_collide(session: Session) -> None:
    a = register_weapon(session, found_unmarked=True)
    b = register_weapon(session, found_unmarked=True)
    assert a.weapon.id != b.weapon.id


# --- REQ-18: look-up by mark ----------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["ZX-90817", "zx90817", " zx 908-17 "])
def test_find_by_mark_finds_by_serial_ignoring_case_spaces_and_punctuation(
    session: Session, typed: str
) -> None:
    reg = register_weapon(session, serial="ZX90817")
    found = weapons.find_by_mark(session, typed)
    assert [w.id for w, _state in found] == [reg.weapon.id]


def test_find_by_mark_finds_by_any_marking_text(session: Session) -> None:
    serial = unique_serial()
    reg = register_weapon(
        session, serial=serial, markings=[manufacture_marking(serial), import_marking(text="KE-NPS 2021/77")]
    )
    found = weapons.find_by_mark(session, "ke nps 2021 77")
    assert [w.id for w, _state in found] == [reg.weapon.id]
    assert found[0][1].status == Status.ACTIVE


def test_find_by_mark_finds_a_remarked_weapon_by_its_new_serial(session: Session) -> None:
    reg = register_weapon(session, found_unmarked=True)
    record(session, reg.weapon.id, EventInput(type="marked"), marking=remarking("KE-2024-000123"))
    found = weapons.find_by_mark(session, "ke2024000123")
    assert [w.id for w, _state in found] == [reg.weapon.id]


def test_find_by_mark_returns_nothing_for_an_unknown_mark(session: Session) -> None:
    register_weapon(session)
    assert weapons.find_by_mark(session, unique_serial("NOPE")) == []


def test_find_by_mark_refuses_text_without_letters_or_digits(session: Session) -> None:
    with pytest.raises(ValidationError) as exc:
        weapons.find_by_mark(session, " -/- ")
    assert exc.value.field == "serial"
