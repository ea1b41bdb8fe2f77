"""Decode the Data Matrix (or any symbol) in a camera frame or image file with zxing-cpp.

The exact bytes are returned, separators (RS/GS/EOT) included: zxing-cpp's default text mode would turn
them into printable pictures (␞ ␝ ␄) and a payload compared on that would never match.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import zxingcpp
from PIL import Image


def decode_image(img: Image.Image) -> list[str]:
    """Every symbol found, as text decoded byte for byte (latin-1 keeps each byte as one character)."""
    return [bytes(b.bytes).decode("latin-1") for b in zxingcpp.read_barcodes(img.convert("L"))]


@dataclass
class ImageFileCamera:
    """A verification camera whose software saves each capture to `path` (the station waits for it)."""

    path: Path
    wait_seconds: float = 10.0

    def read(self) -> list[str]:
        deadline = time.monotonic() + self.wait_seconds
        while not self.path.exists():
            if time.monotonic() > deadline:
                return []
            time.sleep(0.05)
        with Image.open(self.path) as img:
            return decode_image(img)
