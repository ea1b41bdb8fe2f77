"""Labels for storage racks, cases and paper files: a QR or Code 128 symbol with its text beside it,
laid out on a printable A4 SVG sheet (3 x 8 labels of 70 x 37 mm, the common office label stock)."""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from hardware.codes import render
from hardware.codes.errors import SymbolError
from hardware.codes.symbols import Kind, Symbol, make

PAGE_W, PAGE_H = 210.0, 297.0
LABEL_W, LABEL_H = 70.0, 37.0
COLS, ROWS = 3, 8
MARGIN_TOP = (PAGE_H - ROWS * LABEL_H) / 2
PAD = 2.0


@dataclass(frozen=True)
class Label:
    """One label: `data` is what the symbol carries (scanned back), `title` and `lines` what people read."""

    data: str
    title: str
    kind: Kind = Kind.QR
    lines: tuple[str, ...] = field(default_factory=tuple)

    def symbol(self) -> Symbol:
        if self.kind is Kind.DATAMATRIX:
            raise SymbolError("rack, case and file labels use QR or Code 128", field="kind")
        return make(self.kind, self.data)


def sheet_svg(labels: list[Label]) -> list[str]:
    """One SVG document per A4 page of labels."""
    per_page = COLS * ROWS
    return [_page(labels[i : i + per_page]) for i in range(0, len(labels), per_page)]


def _page(labels: list[Label]) -> str:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{PAGE_W:g}mm" height="{PAGE_H:g}mm" '
        f'viewBox="0 0 {PAGE_W:g} {PAGE_H:g}" shape-rendering="crispEdges">'
    ]
    for i, label in enumerate(labels):
        x, y = (i % COLS) * LABEL_W, MARGIN_TOP + (i // COLS) * LABEL_H
        parts.append(_label(label, x, y))
    parts.append("</svg>\n")
    return "".join(parts)


def _label(label: Label, x: float, y: float) -> str:
    sym = label.symbol()
    q = sym.quiet_zone
    text_lines = [label.title, *label.lines]
    if sym.kind is Kind.CODE128:
        # Bars across the top, text below: a 1D code needs width, not height.
        module = (LABEL_W - 2 * PAD) / (sym.width + 2 * q)
        group = render.svg_group(sym, x_mm=x + PAD, y_mm=y + PAD, module_mm=module)
        tx, ty = x + PAD + 2, y + PAD + (render.BAR_HEIGHT_MODULES + 2 * q) * module + 3.5
    else:
        module = (LABEL_H - 2 * PAD) / (sym.width + 2 * q)
        group = render.svg_group(sym, x_mm=x + PAD, y_mm=y + PAD, module_mm=module)
        tx, ty = x + LABEL_H, y + PAD + 5
    bold = ' font-weight="bold"'
    texts = "".join(
        f'<text x="{tx:g}" y="{ty + n * 4.5:g}" font-family="sans-serif" '
        f'font-size="{4 if n == 0 else 3}"{bold if n == 0 else ""}>{escape(line)}</text>'
        for n, line in enumerate(text_lines)
    )
    return f'<g class="label">{group}{texts}</g>'
