"""One conformance suite, run against every MarkingMachine implementation (see conftest.IMPLEMENTATIONS)."""

from __future__ import annotations

import pytest

from hardware.codes import uii
from hardware.codes.uii import UniqueMark
from hardware.marking.errors import Busy, Disconnected, FrameError, MarkFailed, Refused, Timeout
from hardware.marking.job import JobRefused, MarkField, MarkJob
from hardware.marking.machine import MarkingMachine
from hardware.marking.panasonic.driver import PanasonicLP
from hardware.marking.simulator import SimMachine
from tests.hardware.marking.conftest import Rig, build

PAYLOAD = uii.compose(UniqueMark(enterprise="GLOCK", model="17", serial="AB123", country="AT", year=2024))
JOB = MarkJob(
    fields=(
        MarkField("maker", "GLOCK", 1.6),
        MarkField("serial", "AB123", 1.6),
        MarkField("country", "AT", 1.6),
        MarkField("code", PAYLOAD, 1.6),
    ),
    depth_mm=0.08,
    program=7,
)
NUMBERS = list(JOB.field_texts())


def test_implements_the_protocol(rig: Rig) -> None:
    assert isinstance(rig.machine, MarkingMachine)
    st = rig.machine.status()
    assert (st.ready, st.marking, st.error) == (True, False, None)


def test_load_then_read_back_gives_every_field_exactly(rig: Rig) -> None:
    rig.machine.load(JOB)
    assert rig.machine.read_fields(NUMBERS) == JOB.field_texts()
    assert rig.sim.program == 7
    assert rig.sim.fields[4] == PAYLOAD  # RS/GS/EOT travel through the framing untouched


def test_mark_engraves_the_loaded_fields_and_returns_to_ready(rig: Rig) -> None:
    rig.machine.load(JOB)
    rig.machine.mark(timeout=2)
    assert rig.sim.engraved == [JOB.field_texts()]
    assert rig.machine.status().ready
    assert any(d == "tx" for _, d, _ in rig.log.entries)
    assert any(d == "rx" for _, d, _ in rig.log.entries)  # every frame is in the traffic log


def test_negative_acknowledgement_carries_the_machine_code(rig: Rig) -> None:
    rig.sim.faults.nak["load"] = "bad_data"
    with pytest.raises(Refused) as err:
        rig.machine.load(JOB)
    assert err.value.code in ("09", "002")
    assert rig.sim.program == 0  # the refused write changed nothing


def test_busy_machine_refuses_to_mark_and_marks_nothing(rig: Rig) -> None:
    rig.machine.load(JOB)
    rig.sim.faults.busy = True
    assert not rig.machine.status().ready
    with pytest.raises(Busy):
        rig.machine.mark(timeout=1)
    assert rig.sim.engraved == []


def test_no_reply_is_a_timeout(rig: Rig) -> None:
    rig.sim.faults.silent.add("status")
    with pytest.raises(Timeout):
        rig.machine.status()


def test_garbled_read_back_is_never_taken_for_the_loaded_text(rig: Rig) -> None:
    rig.machine.load(JOB)
    rig.sim.faults.garble.add("read")
    try:
        got = rig.machine.read_fields([2])
    except (FrameError, Refused):
        return  # detected on the wire (syntax)
    if got == {2: "AB123"}:  # detected by the checksum, and the read was repeated
        assert sum(d == "tx" and b"STRR02" in data for _, d, data in rig.log.entries) == 2
    # otherwise undetectable on the wire: the station's read-back comparison refuses the mismatch


def test_replies_split_byte_by_byte_are_reassembled(rig: Rig) -> None:
    rig.sim.faults.split = True
    rig.machine.load(JOB)
    assert rig.machine.read_fields([4]) == {4: PAYLOAD}


def test_machine_error_at_the_end_of_a_mark_fails_it_until_cleared(rig: Rig) -> None:
    rig.machine.load(JOB)
    rig.sim.faults.mark_error = "E123"
    with pytest.raises(MarkFailed) as err:
        rig.machine.mark(timeout=2)
    assert "123" in (err.value.code or "")
    assert rig.machine.status().error
    with pytest.raises(Busy):
        rig.machine.mark(timeout=1)
    rig.sim.faults.mark_error = None
    rig.machine.clear_error()
    assert rig.machine.status().ready


def test_timeout_then_abort_stops_the_mark(rig: Rig) -> None:
    rig.sim.mark_seconds = 5
    rig.machine.load(JOB)
    with pytest.raises(Timeout):
        rig.machine.mark(timeout=0.1)
    rig.machine.abort()
    assert rig.sim.aborted == 1
    assert rig.sim.engraved == []
    assert rig.machine.status().error  # an aborted mark leaves the machine in error until cleared
    rig.machine.clear_error()
    assert rig.machine.status().ready


def test_link_dropped_in_the_middle_of_a_mark(rig: Rig) -> None:
    rig.sim.faults.disconnect_during_mark = True
    rig.machine.load(JOB)
    with pytest.raises(Disconnected):
        rig.machine.mark(timeout=1)


# Vendor-specific limits (not part of the shared protocol).
def test_panasonic_refuses_an_overlong_string_before_sending_anything() -> None:
    class NoLink:
        def write(self, data: bytes) -> None:
            raise AssertionError("nothing may be sent")

        def read(self, timeout: float) -> bytes:
            return b""

        def close(self) -> None: ...

    long_job = MarkJob(fields=(MarkField("serial", "X" * 61, 1.6),), depth_mm=0.1)
    with pytest.raises(JobRefused, match="at most 60"):
        PanasonicLP(NoLink()).load(long_job)


def test_panasonic_repeats_a_safe_command_after_line_noise_but_never_a_start() -> None:
    sim = SimMachine(mark_seconds=0.02)
    rig = build("panasonic-pty", sim)
    try:
        sim.faults.nak["load"] = "checksum"  # our FNO frame arrived damaged: NAK 05
        rig.machine.load(JOB)
        assert sim.program == 7
        sim.faults.garble.add("mark")  # the ACK to the start command is damaged
        with pytest.raises(FrameError):
            rig.machine.mark(timeout=1)
        assert sum(d == "tx" and b"MRKS1" in data for _, d, data in rig.log.entries) == 1
    finally:
        rig.machine.close()
        rig.served.stop()
