"""The skeleton: each confusable class collapses, nothing else does, and the database computes the same."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import manufacture_marking, register_weapon
from tracing.matching import repository as repo
from tracing.matching.models import SerialSkeleton
from tracing.matching.skeleton import (
    CONFUSABLE_CLASSES,
    SKELETON_MAP,
    normalise_observed,
    reversed_tail,
    skeleton,
)

VERSIONS = Path(__file__).parents[3] / "registry/migrations/versions"
# The migrations that write the skeleton function out (0012 recreates the SQLite triggers).
MIGRATIONS = [
    VERSIONS / "2026_11_24_0008_trace_requests.py",
    VERSIONS / "2026_11_25_0012_sqlite_skeleton_once.py",
]


@pytest.mark.parametrize("cls", CONFUSABLE_CLASSES)
def test_every_member_of_a_class_has_the_same_skeleton(cls: str) -> None:
    assert {skeleton(c) for c in cls} == {cls[0]}


def test_characters_of_different_classes_stay_apart() -> None:
    for a, b in itertools.combinations([c[0] for c in CONFUSABLE_CLASSES] + list("ACEHKMNPRTUVWXY3"), 2):
        assert skeleton(a) != skeleton(b), (a, b)


def test_cyrillic_look_alikes_fold_to_latin_classes() -> None:
    assert skeleton("АВ123") == skeleton("AB123") == "A8123"  # Cyrillic А and В
    assert skeleton("ОК") == skeleton("0K")


def test_observed_text_keeps_unreadable_positions() -> None:
    assert normalise_observed(" ab-12?4 *x_y ") == "AB12?4?X?Y"


@pytest.mark.parametrize("migration", MIGRATIONS, ids=lambda p: p.name[11:15])
def test_the_migration_carries_the_same_mapping(migration: Path) -> None:
    source = migration.read_text(encoding="utf-8")
    frm = re.search(r'SKELETON_FROM = "([^"]+)"', source)
    to = re.search(r'SKELETON_TO = "([^"]+)"', source)
    assert frm
    assert to
    assert dict(zip(frm.group(1), to.group(1), strict=True)) == SKELETON_MAP


def test_triggers_fill_the_table_as_python_would(session: Session) -> None:
    serial = "QB7-2S6Z"
    reg = register_weapon(session, markings=[manufacture_marking(serial)], manufactured=True)
    rows = (
        session.execute(select(SerialSkeleton).where(SerialSkeleton.weapon_id == reg.weapon.id))
        .scalars()
        .all()
    )
    by_source = {r.source: r for r in rows}
    # The weapon's own serial is the mark's serial: kept once, as the mark's.
    assert set(by_source) == {"mark_serial", "mark_text"}
    mark = by_source["mark_serial"]
    assert mark.key == "QB72S6Z"
    assert mark.skeleton == "0812562"
    assert mark.skeleton_rev == reversed_tail(mark.skeleton)
    assert mark.skel_len == 7
    text_row = by_source["mark_text"]
    assert text_row.skeleton == skeleton(text_row.key)
    assert text_row.skeleton_rev == reversed_tail(text_row.skeleton)


def test_database_skeleton_of_every_mapped_character(session: Session) -> None:
    """Each mapped character through the trigger, in one weapon's mark text."""
    every = "".join(SKELETON_MAP)
    marks = [manufacture_marking("X1", text=f"GLOCK AUSTRIA X1 {every}")]
    reg = register_weapon(session, markings=marks, manufactured=True, serial="X1")
    row = session.execute(
        select(SerialSkeleton).where(
            SerialSkeleton.weapon_id == reg.weapon.id, SerialSkeleton.source == "mark_text"
        )
    ).scalar_one()
    assert row.skeleton == skeleton(row.key)
    assert len(row.skeleton_rev) == 24


def test_rebuild_gives_what_the_triggers_gave(session: Session) -> None:
    for serial in ("AB123", "ZS-99"):
        register_weapon(session, serial=serial)
    before = sorted(
        (str(r.source_id), r.source, r.key, r.skeleton, r.skeleton_rev)
        for r in session.execute(select(SerialSkeleton)).scalars()
    )
    assert repo.rebuild(session) == len(before)
    session.expire_all()
    after = sorted(
        (str(r.source_id), r.source, r.key, r.skeleton, r.skeleton_rev)
        for r in session.execute(select(SerialSkeleton)).scalars()
    )
    assert after == before


def test_a_weapon_without_marks_is_found_by_its_own_serial(session: Session) -> None:
    from registry.history.inputs import EventInput
    from tests.factories import weapon_input

    reg = register_weapon(
        session,
        weapon=weapon_input(serial="NOMARK42"),
        markings=[],
        event=EventInput(type="found", location="Kibera", data={"mark_condition": "intact"}),
    )
    rows = session.execute(
        select(SerialSkeleton.source, SerialSkeleton.key).where(SerialSkeleton.weapon_id == reg.weapon.id)
    ).all()
    assert [tuple(r) for r in rows] == [("weapon_serial", "NOMARK42")]
