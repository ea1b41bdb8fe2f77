"""Fuzz the Data Matrix / ISO 15434 unique-mark payload parser (`hardware.codes.uii.parse`).

Documented errors: `PayloadError` only. Round trip: every payload `parse` accepts gives a mark that
`compose` turns back into a payload which parses to the same mark.
"""

from __future__ import annotations

import re

from fuzz._runner import fuzz, time_bound
from hardware.codes import uii
from hardware.codes.errors import PayloadError

_DATA = re.compile(r"[A-Z0-9./-]{1,35}")
DIS = (*uii.KNOWN_DIS, "1V", "99X", "")


def payload_of(data: bytes) -> str:
    """Half the inputs are raw text; the other half a well-formed envelope around fuzzed elements, so the
    fuzzer spends its time in the element checks instead of rediscovering the header."""
    if not data or data[0] % 2 == 0:
        return data[1:].decode("utf-8", errors="replace")
    elements = []
    for chunk in data[1:].split(b"\x1d"):
        if not chunk:
            continue
        di = DIS[chunk[0] % len(DIS)]
        elements.append(di + chunk[1:].decode("latin-1"))
    return uii.HEADER + uii.FORMAT_06 + uii.GS.join(elements) + uii.TRAILER


def check(data: bytes) -> None:
    payload = payload_of(data)
    with time_bound():
        try:
            mark = uii.parse(payload)
        except PayloadError as exc:
            assert exc.message, "a PayloadError names what is wrong"
            return
    for di, value in mark.elements():
        # The documented alphabet, whole value: nothing a printer or a database key would choke on.
        assert _DATA.fullmatch(value), (di, value)
    again = uii.compose(mark)  # must not raise: the parser accepted this content
    assert uii.parse(again) == mark, (payload, again)
    assert uii.describe(again), "a valid payload describes itself"


if __name__ == "__main__":
    fuzz(check)
