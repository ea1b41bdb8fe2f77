"""Armoury count: found, missing, elsewhere and unknown, with keyboard-wedge scans handled."""

from __future__ import annotations

from sqlalchemy.orm import Session

from hardware.codes import uii
from hardware.codes.epc import adi_epc
from hardware.codes.uii import UniqueMark
from hardware.readers.llrp_sim import emulator
from hardware.readers.rfid import LlrpReader
from hardware.readers.wedge import flatten
from hardware.stations.compose import unique_mark_of
from hardware.stations.stocktake import count
from registry.history.inputs import EventInput
from registry.weapons.models import Weapon
from tests.factories import HOME, register_weapon, unique_serial


def _at(session: Session, location: str) -> Weapon:
    event = EventInput(type="imported", to_country=HOME, location=location)
    return register_weapon(session, serial=unique_serial("ST"), event=event).weapon


def _payload(w: Weapon) -> str:
    return uii.compose(unique_mark_of(w))


def test_stocktake_reports_found_missing_elsewhere_and_unknown(session: Session) -> None:
    site = f"Armoury {unique_serial('')}"
    a, b, c, d = (_at(session, site) for _ in range(4))
    other = _at(session, "Central Store")
    stranger = uii.compose(UniqueMark(enterprise="GLOCK", serial="NOPE0001", country="AT"))
    scans = [
        _payload(a),  # a serial-mode reader: exact payload
        flatten(_payload(b)),  # a keyboard wedge: separators lost
        c.serial or "",  # a hand-typed serial
        _payload(a),  # scanned twice
        _payload(other),  # the registry places it elsewhere
        stranger,  # a well-formed mark of no registered weapon
        "[)>06VGLOCKSXYZ",  # a wedge scan of an unknown mark: never parsed
        "",
    ]
    result = count(session, location=site.upper(), scans=scans)
    assert result.expected == 4
    assert {s.weapon_id for s in result.found} == {a.id, b.id, c.id}
    assert [s.weapon_id for s in result.missing] == [d.id]
    assert [(s.weapon_id, s.location) for s in result.elsewhere] == [(other.id, "Central Store")]
    assert [u.scan for u in result.unknown] == [stranger, "[)>06VGLOCKSXYZ"]
    assert "not in the registry" in result.unknown[0].reason
    assert "separators" in result.unknown[1].reason
    assert result.repeated == [_payload(a)]
    assert not result.clean


def test_a_complete_sweep_is_clean(session: Session) -> None:
    site = f"Armoury {unique_serial('')}"
    weapons = [_at(session, site) for _ in range(3)]
    result = count(session, location=site, scans=[_payload(w) for w in weapons])
    assert result.clean
    assert len(result.found) == 3


def test_an_older_payload_layout_still_finds_the_weapon_here(session: Session) -> None:
    site = f"Armoury {unique_serial('')}"
    w = _at(session, site)
    older = uii.compose(UniqueMark(enterprise="GLOCK", serial=w.serial or ""))  # no model, country, year
    result = count(session, location=site, scans=[older])
    assert [s.weapon_id for s in result.found] == [w.id]
    assert result.clean


def test_rfid_stocktake_over_llrp_reports_planted_missing_and_unexpected(session: Session) -> None:
    site = f"Armoury {unique_serial('')}"
    here = [_at(session, site) for _ in range(3)]
    other = _at(session, "Central Store")
    ncage = "1AB23"

    def tag(w: Weapon) -> str:
        return adi_epc(cage=ncage, maker_code="GLOCK", model="17", serial=w.serial or "")

    stranger = adi_epc(cage=ncage, maker_code="GLOCK", model="17", serial="NOPE0001")
    field = {tag(here[0]), tag(here[1]), tag(other), stranger, "341234567890123456789ABC"}  # here[2] missing
    with emulator(field) as emu:
        reader = LlrpReader(*emu.address, timeout=2)
        epcs = reader.inventory(0.1)
        reader.close()
    result = count(session, location=site, epcs=epcs, cage=ncage)
    assert {s.weapon_id for s in result.found} == {here[0].id, here[1].id}
    assert [s.weapon_id for s in result.missing] == [here[2].id]
    assert [s.weapon_id for s in result.elsewhere] == [other.id]
    assert sorted(u.scan for u in result.unknown) == sorted([stranger, "341234567890123456789ABC"])
