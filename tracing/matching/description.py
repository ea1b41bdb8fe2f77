"""What the finder saw besides the marking, and how far a registered weapon agrees with it.

A trace request describes the weapon (ITI 17(b): type or category, make, model, calibre). The serial alone
often cannot decide between weapons: among millions, a reading with two unreadable characters fits dozens
of registered serials equally well. The description breaks those ties. It only ever reorders candidates the
marking found; it never adds a weapon, and it never removes one, because a finder can misread a model or
write a make the registry spells differently (docs/tracing.md, "The matcher").

Weights, out of the marking's 1.0: agreement on the make outweighs one look-alike misreading (0.04) and one
transposition (0.08), so that between an exact serial of another make and a near serial of the described
make the described one ranks first; model and calibre then order weapons of the same make. A field the
finder left empty, or the registry does not hold, counts neither way.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.reference.catalogue import calibre_key, normalise_calibre
from registry.reference.service import text_key

WEIGHTS = {"make": 0.10, "model": 0.05, "calibre": 0.04, "category": 0.02, "country": 0.02, "year": 0.02}
MAX_BONUS = sum(WEIGHTS.values())
MIN_MAKE = 3  # a make key shorter than this is not compared by prefix ("FN" would agree with "FNH" and more)


@dataclass(frozen=True)
class Registered:
    """The fields of a registered weapon a description is compared with."""

    make: str | None
    manufacturer_code: str | None
    model: str | None
    calibre: str | None
    category: str | None
    country: str | None
    year: int | None


@dataclass(frozen=True)
class Description:
    """The weapon as described by the finder; every field optional."""

    make: str | None = None
    model: str | None = None
    calibre: str | None = None
    category: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2, country of manufacture
    year: int | None = None  # year of manufacture

    def __bool__(self) -> bool:
        return any(v not in (None, "") for v in (self.make, self.model, self.calibre, self.category,
                                                 self.country, self.year))  # fmt: skip

    def agreement(self, w: Registered) -> tuple[float, tuple[str, ...]]:
        """The bonus `w` earns and the fields that agree, in `WEIGHTS` order."""
        agreed = tuple(f for f in WEIGHTS if self._agrees(f, w))
        return round(sum(WEIGHTS[f] for f in agreed), 4), agreed

    def _agrees(self, field: str, w: Registered) -> bool:
        if field == "make":
            return bool(self.make) and _same_make(self.make or "", w)
        if field == "model":
            return bool(self.model and w.model) and text_key(self.model or "") == text_key(w.model or "")
        if field == "calibre":
            return bool(self.calibre and w.calibre) and _same_calibre(self.calibre or "", w.calibre or "")
        if field == "category":
            return bool(self.category and w.category) and self.category == w.category
        if field == "country":
            return bool(self.country and w.country) and (self.country or "").upper() == w.country
        return self.year is not None and w.year is not None and self.year == w.year


def _same_make(described: str, w: Registered) -> bool:
    """Same make when the keys are equal, or one begins the other ("Glock" and "GLOCK GmbH"), or it is the
    manufacturer's code in the reference list."""
    d = text_key(described)
    if not d:
        return False
    for registered in (w.make, w.manufacturer_code):
        r = text_key(registered or "")
        if not r:
            continue
        if d == r or (min(len(d), len(r)) >= MIN_MAKE and (d.startswith(r) or r.startswith(d))):
            return True
    return False


def _same_calibre(described: str, registered: str) -> bool:
    """Through the calibre reference list ("9mm Luger" is 9x19), else as written."""
    code = normalise_calibre(described)
    if code is not None:
        return code == (normalise_calibre(registered) or registered)
    return calibre_key(described) == calibre_key(registered)
