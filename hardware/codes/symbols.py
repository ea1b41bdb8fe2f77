"""Symbols as module grids. Encoders from maintained, permissively licensed libraries produce the grid
(pystrich for Data Matrix ECC200, segno for QR, python-barcode for Code 128); one renderer (`render.py`)
draws every grid, so a PNG, an SVG sheet and a ZPL graphic of the same code carry the same modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import barcode
import segno
from pystrich.datamatrix import DataMatrixCodeword, DataMatrixData, DataMatrixEncoder
from pystrich.exceptions import PyStrichError

from hardware.codes import uii
from hardware.codes.errors import SymbolError

# Data Matrix codeword 237 is "Macro 06": it stands for the `[)>RS06GS` header and the `RS EOT` trailer,
# which every reader expands back, and saves nine codewords (a 22x22 symbol instead of 26x26).
MACRO_06 = DataMatrixCodeword(237)


class Kind(StrEnum):
    DATAMATRIX = "datamatrix"
    QR = "qr"
    CODE128 = "code128"


@dataclass(frozen=True)
class Symbol:
    """Dark (True) and light modules, row by row, without quiet zone. A 1D code has one row."""

    kind: Kind
    rows: tuple[tuple[bool, ...], ...]
    data: str

    @property
    def width(self) -> int:
        return len(self.rows[0])

    @property
    def height(self) -> int:
        return len(self.rows)

    @property
    def quiet_zone(self) -> int:
        """Modules of light margin the symbology needs around it (ISO/IEC 16022, 18004, 15417)."""
        return {Kind.DATAMATRIX: 1, Kind.QR: 4, Kind.CODE128: 10}[self.kind]


def datamatrix(payload: str) -> Symbol:
    """A square Data Matrix ECC200 for `payload` (rectangular and DMRE shapes are never produced)."""
    if not payload or any(ord(c) > 127 for c in payload):
        raise SymbolError("a unique-mark Data Matrix carries ASCII only", field="payload")
    if payload.startswith(uii.HEADER + uii.FORMAT_06) and payload.endswith(uii.TRAILER):
        body = payload[len(uii.HEADER) + len(uii.FORMAT_06) : -len(uii.TRAILER)]
        data = MACRO_06 + DataMatrixData(body, encoding="ascii")
    else:
        data = DataMatrixData(payload, encoding="ascii")
    try:
        enc = DataMatrixEncoder(data, quiet_zone=0, symbol_shape="square")
    except PyStrichError as exc:
        raise SymbolError(f"cannot encode as Data Matrix: {exc}", field="payload") from exc
    img = enc.get_pilimage(cellsize=1).convert("L")
    rows = tuple(tuple(img.getpixel((x, y)) < 128 for x in range(img.width)) for y in range(img.height))
    if len(rows) != len(rows[0]):  # guard the promise of square symbols against a library change
        raise SymbolError(f"encoder produced a {len(rows[0])}x{len(rows)} symbol, not a square one")
    return Symbol(Kind.DATAMATRIX, rows, payload)


def qr(data: str) -> Symbol:
    """A QR code (error correction M) for a rack, case or file label."""
    if not data:
        raise SymbolError("a QR label needs data", field="data")
    code = segno.make_qr(data, error="m", boost_error=False)
    return Symbol(Kind.QR, tuple(tuple(bool(v) for v in row) for row in code.matrix), data)


def code128(data: str) -> Symbol:
    """A Code 128 barcode (printable ASCII) for a rack, case or file label."""
    if not data or any(not 32 <= ord(c) < 127 for c in data):
        raise SymbolError("Code 128 labels carry printable ASCII only", field="data")
    modules = barcode.get("code128", data).build()[0]
    return Symbol(Kind.CODE128, (tuple(m == "1" for m in modules),), data)


def make(kind: Kind | str, data: str) -> Symbol:
    return {Kind.DATAMATRIX: datamatrix, Kind.QR: qr, Kind.CODE128: code128}[Kind(kind)](data)
