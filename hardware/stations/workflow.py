"""The marking-station round trip: compose -> check -> load -> read back -> mark -> read back -> read the
code -> record. A mark is recorded as good (a `marked` event with its marking, verified) only when every
comparison matched; any failure records nothing and tells the operator which stage failed and why.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from sqlalchemy.orm import Session

from hardware.codes.errors import CodeError
from hardware.codes.uii import show
from hardware.marking.errors import MachineError, Timeout
from hardware.marking.job import JobRefused
from hardware.marking.machine import MarkingMachine
from hardware.marking.transport import TrafficLog
from hardware.stations.compose import Composed, compose_for
from registry.history import service as history
from registry.history.inputs import EventInput
from registry.markings.rules import MarkingInput
from registry.profiles import Profile


class CodeVerifier(Protocol):
    """Reads the applied mark's symbol(s) after marking (a camera, a scanner, a simulated read)."""

    def read(self) -> list[str]: ...


@dataclass(frozen=True)
class Station:
    name: str
    operator: str
    machine_spec: str
    mark_timeout: float = 60.0
    marking_kind: str = "manufacture"
    component: str = "frame"


@dataclass
class Outcome:
    ok: bool
    stage: str  # compose, ready, load, read_back, mark, read_back_after, verify, recorded
    message: str
    payload: str | None = None
    decoded: list[str] = field(default_factory=list)
    event_id: uuid.UUID | None = None
    marking_id: uuid.UUID | None = None
    warnings: list[str] = field(default_factory=list)


def _failed(
    stage: str, message: str, composed: Composed | None = None, decoded: list[str] | None = None
) -> Outcome:
    return Outcome(
        False, stage, message, payload=composed.payload if composed else None, decoded=decoded or []
    )


def run(
    session: Session,
    *,
    weapon_id: uuid.UUID,
    machine: MarkingMachine,
    verifier: CodeVerifier,
    station: Station,
    profile: Profile,
    actor: str,
    home_country: str | None = None,
    frames: TrafficLog | None = None,
) -> Outcome:
    """The whole round trip. With `frames` (the transport's traffic log), the recorded event carries the
    number of frames and the SHA-256 of the log lines, tying the registry entry to the station's log."""
    try:
        composed = compose_for(session, weapon_id, profile=profile)
    except (JobRefused, CodeError) as exc:
        return _failed("compose", f"the mark breaks the {profile.name} profile: {exc.message}")
    outcome = _drive(machine, composed, station)
    if not outcome.ok:
        return outcome
    decoded = verifier.read()
    if decoded != [composed.payload]:
        seen = ", ".join(show(d) for d in decoded) or "no symbol"
        return _failed(
            "verify",
            f"the code read from the mark ({seen}) is not {show(composed.payload)}: the part IS marked but "
            "unverified and nothing was recorded; quarantine it and follow the re-marking procedure",
            composed,
            decoded=decoded,
        )
    rec = record_verified(
        session,
        composed=composed,
        station=station,
        actor=actor,
        profile=profile,
        home_country=home_country,
        frames=_frames_digest(frames) if frames is not None else {},
    )
    return Outcome(
        True,
        "recorded",
        "marked, read back and verified; recorded",
        payload=composed.payload,
        decoded=decoded,
        event_id=rec.event.id,
        marking_id=rec.marking.id if rec.marking else None,
        warnings=[w.message for w in rec.warnings],
    )


def record_verified(
    session: Session,
    *,
    composed: Composed,
    station: Station,
    actor: str,
    profile: Profile,
    home_country: str | None = None,
    frames: dict[str, object] | None = None,
    occurred_at: datetime | None = None,
) -> history.Recorded:
    """Record a mark that was read back and matched: a `marked` event with its verified marking. Callers
    (this workflow, a station reporting through the API) have compared the read-back already."""
    return history.record_event(
        session,
        actor=actor,
        weapon_id=composed.weapon.id,
        event=EventInput(
            type="marked",
            occurred_at=occurred_at,
            data={
                "station": station.name,
                "machine": station.machine_spec,
                "verification": "read_back_and_code_match",
                **(frames or {}),
            },
        ),
        marking=_marking_input(composed, station),
        profile=profile,
        home_country=home_country,
    )


def _drive(machine: MarkingMachine, composed: Composed, station: Station) -> Outcome:
    """Talk to the machine; any failure before `mark` leaves the part unmarked."""
    job, expected = composed.job, composed.job.field_texts()
    stage = "ready"
    try:
        st = machine.status()
        if st.error or not st.ready:
            why = f"in error {st.error}" if st.error else "not ready"
            return _failed("ready", f"the machine is {why}; nothing was sent", composed)
        stage = "load"
        machine.load(job)
        stage = "read_back"
        got = machine.read_fields(expected)
        if got != expected:
            return _failed(
                "read_back", _diff("before marking (nothing was marked)", expected, got, composed), composed
            )
        stage = "mark"
        machine.mark(timeout=station.mark_timeout)
        stage = "read_back_after"
        got = machine.read_fields(expected)
        if got != expected:
            return _failed("read_back_after", _diff("after marking", expected, got, composed), composed)
    except JobRefused as exc:
        return _failed(stage, f"the machine cannot take this job: {exc.message}", composed)
    except MachineError as exc:
        if isinstance(exc, Timeout) and stage == "mark":
            _try_abort(machine)
        marked = "the part may be partly marked; inspect it" if stage == "mark" else "nothing was marked"
        return _failed(stage, f"{exc.message} — {marked}", composed)
    return Outcome(True, "marked", "marked", payload=composed.payload)


def _frames_digest(frames: TrafficLog) -> dict[str, object]:
    lines = frames.lines()
    return {"frames": len(lines), "frames_sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest()}


def _try_abort(machine: MarkingMachine) -> None:
    # The operator is told the mark failed either way; a dead link cannot be aborted.
    with contextlib.suppress(MachineError):
        machine.abort()


def _diff(when: str, expected: dict[int, str], got: dict[int, str], composed: Composed) -> str:
    names = {n: f.name for n, f in enumerate(composed.job.fields, start=1)}
    bad = [n for n in expected if got.get(n) != expected[n]]
    parts = [
        f"{names[n]} sent {show(expected[n])!r} but machine holds {show(got.get(n) or '')!r}" for n in bad
    ]
    return f"read-back mismatch {when}: " + "; ".join(parts)


def _marking_input(composed: Composed, station: Station) -> MarkingInput:
    w = composed.weapon
    text = " ".join(f.text for f in composed.job.fields if not f.is_code)
    return MarkingInput(
        text=text,
        kind=station.marking_kind,
        component=station.component,
        method=composed.job.method,
        manufacturer=w.make,
        country=w.country_of_manufacture,
        serial=w.serial,
        year=w.year_of_manufacture,
        payload=composed.payload,
        applied_on=date.today(),
        station=station.name,
        operator=station.operator,
        verified=True,
    )
