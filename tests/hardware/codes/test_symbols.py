"""Every symbol we generate is read back by zxing-cpp and must give exactly the data, separators included."""

import socket
import threading

import pytest

from hardware.codes import labels, render, symbols, uii, zpl
from hardware.codes.errors import SymbolError
from hardware.codes.labels import Label
from hardware.codes.symbols import Kind
from hardware.codes.uii import UniqueMark
from tests.hardware.decode import decode, decode_png, svg_symbols, zpl_graphics

MARKS = [
    UniqueMark(enterprise="GLOCK", model="17", serial="ABC123", country="AT", year=2024),
    UniqueMark(enterprise="0CVA5", enterprise_di="17V", model="1234", serial="786950"),
    UniqueMark(enterprise="HK", model="G36KV", serial="16-001234/B", country="DE", year=1999),
    UniqueMark(enterprise="KALASHNIKOV.CONCERN", model="AK-103", serial="X" * 35, country="RU", year=2001),
]


@pytest.mark.parametrize("mark", MARKS, ids=lambda m: m.serial[:12])
def test_datamatrix_png_decodes_to_the_exact_payload(mark: UniqueMark) -> None:
    payload = uii.compose(mark)
    sym = symbols.datamatrix(payload)
    assert sym.width == sym.height  # always square, never DMRE
    assert decode_png(render.png(sym)) == [("DataMatrix", payload.encode("ascii"))]


@pytest.mark.parametrize("mark", MARKS[:2], ids=lambda m: m.serial[:12])
def test_datamatrix_svg_decodes_to_the_exact_payload(mark: UniqueMark) -> None:
    payload = uii.compose(mark)
    (img,) = svg_symbols(render.svg(symbols.datamatrix(payload), module_mm=0.4))
    assert decode(img) == [("DataMatrix", payload.encode("ascii"))]


def test_macro_06_keeps_the_usual_mark_small() -> None:
    # 17V/1P/S fits a 22x22 symbol; with country and year it still stays small enough for a receiver.
    assert symbols.datamatrix(uii.compose(MARKS[1])).width <= 22
    assert symbols.datamatrix(uii.compose(MARKS[0])).width <= 24


def test_plain_text_datamatrix_round_trips() -> None:
    assert decode_png(render.png(symbols.datamatrix("RACK A-01"))) == [("DataMatrix", b"RACK A-01")]


def test_datamatrix_refuses_non_ascii() -> None:
    with pytest.raises(SymbolError, match="ASCII"):
        symbols.datamatrix("SÉRIE")


@pytest.mark.parametrize(
    ("kind", "data", "fmt"),
    [
        (Kind.QR, "iti:rack:NBI-ARMOURY-1/A-01", "QRCode"),
        (Kind.QR, "https://registry.example/w/0190c8e2-0000-7000-8000-000000000001", "QRCode"),
        (Kind.CODE128, "CASE-2024-0001", "Code128"),
        (Kind.CODE128, "FILE 17/abc", "Code128"),
    ],
)
def test_label_symbols_decode_in_png_svg_sheet_and_zpl(kind: Kind, data: str, fmt: str) -> None:
    sym = symbols.make(kind, data)
    assert decode_png(render.png(sym, module_px=3)) == [(fmt, data.encode())]
    (page,) = labels.sheet_svg([Label(data=data, title="RACK A-01", kind=kind)])
    (img,) = svg_symbols(page)
    assert decode(img) == [(fmt, data.encode())]
    (gf,) = zpl_graphics(zpl.label(Label(data=data, title="T", kind=kind)))
    assert decode(gf) == [(fmt, data.encode())]


def test_sheet_has_24_labels_a_page_each_decodable() -> None:
    lbls = [Label(data=f"CASE-{i:04d}", title=f"Case {i}", kind=Kind.CODE128) for i in range(30)]
    pages = labels.sheet_svg(lbls)
    assert len(pages) == 2
    images = svg_symbols(pages[0]) + svg_symbols(pages[1])
    assert [decode(img)[0][1].decode() for img in images] == [lb.data for lb in lbls]


def test_code128_refuses_control_characters() -> None:
    with pytest.raises(SymbolError):
        symbols.code128("A\x1dB")


def test_labels_do_not_carry_unique_mark_symbols() -> None:
    with pytest.raises(SymbolError, match="QR or Code 128"):
        Label(data="X", title="X", kind=Kind.DATAMATRIX).symbol()


def test_zpl_goes_to_the_printer_over_raw_tcp() -> None:
    lbls = [
        Label(data="iti:rack:A-01", title="RACK A-01", lines=("Armoury 1", "^~_ kept")),
        Label(data="CASE-0002", title="CASE 2", kind=Kind.CODE128),
    ]
    received = bytearray()
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(5)

        def accept() -> None:
            conn, _ = server.accept()
            with conn:
                while chunk := conn.recv(65536):
                    received.extend(chunk)

        t = threading.Thread(target=accept)
        t.start()
        zpl.send(zpl.labels(lbls), host="127.0.0.1", port=server.getsockname()[1])
        t.join(5)
    text = received.decode()
    assert text.count("^XA") == 2
    assert text.count("^XZ") == 2
    assert "^FH_^FDRACK A-01^FS" in text
    assert "_5E_7E_5F kept" in text  # ZPL prefixes inside a field are escaped, never commands
    images = zpl_graphics(text)
    assert [decode(img) for img in images] == [[("QRCode", b"iti:rack:A-01")], [("Code128", b"CASE-0002")]]
