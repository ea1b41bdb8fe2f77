"""Armoury count: compare the codes scanned at a storage site with the stock the registry expects there.

A scan identifies a weapon only by an exact match — the full payload, the payload as a keyboard wedge
types it (separators lost), or a serial that names exactly one weapon. Anything else is reported as it was
scanned, never guessed.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from hardware.codes import uii
from hardware.codes.epc import adi_epc, read_adi
from hardware.codes.errors import CodeError
from hardware.marking.job import JobRefused, normalise
from hardware.readers.wedge import Scan, flatten, interpret
from hardware.stations.compose import unique_mark_of
from hardware.stations.repository import held_at
from registry.reference.service import text_key
from registry.weapons import service as weapons
from registry.weapons.models import Weapon, WeaponState


@dataclass(frozen=True)
class Seen:
    weapon_id: uuid.UUID
    make: str
    model: str | None
    serial: str | None
    status: str
    location: str | None  # where the registry places it

    @classmethod
    def of(cls, w: Weapon, s: WeaponState) -> Seen:
        return cls(w.id, w.make, w.model, w.serial, s.status, s.location)


@dataclass(frozen=True)
class Unmatched:
    scan: str
    reason: str


@dataclass
class Stocktake:
    location: str
    expected: int
    found: list[Seen] = field(default_factory=list)  # where the registry says they are
    missing: list[Seen] = field(default_factory=list)  # expected here, not scanned
    elsewhere: list[Seen] = field(default_factory=list)  # scanned here, the registry places them elsewhere
    unknown: list[Unmatched] = field(default_factory=list)  # scanned, not identified in the registry
    repeated: list[str] = field(default_factory=list)  # scanned more than once (counted once)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.elsewhere or self.unknown)


@dataclass
class _Index:
    cage: str | None = None  # the registry's NCAGE code, when RFID property tags are in use
    by_payload: dict[str, uuid.UUID] = field(default_factory=dict)
    by_flat: dict[str, uuid.UUID] = field(default_factory=dict)
    by_serial: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    by_epc: dict[str, uuid.UUID] = field(default_factory=dict)

    def add(self, w: Weapon) -> None:
        if w.serial:
            self.by_serial.setdefault(text_key(w.serial), []).append(w.id)
        if self.cage and w.manufacturer_code and w.serial:
            with contextlib.suppress(CodeError):
                self.by_epc[
                    adi_epc(
                        cage=self.cage,
                        maker_code=w.manufacturer_code,
                        model=normalise(w.model),
                        serial=w.serial,
                    )
                ] = w.id
        try:
            payload = uii.compose(unique_mark_of(w))
        except (JobRefused, CodeError):
            return  # no Data Matrix can exist for it; its serial still matches
        self.by_payload[payload] = w.id
        self.by_flat[flatten(payload)] = w.id


def count(
    session: Session,
    *,
    location: str,
    scans: Iterable[str] = (),
    epcs: Iterable[str] = (),
    cage: str | None = None,
) -> Stocktake:
    """`scans` are barcode / 2D reads; `epcs` an RFID inventory (hex), matched against ADI property tags
    issued under the registry's NCAGE code `cage`."""
    expected = {w.id: (w, s) for w, s in held_at(session, location)}
    index = _Index(cage=cage)
    for w, _ in expected.values():
        index.add(w)
    result = Stocktake(location=location, expected=len(expected))
    found: set[uuid.UUID] = set()
    for raw in scans:
        scan = interpret(raw)
        if not scan.text:
            continue
        wid = _here(scan, index)
        if wid is not None:
            if wid in found:
                result.repeated.append(scan.text)
            else:
                found.add(wid)
                result.found.append(Seen.of(*expected[wid]))
            continue
        other = _elsewhere(session, scan, result)
        if other is None:
            continue
        if other.weapon_id in expected:  # e.g. an older payload layout: identified by maker and serial
            if other.weapon_id not in found:
                found.add(other.weapon_id)
                result.found.append(other)
        elif other.weapon_id not in {e.weapon_id for e in result.elsewhere}:
            result.elsewhere.append(other)
    for epc in sorted({e.strip().upper() for e in epcs if e.strip()}):
        wid = index.by_epc.get(epc)
        if wid is not None:
            found.add(wid)
            result.found.append(Seen.of(*expected[wid]))
            continue
        other = _tag_elsewhere(session, epc, result)
        if other is not None and other.weapon_id in expected and other.weapon_id not in found:
            found.add(other.weapon_id)
            result.found.append(other)
        elif other is not None and other.weapon_id not in expected:
            result.elsewhere.append(other)
    result.missing = [Seen.of(w, s) for wid, (w, s) in expected.items() if wid not in found]
    return result


def _tag_elsewhere(session: Session, epc: str, result: Stocktake) -> Seen | None:
    ident = read_adi(epc)
    if ident is None:
        result.unknown.append(Unmatched(epc, "not an ADI-var EPC (not a weapon tag of this scheme)"))
        return None
    candidates = [
        (w, s)
        for w, s in weapons.find_by_mark(session, ident.serial)
        if w.manufacturer_code == ident.maker_code
    ]
    if len(candidates) == 1:
        return Seen.of(*candidates[0])
    reason = (
        "not in the registry" if not candidates else f"matches {len(candidates)} weapons; identify by hand"
    )
    result.unknown.append(Unmatched(epc, f"tag {ident.cage}.{ident.part}.{ident.serial}: {reason}"))
    return None


def _here(scan: Scan, index: _Index) -> uuid.UUID | None:
    if scan.mark is not None:
        return index.by_payload.get(scan.text)
    if scan.separators_lost:
        return index.by_flat.get(scan.text)
    ids = index.by_serial.get(text_key(scan.text), [])
    return ids[0] if len(ids) == 1 else None


def _elsewhere(session: Session, scan: Scan, result: Stocktake) -> Seen | None:
    """Look a scan up in the whole registry; record it as unknown when it names no single weapon."""
    if scan.separators_lost:
        result.unknown.append(
            Unmatched(
                scan.text,
                "a Data Matrix read by a keyboard wedge lost its separators and matches no "
                "weapon expected here; rescan in serial mode or type the serial",
            )
        )
        return None
    serial = scan.mark.serial if scan.mark else scan.text
    if not text_key(serial):
        result.unknown.append(Unmatched(scan.text, "no letters or digits"))
        return None
    candidates = weapons.find_by_mark(session, serial)
    if scan.mark is not None:
        candidates = [(w, s) for w, s in candidates if w.manufacturer_code == scan.mark.enterprise]
    if len(candidates) == 1:
        return Seen.of(*candidates[0])
    reason = (
        "not in the registry" if not candidates else f"matches {len(candidates)} weapons; identify by hand"
    )
    result.unknown.append(Unmatched(scan.text, reason))
    return None
