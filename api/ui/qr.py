"""The QR code on a weapon's page: the address of its record, for labels on racks, cases and paper files.

It carries the URL only, never facts about the weapon: whoever scans it must still sign in to see anything.
"""

from __future__ import annotations

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M


def svg(data: str) -> str:
    """An inline SVG (a single path, scalable for print) with a quiet zone of four modules."""
    code = qrcode.QRCode(
        error_correction=ERROR_CORRECT_M, border=4, image_factory=qrcode.image.svg.SvgPathFillImage
    )
    code.add_data(data)
    code.make(fit=True)
    return code.make_image().to_string(encoding="unicode")
