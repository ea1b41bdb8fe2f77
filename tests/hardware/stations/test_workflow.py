"""The full station round trip against each simulator, and every fault leaving the registry unchanged."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from hardware.codes import uii
from hardware.marking.connect import open_machine
from hardware.marking.simulator import SimMachine
from hardware.marking.transport import TrafficLog
from hardware.stations.camera import SimulatedCamera
from hardware.stations.workflow import Outcome, Station, run
from registry.profiles import EU, ITI, Profile
from registry.weapons import repository as repo
from tests.factories import HOME, register_weapon, weapon_input

SIMULATORS = ["panasonic-sim", "keyence-sim"]
CODE_FIELD = 6  # maker, model, serial, country, year, code


def _run(
    session: Session, spec: str, sim: SimMachine, *, profile: Profile = EU, year: int | None = 2020
) -> tuple[Outcome, tuple[uuid.UUID, TrafficLog]]:
    reg = register_weapon(session, weapon=weapon_input(year_of_manufacture=year))
    log = TrafficLog()
    with open_machine(spec, sim=sim, tap=log, reply_timeout=0.3) as conn:
        outcome = run(
            session,
            weapon_id=reg.weapon.id,
            machine=conn.machine,
            verifier=SimulatedCamera(sim),
            station=Station("KE-NBI-01", "op.wanjiru", spec, mark_timeout=0.5),
            profile=profile,
            actor="station:KE-NBI-01",
            home_country=HOME,
        )
    return outcome, (reg.weapon.id, log)


@pytest.mark.parametrize("spec", SIMULATORS)
def test_round_trip_records_a_verified_marking(session: Session, spec: str) -> None:
    sim = SimMachine(mark_seconds=0.02)
    outcome, (wid, log) = _run(session, spec, sim)
    assert outcome.ok, outcome.message
    assert outcome.stage == "recorded"
    assert outcome.decoded == [outcome.payload]
    assert uii.parse(outcome.payload or "").year == 2020
    events = repo.events_of(session, wid)
    assert events[-1].type == "marked"
    assert events[-1].data["station"] == "KE-NBI-01"
    marking = next(m for m in repo.markings_of(session, wid) if m.id == outcome.marking_id)
    assert (marking.payload, marking.verified, marking.station, marking.operator, marking.method) == (
        outcome.payload,
        True,
        "KE-NBI-01",
        "op.wanjiru",
        "laser",
    )
    assert len(sim.engraved) == 1
    assert log.entries  # every frame exchanged is available for the station's audit


def _unchanged(session: Session, wid: uuid.UUID) -> None:
    events = repo.events_of(session, wid)
    assert [e.type for e in events] == ["imported"]
    assert all(m.payload is None for m in repo.markings_of(session, wid))


FAULTS: dict[str, tuple[Callable[[SimMachine], None], str, str, bool]] = {
    # name: (inject, stage, words in the message, whether the part got engraved)
    "nak_on_load": (lambda s: s.faults.nak.update(load="bad_data"), "load", "refused", False),
    "busy": (lambda s: setattr(s.faults, "busy", True), "ready", "not ready", False),
    "corrupt_buffer": (
        lambda s: s.faults.readback.update({3: "ZZ999"}),
        "read_back",
        "nothing was marked",
        False,
    ),
    "no_reply": (lambda s: s.faults.silent.add("read"), "read_back", "no reply", False),
    "mark_error": (lambda s: setattr(s.faults, "mark_error", "E123"), "mark", "123", True),
    "disconnect": (
        lambda s: setattr(s.faults, "disconnect_during_mark", True),
        "mark",
        "partly marked",
        False,
    ),
    "mark_timeout": (lambda s: setattr(s, "mark_seconds", 5.0), "mark", "did not end", False),
    "mis_mark": (
        lambda s: s.faults.engrave.update({CODE_FIELD: "[)>\x1e06\x1dVGLOCK\x1dSX1\x1e\x04"}),
        "verify",
        "is not",
        True,
    ),
    "unreadable_mark": (lambda s: s.faults.engrave.update({CODE_FIELD: "é"}), "verify", "no symbol", True),
}


@pytest.mark.parametrize("spec", SIMULATORS)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_records_nothing_and_tells_the_operator(session: Session, spec: str, fault: str) -> None:
    inject, stage, words, engraved = FAULTS[fault]
    sim = SimMachine(mark_seconds=0.02)
    inject(sim)
    outcome, (wid, _) = _run(session, spec, sim)
    assert not outcome.ok
    assert outcome.stage == stage
    assert words in outcome.message
    assert bool(sim.engraved) is engraved
    _unchanged(session, wid)
    if fault == "mark_timeout":
        assert sim.aborted == 1  # the station stopped the laser


def test_garbled_read_back_is_repeated_or_refused_never_accepted(session: Session) -> None:
    # Panasonic frames carry a checksum: the damaged reply is dropped and the read repeated, so the mark
    # goes ahead on a verified read-back. Keyence lines have none: the damaged text reaches the comparison,
    # which refuses it before anything is marked.
    sim = SimMachine(mark_seconds=0.02)
    sim.faults.garble.add("read")
    outcome, _ = _run(session, "panasonic-sim", sim)
    assert (outcome.ok, len(sim.engraved)) == (True, 1)
    sim = SimMachine(mark_seconds=0.02)
    sim.faults.garble.add("read")
    outcome, (wid, _) = _run(session, "keyence-sim", sim)
    assert (outcome.ok, outcome.stage, sim.engraved) == (False, "read_back", [])
    assert "read-back mismatch before marking" in outcome.message
    _unchanged(session, wid)


def test_a_job_breaking_the_profile_never_reaches_the_machine(session: Session) -> None:
    sim = SimMachine()
    outcome, (wid, log) = _run(session, "keyence-sim", sim, profile=EU, year=None)
    assert (outcome.ok, outcome.stage) == (False, "compose")
    assert "requires the year" in outcome.message
    assert log.entries == []
    _unchanged(session, wid)


def test_iti_profile_marks_without_a_year(session: Session) -> None:
    outcome, _ = _run(session, "panasonic-sim", SimMachine(mark_seconds=0.01), profile=ITI, year=None)
    assert outcome.ok, outcome.message
    assert "23D" not in (outcome.payload or "")
