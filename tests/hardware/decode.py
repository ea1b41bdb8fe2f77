"""The independent decoder (zxing-cpp) and small rasterisers for what our renderers produce (SVG rects,
ZPL ^GF graphics), so every symbol is read back from the very bytes a printer or a file would get."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import zxingcpp
from PIL import Image

SVG = "{http://www.w3.org/2000/svg}"


def decode(img: Image.Image) -> list[tuple[str, bytes]]:
    """(format name, exact bytes) of every symbol zxing-cpp finds; bytes keep RS/GS/EOT as they are."""
    found = zxingcpp.read_barcodes(img.convert("L"))
    return [(str(b.format).split(".")[-1].replace(" ", ""), bytes(b.bytes)) for b in found]


def decode_png(data: bytes) -> list[tuple[str, bytes]]:
    return decode(Image.open(io.BytesIO(data)))


def svg_symbols(svg: str, *, px: int = 4) -> list[Image.Image]:
    """One image per <g class="symbol"> of an SVG: its rects drawn in module units, px pixels each."""
    root = ET.fromstring(svg)  # noqa: S314 -- SVG we generated ourselves, in a test
    images = []
    for g in root.iter(f"{SVG}g"):
        if g.get("class") != "symbol":
            continue
        rects = list(g.iter(f"{SVG}rect"))
        quiet = next(r for r in rects if r.get("class") == "quiet")
        w, h = int(float(quiet.get("width", "0"))), int(float(quiet.get("height", "0")))
        img = Image.new("L", (w * px, h * px), 255)
        for r in rects:
            if r.get("class") == "quiet":
                continue
            x, y = int(r.get("x", "0")), int(r.get("y", "0"))
            rw, rh = int(r.get("width", "0")), int(r.get("height", "0"))
            img.paste(0, (x * px, y * px, (x + rw) * px, (y + rh) * px))
        images.append(img)
    return images


def zpl_graphics(zpl: str) -> list[Image.Image]:
    """Every ^GFA graphic field of a ZPL stream as an image."""
    images = []
    for total, row_bytes, data in re.findall(r"\^GFA,(\d+),\d+,(\d+),([0-9A-F]+)", zpl):
        rb, rows = int(row_bytes), int(total) // int(row_bytes)
        assert len(data) == int(total) * 2, "graphic field length does not match its header"
        img = Image.new("L", (rb * 8, rows), 255)
        for y in range(rows):
            bits = int(data[y * rb * 2 : (y + 1) * rb * 2], 16)
            for x in range(rb * 8):
                if bits >> (rb * 8 - 1 - x) & 1:
                    img.putpixel((x, y), 0)
        images.append(img.resize((img.width * 2, img.height * 2), Image.Resampling.NEAREST))
    return images
