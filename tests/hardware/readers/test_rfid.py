"""LLRP inventory against the emulator on loopback, and the ADI-var EPC of a weapon."""

from __future__ import annotations

import pytest

from hardware.codes.epc import AdiIdentity, adi_epc, read_adi
from hardware.codes.errors import CodeError
from hardware.marking.errors import Refused
from hardware.readers.llrp_sim import emulator
from hardware.readers.rfid import LlrpReader, RfidReader

GIAI_96 = "341234567890123456789ABC"  # some other 96-bit EPC in the field


def test_adi_epc_round_trip() -> None:
    epc = adi_epc(cage="1AB23", maker_code="GLOCK", model="17", serial="AB/123")
    assert epc.startswith("3B")
    assert read_adi(epc) == AdiIdentity("1AB23", "GLOCK-17", "AB/123")
    assert read_adi(GIAI_96) is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cage": "GLOCK"}, "cage"),  # O is not allowed in a CAGE code
        ({"serial": "AB 123"}, "serial"),
        ({"model": "P.38"}, "part"),
    ],
)
def test_adi_epc_refuses_what_it_cannot_carry(kwargs: dict[str, str], field: str) -> None:
    args = {"cage": "1AB23", "maker_code": "WALTHER", "model": "P38", "serial": "X1"} | kwargs
    with pytest.raises(CodeError) as err:
        adi_epc(**args)
    assert err.value.field == field


def test_llrp_inventory_reports_every_tag_in_the_field() -> None:
    tags = {adi_epc(cage="1AB23", maker_code="GLOCK", model="17", serial="AB123"), GIAI_96}
    with emulator(tags) as emu:
        reader = LlrpReader(*emu.address, timeout=2)
        assert isinstance(reader, RfidReader)
        assert reader.inventory(0.1) == tags
        reader.close()
    assert emu.requests == [
        "DELETE_ROSPEC",
        "ADD_ROSPEC",
        "ENABLE_ROSPEC",
        "START_ROSPEC",
        "STOP_ROSPEC",
        "DELETE_ROSPEC",
        "CLOSE_CONNECTION",
    ]


def test_llrp_error_status_is_refused() -> None:
    with emulator(set()) as emu:
        emu.refuse.add("ADD_ROSPEC")
        reader = LlrpReader(*emu.address, timeout=2)
        with pytest.raises(Refused, match="ADD_ROSPEC refused"):
            reader.inventory(0.1)
        reader.close()
