"""Draw a `Symbol` as PNG (Pillow), SVG (plain rectangles, exact module size in mm) or a 1-bit bitmap."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from PIL import Image

from hardware.codes.symbols import Kind, Symbol

# A 1D code is drawn this many modules tall (15% of width is the usual minimum; 50 modules reads well).
BAR_HEIGHT_MODULES = 50


def bitmap(symbol: Symbol, *, module_px: int = 4, quiet: int | None = None) -> Image.Image:
    """A black-and-white image with the quiet zone included."""
    q = symbol.quiet_zone if quiet is None else quiet
    rows = _rows(symbol)
    w, h = (symbol.width + 2 * q) * module_px, (len(rows) + 2 * q) * module_px
    img = Image.new("1", (w, h), 1)
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                x0, y0 = (x + q) * module_px, (y + q) * module_px
                img.paste(0, (x0, y0, x0 + module_px, y0 + module_px))
    return img


def png(symbol: Symbol, *, module_px: int = 8) -> bytes:
    out = io.BytesIO()
    bitmap(symbol, module_px=module_px).save(out, format="PNG")
    return out.getvalue()


def svg_group(symbol: Symbol, *, x_mm: float, y_mm: float, module_mm: float) -> str:
    """The symbol as an SVG <g> at (x, y) in mm, quiet zone included, for a standalone file or a sheet."""
    q = symbol.quiet_zone
    rows = _rows(symbol)
    parts = [
        f'<g class="symbol" data-kind="{symbol.kind}" transform="translate({x_mm:g} {y_mm:g}) '
        f'scale({module_mm:g})">',
        f'<rect class="quiet" width="{symbol.width + 2 * q}" height="{len(rows) + 2 * q}" fill="#fff"/>',
    ]
    for y, row in enumerate(rows):
        x = 0
        while x < len(row):  # one rect per horizontal run keeps files small
            if row[x]:
                start = x
                while x < len(row) and row[x]:
                    x += 1
                parts.append(f'<rect x="{start + q}" y="{y + q}" width="{x - start}" height="1"/>')
            else:
                x += 1
    parts.append("</g>")
    return "".join(parts)


def svg(symbol: Symbol, *, module_mm: float = 0.5, caption: str | None = None) -> str:
    """A standalone SVG whose size in mm is the printed size (module_mm per module)."""
    q = symbol.quiet_zone
    w = (symbol.width + 2 * q) * module_mm
    h = (len(_rows(symbol)) + 2 * q) * module_mm
    text_h = 4.0 if caption else 0.0
    body = svg_group(symbol, x_mm=0, y_mm=0, module_mm=module_mm)
    if caption:
        body += (
            f'<text x="{w / 2:g}" y="{h + 3:g}" font-family="monospace" font-size="3" '
            f'text-anchor="middle">{escape(caption)}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:g}mm" height="{h + text_h:g}mm" '
        f'viewBox="0 0 {w:g} {h + text_h:g}" shape-rendering="crispEdges">{body}</svg>\n'
    )


def _rows(symbol: Symbol) -> tuple[tuple[bool, ...], ...]:
    if symbol.kind is Kind.CODE128:
        return symbol.rows * BAR_HEIGHT_MODULES
    return symbol.rows
