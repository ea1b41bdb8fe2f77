"""The reference CSV files: well-formed, consistent, and covering the ITI definition (REQ-01, REQ-12, REQ-17,
REQ-41)."""

from __future__ import annotations

import csv
import re
from importlib import resources

import pytest

from registry.reference.catalogue import (
    CALIBRE_KINDS,
    Calibre,
    Category,
    ComponentKind,
    Manufacturer,
    calibre_key,
    load_calibres,
    load_categories,
    load_component_kinds,
    load_manufacturers,
    normalise_calibre,
)
from registry.reference.countries import normalise_country

DATA = resources.files("registry.reference").joinpath("data")

HEADERS = {
    "categories.csv": ["code", "name", "group", "description", "max_calibre_mm"],
    "manufacturers.csv": ["code", "name", "country", "mark_forms", "serial_pattern", "notes"],
    "calibres.csv": ["code", "name", "aliases", "bore_mm", "kind"],
    "component_kinds.csv": ["code", "name", "primary", "essential"],
}

# The ITI definition of small arms and light weapons (ITI section II, REQ-01), written here independently of
# the CSV: (code the registry uses, group, a word the category's name must contain).
ITI_CATEGORIES = [
    ("SA-REV", "small_arm", "revolver"),
    ("SA-PIS", "small_arm", "self-loading pistol"),
    ("SA-RIF", "small_arm", "rifle"),
    ("SA-CAR", "small_arm", "carbine"),
    ("SA-SMG", "small_arm", "sub-machine gun"),
    ("SA-ASR", "small_arm", "assault rifle"),
    ("SA-LMG", "small_arm", "light machine gun"),
    ("LW-HMG", "light_weapon", "heavy machine gun"),
    ("LW-UGL", "light_weapon", "under-barrel grenade launcher"),
    ("LW-MGL", "light_weapon", "mounted grenade launcher"),
    ("LW-AAG", "light_weapon", "anti-aircraft gun"),
    ("LW-ATG", "light_weapon", "anti-tank gun"),
    ("LW-RCL", "light_weapon", "recoilless rifle"),
    ("LW-ATL", "light_weapon", "anti-tank missile and rocket"),
    ("LW-AAL", "light_weapon", "anti-aircraft missile"),
    ("LW-MOR", "light_weapon", "mortar"),
]


def _raw_rows(name: str) -> list[list[str]]:
    text = DATA.joinpath(name).read_text(encoding="utf-8")
    return list(csv.reader(text.splitlines(), strict=True))


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_files_are_well_formed_utf8_csv(name: str) -> None:
    raw = DATA.joinpath(name).read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), "no byte-order mark"
    raw.decode("utf-8")
    rows = _raw_rows(name)
    assert rows[0] == HEADERS[name]
    assert len(rows) > 1
    for number, row in enumerate(rows[1:], start=2):
        assert len(row) == len(HEADERS[name]), f"{name}:{number} has {len(row)} fields"
        assert all(value == value.strip() for value in row), f"{name}:{number} has padded values"


@pytest.mark.parametrize(
    ("loader", "kind"),
    [
        (load_categories, Category),
        (load_manufacturers, Manufacturer),
        (load_calibres, Calibre),
        (load_component_kinds, ComponentKind),
    ],
)
def test_loaders_return_frozen_dataclasses_with_unique_codes(loader, kind) -> None:
    items = loader()
    assert items
    assert all(isinstance(item, kind) for item in items)
    codes = [item.code for item in items]
    assert len(codes) == len(set(codes))
    assert all(item.name for item in items)
    with pytest.raises(AttributeError):
        items[0].code = "changed"
    # cached data, but each call hands out its own list
    items.clear()
    assert loader()


def test_every_iti_category_is_present() -> None:
    by_code = {category.code: category for category in load_categories()}
    for code, group, words in ITI_CATEGORIES:
        assert code in by_code, f"ITI category {words!r} ({code}) missing"
        assert by_code[code].group == group
        assert words in by_code[code].name.lower()


def test_category_groups_codes_and_mortar_limit() -> None:
    categories = load_categories()
    for category in categories:
        assert category.group in {"small_arm", "light_weapon"}
        prefix = "SA-" if category.group == "small_arm" else "LW-"
        assert category.code.startswith(prefix)
        assert re.fullmatch(r"[A-Z]{2}-[A-Z]{3}", category.code)
        assert category.description
    limited = {category.code: category.max_calibre_mm for category in categories if category.max_calibre_mm}
    assert limited == {"LW-MOR": 100}
    mortar = next(category for category in categories if category.code == "LW-MOR")
    assert mortar.calibre_in_scope(82)
    assert mortar.calibre_in_scope(99.9)
    assert not mortar.calibre_in_scope(100)
    assert not mortar.calibre_in_scope(120)


def test_mortar_calibres_exercise_the_scope_rule() -> None:
    mortar = next(category for category in load_categories() if category.code == "LW-MOR")
    bores = {c.code: c.bore_mm for c in load_calibres() if c.kind == "mortar"}
    assert any(mortar.calibre_in_scope(bore) for bore in bores.values())
    assert any(not mortar.calibre_in_scope(bore) for bore in bores.values()), "keep a >= 100 mm mortar"


def test_manufacturers() -> None:
    manufacturers = load_manufacturers()
    assert len(manufacturers) >= 40
    countries = set()
    for maker in manufacturers:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", maker.code)
        assert normalise_country(maker.country) == maker.country
        countries.add(maker.country)
        assert maker.mark_forms
        assert all(form and form == form.strip() for form in maker.mark_forms)
        if maker.serial_pattern is not None:
            re.compile(maker.serial_pattern)
    assert len(countries) >= 25, "manufacturers from many regions"


def test_raw_manufacturer_countries_and_patterns() -> None:
    for row in _raw_rows("manufacturers.csv")[1:]:
        code, _name, country, _forms, pattern, _notes = row
        assert country == country.upper()
        assert normalise_country(country, field="manufacturers.country") == country, code
        if pattern:
            re.compile(pattern)


def test_serial_plausibility_is_advisory() -> None:
    makers = {maker.code: maker for maker in load_manufacturers()}
    assert makers["GLOCK"].serial_plausible("ABC123") is True
    assert makers["GLOCK"].serial_plausible("123") is False
    assert makers["HK"].serial_plausible("anything") is None


def test_calibres() -> None:
    calibres = load_calibres()
    assert len(calibres) >= 50
    kinds = {calibre.kind for calibre in calibres}
    assert kinds <= CALIBRE_KINDS
    assert {"pistol", "rifle", "shotgun", "heavy_machine_gun", "grenade", "mortar", "recoilless"} <= kinds
    for calibre in calibres:
        assert calibre.bore_mm > 0
        assert all(alias and alias == alias.strip() for alias in calibre.aliases)
        assert normalise_calibre(calibre.code) == calibre.code
        for alias in calibre.aliases:
            assert normalise_calibre(alias) == calibre.code, alias


def test_calibre_forms_are_unambiguous() -> None:
    owner: dict[str, str] = {}
    for calibre in load_calibres():
        for form in (calibre.code, *calibre.aliases):
            key = calibre_key(form)
            assert owner.setdefault(key, calibre.code) == calibre.code, f"{form!r} is ambiguous"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("9x19", "9x19"),
        ("9 MM LUGER", "9x19"),
        ("9x19mm", "9x19"),
        ("9mm parabellum", "9x19"),
        (" 9 mm ", "9x19"),
        ("9×19", "9x19"),
        ("5.56 NATO", "5.56x45"),
        ("5,56x45", "5.56x45"),
        ("7.62X39MM", "7.62x39"),
        ("7.62x54r", "7.62x54R"),
        ("12.7x108mm", "12.7x108"),
        (".45 ACP", ".45ACP"),
        ("45acp", ".45ACP"),
        ("22 lr", ".22LR"),
        ("12 ga", "12GA"),
        ("12/70", "12GA"),
        ("410", ".410"),
        (".50 BMG", "12.7x99"),
        ("14.5 mm", "14.5x114"),
        ("40 mm HV", "40x53"),
        ("82mm", "82MM-MOR"),
        ("120 mm", "120MM-MOR"),
        ("RPG-7", "40MM-RPG7"),
        ("84 mm", "84MM-RCL"),
    ],
)
def test_normalise_calibre(text: str, code: str) -> None:
    assert normalise_calibre(text) == code


@pytest.mark.parametrize("text", ["", "   ", "banana", "9x99", "7.62", "40 mm"])
def test_unknown_or_ambiguous_calibre_is_none(text: str) -> None:
    assert normalise_calibre(text) is None


def test_component_kinds() -> None:
    kinds = {kind.code: kind for kind in load_component_kinds()}
    for kind in kinds.values():
        assert isinstance(kind.primary, bool)
        assert isinstance(kind.essential, bool)
    # REQ-12: the unique mark goes on the frame and/or receiver
    for code in ("frame", "receiver", "upper_receiver", "lower_receiver"):
        assert kinds[code].primary
        assert kinds[code].essential
    # REQ-41: essential components whose marks are secondary marks of the weapon
    for code in ("barrel", "slide", "cylinder", "bolt", "breech_block"):
        assert kinds[code].essential
        assert not kinds[code].primary
    # REQ-17: the metal plate in a polymer frame carries the mark
    assert kinds["embedded_plate"].primary
    assert not kinds["other"].primary
    assert not kinds["other"].essential


def test_component_kind_booleans_are_literal() -> None:
    for row in _raw_rows("component_kinds.csv")[1:]:
        assert row[2] in {"true", "false"}
        assert row[3] in {"true", "false"}
