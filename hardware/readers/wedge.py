"""Keyboard-wedge scanners type each read as keystrokes: RS, GS and EOT are lost (or arrive as odd keys),
so a unique-mark payload reaches us as `[)>06VGLOCK1P17SABC1234LAT23D2024`. That text cannot be split back
into fields without guessing, so we never parse it: we compare it with the separator-less form of payloads
we know (`flatten`), and otherwise treat a plain scan as a serial or label text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from hardware.codes import uii
from hardware.codes.errors import PayloadError
from hardware.codes.uii import UniqueMark

_CONTROL = re.compile(r"[\x00-\x1f]")


def flatten(payload: str) -> str:
    """A payload as a keyboard wedge delivers it: control characters dropped."""
    return _CONTROL.sub("", payload)


@dataclass(frozen=True)
class Scan:
    raw: str
    mark: UniqueMark | None  # a well-formed payload
    separators_lost: bool  # looks like a payload typed by a wedge: match it only against known payloads

    @property
    def text(self) -> str:
        return self.raw.strip()


def interpret(raw: str) -> Scan:
    text = raw.strip("\r\n")
    try:
        return Scan(text, uii.parse(text), False)
    except PayloadError:
        pass
    return Scan(text, None, flatten(text).startswith("[)>06"))


class KeyboardWedge:
    """Reads from a text stream the wedge types into (a terminal), one scan per line."""

    name = "keyboard-wedge"

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def scans(self) -> Iterator[str]:
        for line in self._stream:
            line = line.rstrip("\r\n")
            if not line:
                return  # an empty line ends the sweep
            yield line
