"""A simulated verification camera: it photographs what the simulated machine actually engraved (our own
renderer draws the engraved Data Matrix) and decodes the picture with zxing-cpp, as a real camera would."""

from __future__ import annotations

from dataclasses import dataclass

from hardware.codes import render, symbols
from hardware.codes.errors import CodeError
from hardware.marking.simulator import SimMachine
from hardware.readers.image import decode_image


@dataclass
class SimulatedCamera:
    sim: SimMachine
    # The job's field number that holds the Data Matrix; None: the last field, where compose puts it.
    code_field: int | None = None

    def read(self) -> list[str]:
        if not self.sim.engraved:
            return []
        engraved = self.sim.engraved[-1]
        text = engraved.get(self.code_field if self.code_field is not None else max(engraved), "")
        try:
            sym = symbols.datamatrix(text)
        except CodeError:
            return []  # an engraving no Data Matrix can hold reads as nothing
        return decode_image(render.bitmap(sym, module_px=6))
