"""Confusable skeletons of serials and mark texts. Pure: no database, no I/O.

An officer reading a worn, painted or corroded mark confuses characters that look alike: 0/O/D/Q, 1/I/L/7,
2/Z, 5/S, 6/G, 8/B, and Cyrillic or Greek capitals typed for Latin ones. The *skeleton* of a text replaces
every character by the canonical member of its class, so two readings of the same mark have the same
skeleton. The registry keeps the skeleton of every serial and mark text in `serial_skeletons` (filled by
database triggers, see migration 0008), indexed, so a damaged reading is found by index probes, never by
scanning the registry.

The SQL side computes exactly `skeleton()`; `tests/tracing/matching/test_skeleton.py` checks the two agree.
"""

from __future__ import annotations

import re
import unicodedata

UNREADABLE = "?"

# The confusable classes: the first character is the canonical one.
CONFUSABLE_CLASSES: tuple[str, ...] = ("0ODQ", "1IL7", "2Z", "5S", "6G", "8B")

# Cyrillic and Greek capitals that look like Latin ones (what a keyboard in another script produces).
HOMOGLYPHS: dict[str, str] = {
    # Cyrillic
    "А": "A", "В": "B", "Е": "E", "З": "3", "І": "I", "Ј": "J", "К": "K", "М": "M", "Н": "H", "О": "O",
    "Р": "P", "С": "C", "Ѕ": "S", "Т": "T", "У": "Y", "Х": "X",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
}  # fmt: skip

_CLASS_OF: dict[str, str] = {c: cls[0] for cls in CONFUSABLE_CLASSES for c in cls}

# Every source character straight to its final canonical character. No target is also a source, so applying
# the pairs one after another (nested SQL replace()) gives the same result as translating at once.
SKELETON_MAP: dict[str, str] = {
    **{c: canon for c, canon in _CLASS_OF.items() if c != canon},
    **{src: _CLASS_OF.get(latin, latin) for src, latin in HOMOGLYPHS.items()},
}

# The characters a skeleton can hold at a position the officer marked unreadable (Latin letters and digits).
SKELETON_ALPHABET: tuple[str, ...] = tuple(
    sorted({_CLASS_OF.get(c, c) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"})
)

# Characters an officer may use for an unreadable position; all become "?".
_UNREADABLE_INPUT = re.compile(r"[?*_�]")
_NOT_KEPT = re.compile(r"[^\w?]|_", re.UNICODE)


def normalise_observed(value: str) -> str:
    """A marking as observed, normalised like the registry's keys but keeping unreadable positions as `?`
    (also accepted as `*`, `_` or the replacement character)."""
    upper = unicodedata.normalize("NFKC", value).upper()
    return _NOT_KEPT.sub("", _UNREADABLE_INPUT.sub(UNREADABLE, upper))


def skeleton(value: str) -> str:
    """The confusable skeleton of a normalised text; `?` stays `?`. Same length as the input."""
    return "".join(SKELETON_MAP.get(c, c) for c in value)


def same_class(a: str, b: str) -> bool:
    return SKELETON_MAP.get(a, a) == SKELETON_MAP.get(b, b)


# SQL: the same function for the triggers of migration 0008 (kept literal there, as migrations are frozen).
def sql_skeleton(expr: str, dialect: str) -> str:
    if dialect == "postgresql":
        src = "".join(SKELETON_MAP)
        dst = "".join(SKELETON_MAP.values())
        return f"translate({expr}, '{src}', '{dst}')"
    out = expr
    for src, dst in SKELETON_MAP.items():
        out = f"replace({out}, '{src}', '{dst}')"
    return out


REVERSED_TAIL = 24  # characters of the reversed skeleton kept for suffix look-ups


def reversed_tail(value: str) -> str:
    """The last `REVERSED_TAIL` characters, reversed: a suffix look-up becomes an indexed prefix range."""
    return value[::-1][:REVERSED_TAIL]
