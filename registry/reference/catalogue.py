"""Reference tables shipped as CSV under `registry/reference/data/`, read once and cached.

The loaders are pure: they read the package's own data files through `importlib.resources` (so they work
from an installed wheel as well as from a checkout), check every row and return frozen dataclasses. A
malformed file raises `ValueError` naming the file and line: the data ships with the code, so a bad row is a
bug to fix, not input to tolerate.

Tables:

- `categories.csv` — the weapon categories of the ITI definition of small arms and light weapons (REQ-01),
  with the short codes the registry stores (`SA-…` small arms, `LW-…` light weapons). `max_calibre_mm` is
  set only for mortars (100): a mortar must be of a calibre *less than* that, one of 100 mm or more is out
  of scope. Two civilian categories are added to the ITI list, which is not exhaustive ("inter alia"):
  `SA-SHG` shotgun (a firearm under the UN Firearms Protocol, and held in every national civilian register)
  and `SA-HGO` other handgun (single-shot, multi-barrel and manually operated pistols, which are neither
  revolvers nor self-loading pistols). No separate bolt-action or single-shot rifle category: the action is
  an attribute of the weapon, and all rifles are `SA-RIF` whatever their action.
- `manufacturers.csv` — a starter table of manufacturers: `country` is the ISO 3166-1 alpha-2 code of the
  country of manufacture, `mark_forms` how the maker and its country usually appear in marks, and
  `serial_pattern` an optional regular expression (matched with `re.fullmatch`) of plausible serials, used
  for warnings and synthetic data only, never to reject a weapon.
- `calibres.csv` — common calibres with the forms officers type. `bore_mm` is the nominal calibre in
  millimetres (the metric designation's first figure, the usual metric equivalent of an inch designation,
  the nominal bore of a shotgun gauge); it is for scope rules and plausibility checks, not for ballistics.
- `component_kinds.csv` — the parts a mark can be on. `primary` parts carry the weapon's unique mark: frame
  and receivers (REQ-12), and the metal plate embedded in a polymer frame or receiver (REQ-17). `essential`
  parts are the essential components of REQ-41; marks on those that are not primary are secondary marks of
  the same weapon.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import TypeVar

from registry.errors import InvalidCountry
from registry.reference.countries import normalise_country

__all__ = [
    "CALIBRE_KINDS",
    "CATEGORY_GROUPS",
    "Calibre",
    "Category",
    "ComponentKind",
    "Manufacturer",
    "calibre_key",
    "load_calibres",
    "load_categories",
    "load_component_kinds",
    "load_manufacturers",
    "normalise_calibre",
]

CATEGORY_GROUPS = frozenset({"small_arm", "light_weapon"})
CALIBRE_KINDS = frozenset(
    {"pistol", "rifle", "shotgun", "heavy_machine_gun", "grenade", "mortar", "recoilless", "rocket", "other"}
)

_DATA_PACKAGE = "registry.reference"
_LIST_SEPARATOR = "|"
_CODE_RE = re.compile(r"[A-Z0-9][A-Z0-9_-]*")


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name: str
    group: str  # "small_arm" or "light_weapon"
    description: str
    max_calibre_mm: float | None  # exclusive upper bound; only mortars have one (100)

    def calibre_in_scope(self, calibre_mm: float) -> bool:
        """False when the category's calibre limit is reached (REQ-01: a mortar must be under 100 mm)."""
        return self.max_calibre_mm is None or calibre_mm < self.max_calibre_mm


@dataclass(frozen=True, slots=True)
class Manufacturer:
    code: str
    name: str
    country: str  # ISO 3166-1 alpha-2 of the country of manufacture
    mark_forms: tuple[str, ...]
    serial_pattern: str | None
    notes: str

    def serial_plausible(self, serial: str) -> bool | None:
        """Whether `serial` fits the usual pattern; None when no pattern is known. For warnings only."""
        if self.serial_pattern is None:
            return None
        return re.fullmatch(self.serial_pattern, serial.strip().upper()) is not None


@dataclass(frozen=True, slots=True)
class Calibre:
    code: str
    name: str
    aliases: tuple[str, ...]
    bore_mm: float
    kind: str


@dataclass(frozen=True, slots=True)
class ComponentKind:
    code: str
    name: str
    primary: bool  # carries the unique mark (REQ-12, REQ-17)
    essential: bool  # essential component (REQ-41)


_T = TypeVar("_T")


def _read_rows(filename: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """The rows of a data file with their line numbers, after checking the header is exactly `columns`."""
    text = resources.files(_DATA_PACKAGE).joinpath("data", filename).read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    if tuple(reader.fieldnames or ()) != columns:
        raise ValueError(f"{filename}: header is {reader.fieldnames!r}, expected {list(columns)!r}")
    rows = []
    for row in reader:
        if None in row or any(value is None for value in row.values()):
            raise ValueError(f"{filename}:{reader.line_num}: expected {len(columns)} fields")
        rows.append((reader.line_num, {key: value.strip() for key, value in row.items()}))
    return rows


def _load(filename: str, columns: tuple[str, ...], build: Callable[[dict[str, str]], _T]) -> tuple[_T, ...]:
    items: list[_T] = []
    seen: set[str] = set()
    for line, row in _read_rows(filename, columns):
        where = f"{filename}:{line}"
        code = row["code"]
        if not code or not row["name"]:
            raise ValueError(f"{where}: code and name are required")
        if code in seen:
            raise ValueError(f"{where}: duplicate code {code!r}")
        seen.add(code)
        try:
            items.append(build(row))
        except (ValueError, InvalidCountry) as exc:
            raise ValueError(f"{where}: {exc}") from exc
    return tuple(items)


def _bool(text: str) -> bool:
    if text == "true":
        return True
    if text == "false":
        return False
    raise ValueError(f"expected 'true' or 'false', got {text!r}")


def _split(text: str) -> tuple[str, ...]:
    parts = tuple(part.strip() for part in text.split(_LIST_SEPARATOR)) if text else ()
    if any(not part for part in parts):
        raise ValueError(f"empty item in list {text!r}")
    return parts


def _upper_code(code: str) -> str:
    if not _CODE_RE.fullmatch(code):
        raise ValueError(f"code {code!r} must be upper-case letters, digits, '-' or '_'")
    return code


def _category(row: dict[str, str]) -> Category:
    if row["group"] not in CATEGORY_GROUPS:
        raise ValueError(f"group {row['group']!r} is not one of {sorted(CATEGORY_GROUPS)}")
    return Category(
        code=_upper_code(row["code"]),
        name=row["name"],
        group=row["group"],
        description=row["description"],
        max_calibre_mm=float(row["max_calibre_mm"]) if row["max_calibre_mm"] else None,
    )


def _manufacturer(row: dict[str, str]) -> Manufacturer:
    pattern = row["serial_pattern"] or None
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"serial_pattern {pattern!r} does not compile: {exc}") from exc
    return Manufacturer(
        code=_upper_code(row["code"]),
        name=row["name"],
        country=normalise_country(row["country"]),
        mark_forms=_split(row["mark_forms"]),
        serial_pattern=pattern,
        notes=row["notes"],
    )


def _calibre(row: dict[str, str]) -> Calibre:
    if row["kind"] not in CALIBRE_KINDS:
        raise ValueError(f"kind {row['kind']!r} is not one of {sorted(CALIBRE_KINDS)}")
    bore = float(row["bore_mm"])
    if not bore > 0:
        raise ValueError(f"bore_mm must be positive, got {row['bore_mm']!r}")
    return Calibre(
        code=row["code"],
        name=row["name"],
        aliases=_split(row["aliases"]),
        bore_mm=bore,
        kind=row["kind"],
    )


def _component_kind(row: dict[str, str]) -> ComponentKind:
    return ComponentKind(
        code=row["code"], name=row["name"], primary=_bool(row["primary"]), essential=_bool(row["essential"])
    )


@functools.cache
def _categories() -> tuple[Category, ...]:
    return _load("categories.csv", ("code", "name", "group", "description", "max_calibre_mm"), _category)


@functools.cache
def _manufacturers() -> tuple[Manufacturer, ...]:
    return _load(
        "manufacturers.csv",
        ("code", "name", "country", "mark_forms", "serial_pattern", "notes"),
        _manufacturer,
    )


@functools.cache
def _calibres() -> tuple[Calibre, ...]:
    return _load("calibres.csv", ("code", "name", "aliases", "bore_mm", "kind"), _calibre)


@functools.cache
def _component_kinds() -> tuple[ComponentKind, ...]:
    return _load("component_kinds.csv", ("code", "name", "primary", "essential"), _component_kind)


def load_categories() -> list[Category]:
    """The weapon categories (REQ-01), in file order. A new list each call; the data is read once."""
    return list(_categories())


def load_manufacturers() -> list[Manufacturer]:
    """The starter manufacturer table, in file order."""
    return list(_manufacturers())


def load_calibres() -> list[Calibre]:
    """The calibre table, in file order."""
    return list(_calibres())


def load_component_kinds() -> list[ComponentKind]:
    """The component kinds a mark can be on (REQ-12, REQ-17, REQ-41), in file order."""
    return list(_component_kinds())


def calibre_key(text: str) -> str:
    """The form calibre text is compared in: upper case, no whitespace, '×' as 'X', decimal comma as point."""
    return "".join(text.split()).upper().replace("×", "X").replace(",", ".")


@functools.cache
def _calibre_index() -> dict[str, str]:
    """Every code and alias, by `calibre_key`, to its calibre code. Raises if two calibres share a form."""
    index: dict[str, str] = {}
    for calibre in _calibres():
        for form in (calibre.code, calibre.name, *calibre.aliases):
            key = calibre_key(form)
            if index.setdefault(key, calibre.code) != calibre.code:
                raise ValueError(
                    f"calibres.csv: {form!r} is a form of both {index[key]!r} and {calibre.code!r}"
                )
    return index


def _candidates(key: str) -> tuple[str, ...]:
    """`key`, then the same without a trailing 'MM' ("7.62x39mm"), each with and without a leading '.'."""
    bases = [key]
    if key.endswith("MM") and len(key) > 2:
        bases.append(key[:-2])
    out: list[str] = []
    for base in bases:
        out.append(base)
        out.append(base[1:] if base.startswith(".") else "." + base)
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def normalise_calibre(text: str) -> str | None:
    """The calibre code for any known code or alias, ignoring case and spaces ("9 MM LUGER" -> "9x19").

    Returns None for unknown or empty text: the caller decides whether that is a warning (it is, for REQ-06).
    """
    key = calibre_key(text)
    if not key:
        return None
    index = _calibre_index()
    for candidate in _candidates(key):
        code = index.get(candidate)
        if code is not None:
            return code
    return None
