"""A to-scale SVG preview of a job — the text lines at their character height and the Data Matrix — for the
operator to check before anything irreversible happens."""

from __future__ import annotations

from xml.sax.saxutils import escape

from hardware.codes import render, symbols
from hardware.marking.job import MarkJob

# Capital letters are about 0.7 of the font size in common sans-serif faces: a 1.6 mm character needs
# a font size of about 2.3 mm.
CAP_HEIGHT = 0.7
MODULE_MM = 0.25  # a common laser Data Matrix cell on a frame


def preview_svg(job: MarkJob, *, module_mm: float = MODULE_MM) -> str:
    texts = [f for f in job.fields if not f.is_code]
    y, parts = 1.0, []
    for f in texts:
        size = f.char_height_mm / CAP_HEIGHT
        y += f.char_height_mm
        parts.append(
            f'<text x="1" y="{y:g}" font-family="sans-serif" font-size="{size:.3f}" '
            f'data-field="{f.name}" data-char-height-mm="{f.char_height_mm:g}">{escape(f.text)}</text>'
        )
        y += f.char_height_mm * 0.5
    width = 1 + max((len(f.text) * f.char_height_mm * 0.75 for f in texts), default=0.0)
    sym = symbols.datamatrix(job.payload or "")
    side = (sym.width + 2 * sym.quiet_zone) * module_mm
    parts.append(render.svg_group(sym, x_mm=width + 2, y_mm=1, module_mm=module_mm))
    w, h = width + 3 + side, max(y, side + 1) + 1
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:g}mm" height="{h:g}mm" viewBox="0 0 {w:g} {h:g}" '
        f'shape-rendering="crispEdges"><rect width="{w:g}" height="{h:g}" fill="#eee"/>{"".join(parts)}</svg>\n'
    )
