"""RFID identity of a weapon: an EPC in the ADI-var scheme (EPC Tag Data Standard; epcpy, MIT), the RFID
mirror of a MIL-STD-130 unique item identifier.

ADI needs a real CAGE / NCAGE or DoDAAC as its enterprise (no I or O). Registry maker codes are not CAGE
codes, so the tag is a *property tag of the state*: enterprise = the national registry's NCAGE code (given
by the node), part number = maker code + '-' + model, serial = the weapon's serial. The weapon is found again
by exact comparison with the EPC computed from the registry, or by decoding it to maker and serial.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from epcpy.epc_schemes.adi import ADI, ADIFilterValue
from epcpy.utils.common import ConvertException

from hardware.codes.errors import CodeError

CAGE = re.compile(r"^[0-9A-HJ-NP-Z]{5,6}$")
ADI_CHARS = re.compile(r"^[A-Z0-9/-]*$")


@dataclass(frozen=True)
class AdiIdentity:
    cage: str
    part: str
    serial: str

    @property
    def maker_code(self) -> str:
        return self.part.split("-", 1)[0]


def adi_epc(*, cage: str, maker_code: str, model: str | None, serial: str) -> str:
    """The ADI-var EPC as upper-case hex; raises CodeError when a part cannot be carried."""
    if not CAGE.match(cage):
        raise CodeError(f"{cage!r} is not a CAGE/NCAGE code (5-6 characters, no I or O)", field="cage")
    part = maker_code + (f"-{model}" if model else "")
    for name, value, limit in (("part", part, 32), ("serial", serial, 30)):
        if not ADI_CHARS.match(value) or len(value) > limit or (name == "serial" and not value):
            raise CodeError(
                f"{name} {value!r} cannot go into an ADI EPC (A-Z, 0-9, '-', '/', at most {limit})",
                field=name,
            )
    uri = f"urn:epc:id:adi:{cage}.{part.replace('/', '%2F')}.{serial.replace('/', '%2F')}"
    try:
        return ADI(uri).hex(filter_value=ADIFilterValue.ITEM_OTHER).upper()
    except ConvertException as exc:
        raise CodeError(f"cannot encode {uri}: {exc}", field="epc") from exc


def read_adi(epc_hex: str) -> AdiIdentity | None:
    """The identity in an ADI-var EPC, or None for any other EPC (never a guess)."""
    if not epc_hex.upper().startswith("3B"):  # the ADI-var header 00111011: anything else is not ours
        return None
    try:
        uri = ADI.from_hex(epc_hex).epc_uri
    except (ConvertException, ValueError, KeyError):
        return None
    cage, part, serial = uri.removeprefix("urn:epc:id:adi:").replace("%2F", "/").split(".")
    return AdiIdentity(cage, part, serial.replace("%23", "#"))
