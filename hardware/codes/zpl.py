"""ZPL II for Zebra label printers, sent over raw TCP (port 9100).

Symbols go to the printer as ^GF graphic fields of the modules we encoded and verified, not as the
printer's own ^BX/^BQ/^BC generators: the printed code is then exactly the one the tests decode, whatever
the printer's firmware does with separators."""

from __future__ import annotations

import socket

from hardware.codes import render
from hardware.codes.labels import Label
from hardware.codes.symbols import Kind, Symbol

DOTS_PER_MM = 8  # 203 dpi, the common Zebra head
LABEL_W_DOTS, LABEL_H_DOTS = 70 * DOTS_PER_MM, 37 * DOTS_PER_MM


def graphic_field(symbol: Symbol, *, module_dots: int) -> str:
    """^GFA: ASCII hex of a 1-bit image, black = 1, rows padded to whole bytes."""
    img = render.bitmap(symbol, module_px=module_dots)
    row_bytes = (img.width + 7) // 8
    hex_rows = []
    for y in range(img.height):
        bits = 0
        for x in range(row_bytes * 8):
            dark = x < img.width and img.getpixel((x, y)) == 0
            bits = (bits << 1) | int(dark)
        hex_rows.append(f"{bits:0{row_bytes * 2}X}")
    total = row_bytes * img.height
    return f"^GFA,{total},{total},{row_bytes},{''.join(hex_rows)}"


def _text(value: str) -> str:
    # ^FH_ lets the field carry ^ and ~ (ZPL command prefixes) as hex escapes instead of commands.
    return "".join(f"_{ord(c):02X}" if c in "^~_" or ord(c) < 32 else c for c in value)


def label(lbl: Label) -> str:
    sym = lbl.symbol()
    module = 3 if sym.kind is Kind.CODE128 else 6
    if sym.kind is not Kind.CODE128:
        module = max(1, min(module, (LABEL_H_DOTS - 32) // (sym.width + 2 * sym.quiet_zone)))
    out = [
        "^XA",
        f"^PW{LABEL_W_DOTS}",
        f"^LL{LABEL_H_DOTS}",
        "^CI28",
        "^FO16,16",
        graphic_field(sym, module_dots=module),
        "^FS",
    ]
    if sym.kind is Kind.CODE128:
        x, y = 24, 16 + (render.BAR_HEIGHT_MODULES + 2 * sym.quiet_zone) * module + 8
    else:
        x, y = 16 + (sym.width + 2 * sym.quiet_zone) * module + 16, 24
    for n, line in enumerate([lbl.title, *lbl.lines]):
        size = 34 if n == 0 else 24
        out.append(f"^FO{x},{y}^A0N,{size},{size}^FH_^FD{_text(line)}^FS")
        y += size + 8
    out.append("^XZ")
    return "\n".join(out) + "\n"


def labels(lbls: list[Label]) -> bytes:
    return "".join(label(lbl) for lbl in lbls).encode("utf-8")


def send(data: bytes, *, host: str, port: int = 9100, timeout: float = 5.0) -> None:
    """Raw TCP printing: connect, write everything, close. Zebra printers acknowledge nothing on 9100."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
