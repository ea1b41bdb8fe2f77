"""Realistic, seed-deterministic import files of any size, generated as a stream.

    python -m bench.generate --weapons 1000000 --seed 1 --out /tmp/weapons.csv

Every row is a weapon with one `manufactured` event, drawn from the shipped reference tables
(`registry/reference/data/manufacturers.csv` and `models.csv`): the category and calibre are those of the
model, the calibre is sometimes written as an officer would type it ("9mm Luger" for 9x19), the year lies in
the model's production years, polymer-framed models say so and name the plate that carries the mark, and
each maker has its own serial format (GLOCK "BKZ123", Ruger "380-12345", HK "24-012345", …).

Serials are unique per maker without remembering them: the k-th weapon of a maker gets serial number
`(k * a + b) mod space`, a bijection on the maker's serial space (`a` coprime to it), written in the maker's
format; past the end of the space a "-<lap>" suffix keeps them unique. So memory stays constant whatever the
number of rows, and the same seed always gives the same file, byte for byte (nothing depends on the clock).

Longer histories (1–20 events a weapon, recorded through the registry's service after the import) are
`bench/history.py`'s, keyed by the same seed and row number.

The data are synthetic: any resemblance of a serial to a real weapon is chance.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import itertools
import math
import random
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple, TextIO

from registry.reference.catalogue import normalise_calibre

# Columns of the import file, in the order `registry.imports.service.record_to_inputs` documents.
COLUMNS = (
    "category",
    "make",
    "model",
    "calibre",
    "serial",
    "country_of_manufacture",
    "year_of_manufacture",
    "frame_material",
    "mark_carrier",
    "mark_text",
    "event_type",
    "occurred_at",
)

# Fixed, not "this year": the file must not change with the date it is generated on.
LAST_YEAR = 2024
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O, Q: makers avoid them next to 1 and 0
_NOT_ALNUM = re.compile(r"[\W_]+")

# Relative frequency of makers in a national register that holds civilian and state weapons (illustrative).
MAKER_WEIGHTS: dict[str, float] = {
    "GLOCK": 9,
    "BERETTA": 6,
    "KALASHNIKOV": 6,
    "SMITH_WESSON": 5,
    "RUGER": 5,
    "CZ": 4,
    "COLT": 4,
    "SIG_US": 4,
    "TAURUS": 4,
    "NORINCO": 4,
    "FNH": 4,
    "HK": 3,
    "WALTHER": 3,
    "REMINGTON": 3,
    "MOSSBERG": 3,
    "BROWNING": 2,
    "ZASTAVA": 2,
    "IZHMEKH": 2,
    "SAVAGE": 2,
    "SPRINGFIELD": 2,
    "BENELLI": 2,
    "TULA": 2,
    "IWI": 2,
    "STEYR": 1.5,
    "SIG_DE": 1.5,
    "BERSA": 1.5,
}

# Serial formats: L a letter, D a digit, anything else is written as is. Default: two letters, six digits.
SERIAL_FORMATS: dict[str, str] = {
    "GLOCK": "LLLDDD",
    "BERETTA": "LLDDDDDDL",
    "FNH": "DDDLLDDDDD",
    "HK": "DD-DDDDDD",
    "WALTHER": "DDDDDDL",
    "SIG_US": "DDLDDDDDD",
    "SIG_DE": "LDDDDDDD",
    "CZ": "LDDDDDD",
    "KALASHNIKOV": "DDDDDDDDD",
    "NORINCO": "DDDDDDDD",
    "ZASTAVA": "DDDDDDD",
    "IZHMEKH": "LLDDDD",
    "TULA": "DDDDDDD",
    "COLT": "LLDDDDDD",
    "SMITH_WESSON": "LLLDDDD",
    "RUGER": "DDD-DDDDD",
    "TAURUS": "LLLDDDDDD",
    "REMINGTON": "LDDDDDDD",
    "MOSSBERG": "LDDDDDD",
    "SAVAGE": "LDDDDDDD",
    "SPRINGFIELD": "LLDDDDDD",
    "BROWNING": "DDDDDLLDDD",
}

# First production year, and last where production ended (approximate; the default is 1980 onwards).
MODEL_YEARS: dict[tuple[str, str], tuple[int, int]] = {
    ("GLOCK", "17"): (1982, LAST_YEAR),
    ("GLOCK", "19"): (1988, LAST_YEAR),
    ("GLOCK", "22"): (1990, LAST_YEAR),
    ("GLOCK", "26"): (1995, LAST_YEAR),
    ("BERETTA", "92FS"): (1989, LAST_YEAR),
    ("BERETTA", "M9"): (1985, 2020),
    ("BERETTA", "PX4 Storm"): (2004, LAST_YEAR),
    ("BERETTA", "ARX160"): (2008, LAST_YEAR),
    ("FNH", "FAL"): (1953, 1990),
    ("FNH", "MAG"): (1958, LAST_YEAR),
    ("FNH", "Minimi"): (1974, LAST_YEAR),
    ("FNH", "P90"): (1990, LAST_YEAR),
    ("FNH", "SCAR-L"): (2004, LAST_YEAR),
    ("FNH", "Five-seveN"): (1998, LAST_YEAR),
    ("FNH", "Hi-Power"): (1935, 2017),
    ("FNH", "M2HB-QCB"): (1980, LAST_YEAR),
    ("HK", "G3"): (1959, 2000),
    ("HK", "G36"): (1996, LAST_YEAR),
    ("HK", "HK416"): (2005, LAST_YEAR),
    ("HK", "MP5"): (1966, LAST_YEAR),
    ("HK", "UMP"): (1999, LAST_YEAR),
    ("HK", "USP"): (1993, LAST_YEAR),
    ("HK", "MP7"): (2001, LAST_YEAR),
    ("HK", "GMG"): (1995, LAST_YEAR),
    ("WALTHER", "P99"): (1997, LAST_YEAR),
    ("WALTHER", "PPK"): (1931, LAST_YEAR),
    ("WALTHER", "PDP"): (2021, LAST_YEAR),
    ("SIG_US", "P320"): (2014, LAST_YEAR),
    ("SIG_US", "P365"): (2018, LAST_YEAR),
    ("SIG_DE", "P226"): (1984, 2020),
    ("SWISSARMS", "SG 550"): (1986, LAST_YEAR),
    ("CZ", "75"): (1975, LAST_YEAR),
    ("CZ", "P-10 C"): (2017, LAST_YEAR),
    ("CZ", "Scorpion EVO 3"): (2009, LAST_YEAR),
    ("CZ", "Bren 2"): (2016, LAST_YEAR),
    ("STEYR", "AUG"): (1978, LAST_YEAR),
    ("KALASHNIKOV", "AK-74M"): (1991, LAST_YEAR),
    ("KALASHNIKOV", "AK-103"): (2001, LAST_YEAR),
    ("KALASHNIKOV", "AKM"): (1959, 1977),
    ("KALASHNIKOV", "PKM"): (1969, LAST_YEAR),
    ("KALASHNIKOV", "SVD"): (1963, LAST_YEAR),
    ("KALASHNIKOV", "RPK"): (1961, 1978),
    ("IZHMEKH", "PM"): (1951, 2000),
    ("TULA", "TOZ-34"): (1964, 2000),
    ("NORINCO", "Type 56"): (1956, 2000),
    ("NORINCO", "QBZ-95"): (1995, LAST_YEAR),
    ("NORINCO", "Type 54"): (1954, 1990),
    ("COLT", "M4"): (1994, LAST_YEAR),
    ("COLT", "M16A2"): (1983, 2000),
    ("COLT", "M1911A1"): (1924, 1985),
    ("COLT", "Python"): (1955, LAST_YEAR),
    ("SMITH_WESSON", "Model 10"): (1957, LAST_YEAR),
    ("SMITH_WESSON", "M&P9"): (2005, LAST_YEAR),
    ("RUGER", "10/22"): (1964, LAST_YEAR),
    ("RUGER", "LCP"): (2008, LAST_YEAR),
    ("RUGER", "GP100"): (1985, LAST_YEAR),
    ("IWI", "Tavor TAR-21"): (2001, LAST_YEAR),
    ("IWI", "Galil ACE"): (2008, LAST_YEAR),
    ("IWI", "Negev"): (1997, LAST_YEAR),
    ("IWI", "Jericho 941"): (1990, LAST_YEAR),
    ("IWI", "Uzi"): (1954, LAST_YEAR),
    ("TAURUS", "G2C"): (2016, LAST_YEAR),
    ("TAURUS", "PT92"): (1983, LAST_YEAR),
    ("ZASTAVA", "M70"): (1970, LAST_YEAR),
    ("ZASTAVA", "M84"): (1984, LAST_YEAR),
    ("ZASTAVA", "M93"): (1998, LAST_YEAR),
    ("FB_RADOM", "MSBS Grot"): (2017, LAST_YEAR),
    ("CUGIR", "PM md. 63"): (1963, 1990),
    ("MKE", "MPT-76"): (2014, LAST_YEAR),
    ("DENEL", "R4"): (1980, 2005),
    ("AWEIL", "INSAS"): (1998, LAST_YEAR),
    ("POF", "G3P4"): (1968, LAST_YEAR),
    ("SNT_MOTIV", "K2"): (1984, LAST_YEAR),
    ("HOWA", "Type 89"): (1989, LAST_YEAR),
    ("SAKO", "TRG 42"): (1999, LAST_YEAR),
    ("BENELLI", "M4"): (1998, LAST_YEAR),
    ("BROWNING", "Citori"): (1973, LAST_YEAR),
    ("REMINGTON", "870"): (1950, LAST_YEAR),
    ("REMINGTON", "700"): (1962, LAST_YEAR),
    ("MOSSBERG", "500"): (1961, LAST_YEAR),
    ("SAVAGE", "110"): (1958, LAST_YEAR),
    ("SPRINGFIELD", "XD"): (2002, LAST_YEAR),
    ("HS_PRODUKT", "HS2000"): (1999, LAST_YEAR),
    ("PINDAD", "SS2"): (2006, LAST_YEAR),
    ("IMBEL", "IA2"): (2012, LAST_YEAR),
    ("LITHGOW", "F90"): (2015, LAST_YEAR),
    ("COLT_CANADA", "C7"): (1984, LAST_YEAR),
    ("FAMAE", "SAF"): (1993, LAST_YEAR),
    ("BERSA", "Thunder 380"): (1995, LAST_YEAR),
    ("ARMSCOR", "M1911"): (1985, LAST_YEAR),
    ("ST_ENG", "SAR 21"): (1999, LAST_YEAR),
    ("FEG", "PA-63"): (1963, 1990),
    ("MAADI", "Misr"): (1960, LAST_YEAR),
}

# Models with a polymer frame: the mark is on an embedded metal plate (recorded as `mark_carrier`).
POLYMER = {
    ("GLOCK", "17"),
    ("GLOCK", "19"),
    ("GLOCK", "22"),
    ("GLOCK", "26"),
    ("BERETTA", "PX4 Storm"),
    ("FNH", "Five-seveN"),
    ("HK", "USP"),
    ("WALTHER", "P99"),
    ("WALTHER", "PDP"),
    ("SIG_US", "P320"),
    ("SIG_US", "P365"),
    ("CZ", "P-10 C"),
    ("SMITH_WESSON", "M&P9"),
    ("RUGER", "LCP"),
    ("TAURUS", "G2C"),
    ("SPRINGFIELD", "XD"),
    ("HS_PRODUKT", "HS2000"),
}

# Where a maker's weapons are not all made in its home country: (country, share) pairs, the rest at home.
OTHER_COUNTRIES: dict[str, tuple[tuple[str, float], ...]] = {
    "BERETTA": (("US", 0.15),),
    "FNH": (("US", 0.2),),
    "TAURUS": (("US", 0.1),),
    "BROWNING": (("BE", 0.5), ("JP", 0.4), ("PT", 0.05)),
    "SPRINGFIELD": (("HR", 1.0),),  # XD pistols are made by HS Produkt
}

# Other ways officers write some makes (each is one of the maker's mark forms in manufacturers.csv).
ALSO_WRITTEN: dict[str, tuple[str, ...]] = {
    "BERETTA": ("P. BERETTA",),
    "HK": ("H&K", "HECKLER & KOCH"),
    "SMITH_WESSON": ("S&W",),
    "KALASHNIKOV": ("IZHMASH",),
    "IZHMEKH": ("BAIKAL",),
    "RUGER": ("STURM RUGER",),
    "FNH": ("FN HERSTAL",),
    "CZ": ("ČESKÁ ZBROJOVKA", "CESKA ZBROJOVKA"),
    "COLT": ("COLT'S MFG CO",),
    "STEYR": ("STEYR MANNLICHER",),
}

_COUNTRY_WORDS = {
    "AT": "AUSTRIA",
    "IT": "ITALY",
    "BE": "BELGIUM",
    "DE": "GERMANY",
    "US": "USA",
    "CZ": "CZECH REPUBLIC",
    "RU": "RUSSIA",
    "CN": "CHINA",
    "IL": "ISRAEL",
    "BR": "BRAZIL",
    "RS": "SERBIA",
    "JP": "JAPAN",
    "HR": "CROATIA",
    "HU": "HUNGARY",
    "KR": "KOREA",
    "AU": "AUSTRALIA",
    "FI": "FINLAND",
    "TR": "TURKEY",
    "PL": "POLAND",
}


def text_key(value: str) -> str:
    """The registry's comparison form (upper-case letters and digits only), for the baseline rows."""
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", value).upper())


class SerialFormat:
    """A bijection from the k-th weapon of a maker to a serial in the maker's format."""

    def __init__(self, spec: str, salt: int) -> None:
        self.spec = spec
        self.radices = [23 if c == "L" else 10 for c in spec if c in "LD"]
        self.space = math.prod(self.radices)
        a = int(self.space * 0.6180339887) | 1
        while math.gcd(a, self.space) != 1:
            a += 2
        self.a = a
        self.b = (salt * 0x9E3779B97F4A7C15) % self.space  # start somewhere in the middle of the space

    def __call__(self, k: int) -> str:
        lap, _ = divmod(k, self.space)
        x = (k * self.a + self.b) % self.space
        places = []
        for radix in reversed(self.radices):
            x, d = divmod(x, radix)
            places.append(d)
        out = []
        for c in self.spec:
            if c == "L":
                out.append(_LETTERS[places.pop()])
            elif c == "D":
                out.append(str(places.pop()))
            else:
                out.append(c)
        return "".join(out) + (f"-{lap}" if lap else "")


@dataclass(frozen=True)
class Model:
    maker: str
    name: str
    category: str
    calibre: str  # the code
    calibre_forms: tuple[str, ...]  # how officers write it; each maps back to `calibre`
    years: tuple[int, int]
    polymer: bool


@dataclass(frozen=True)
class Maker:
    code: str
    country: str
    make_forms: tuple[str, ...]  # how the make is written in the file; each maps to `code`
    mark_word: str  # the maker's name as stamped
    serial: SerialFormat
    models: tuple[Model, ...]


class Record(NamedTuple):
    """One generated weapon: the file's text, plus the canonical values the registry stores (for the
    plain-SQL baseline, which does not re-implement the registry's normalisation)."""

    category: str
    make: str
    model: str
    calibre: str
    serial: str
    country: str
    year: int
    frame_material: str
    mark_carrier: str
    mark_text: str
    event_type: str
    occurred_at: str
    # canonical
    maker_code: str
    calibre_code: str
    occurred: datetime

    def csv_row(self) -> tuple[object, ...]:
        return self[:12]


def _read(name: str) -> list[dict[str, str]]:
    with resources.files("registry.reference").joinpath(f"data/{name}").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _calibre_forms(code: str, calibres: dict[str, dict[str, str]]) -> tuple[str, ...]:
    row = calibres.get(code)
    forms = [code]
    if row:
        forms += [a for a in row["aliases"].split("|") if a and normalise_calibre(a) == code]
    return tuple(dict.fromkeys(forms))


@cache
def makers() -> tuple[Maker, ...]:
    """Makers that have at least one model in the shipped tables, with their models."""
    calibres = {r["code"]: r for r in _read("calibres.csv")}
    by_maker: dict[str, list[Model]] = {}
    for r in _read("models.csv"):
        key = (r["manufacturer"], r["model"])
        by_maker.setdefault(r["manufacturer"], []).append(
            Model(
                maker=r["manufacturer"],
                name=r["model"],
                category=r["category"],
                calibre=r["calibre"],
                calibre_forms=_calibre_forms(r["calibre"], calibres),
                years=MODEL_YEARS.get(key, (1980, LAST_YEAR)),
                polymer=key in POLYMER,
            )
        )
    out = []
    claimed: set[str] = set()  # a form another maker lists first names that maker, not this one
    for i, r in enumerate(_read("manufacturers.csv")):
        forms = [f for f in r["mark_forms"].split("|") if f]
        brand = forms[0] if forms and text_key(forms[0]) not in claimed else None
        claimed.update(text_key(f) for f in [r["code"], r["name"], *forms])
        make_forms = tuple(
            dict.fromkeys([*([brand] if brand else []), *ALSO_WRITTEN.get(r["code"], ()), r["name"]])
        )
        if r["code"] not in by_maker:
            continue
        out.append(
            Maker(
                code=r["code"],
                country=r["country"],
                make_forms=make_forms,
                mark_word=(forms or [r["name"]])[0].upper(),
                serial=SerialFormat(SERIAL_FORMATS.get(r["code"], "LLDDDDDD"), salt=7919 * (i + 1)),
                models=tuple(by_maker[r["code"]]),
            )
        )
    return tuple(out)


def records(n: int, seed: int = 1) -> Iterator[Record]:
    """The first n records for `seed` (a prefix of any longer run with the same seed). Constant memory."""
    rng = random.Random(seed)
    table = makers()
    cum = list(itertools.accumulate(MAKER_WEIGHTS.get(m.code, 0.5) for m in table))
    total = cum[-1]
    counters = [0] * len(table)
    for _ in range(n):
        i = bisect.bisect_right(cum, rng.random() * total)
        maker = table[i]
        k = counters[i]
        counters[i] += 1
        model = rng.choice(maker.models)
        first, last = model.years
        # More recent years are more common (older weapons are destroyed, lost or exported over time).
        year = last - int((last - first + 1) * rng.random() ** 1.6)
        year = max(first, min(last, year))
        country = maker.country
        r = rng.random()
        for other, share in OTHER_COUNTRIES.get(maker.code, ()):
            if r < share:
                country = other
                break
            r -= share
        serial = maker.serial(k)
        if maker.code == "GLOCK" and rng.random() < 0.05:
            serial += "US"  # the US-market suffix; unique as the base serial already is
        day = date(year, 1, 1) + timedelta(days=rng.randrange(365))
        if rng.random() < 0.2:
            occurred = datetime(
                day.year, day.month, day.day, 8 + rng.randrange(10), rng.randrange(60), tzinfo=UTC
            )
            occurred_text = occurred.strftime("%Y-%m-%dT%H:%M:00Z")
        else:
            occurred = datetime(day.year, day.month, day.day, tzinfo=UTC)
            occurred_text = day.isoformat()
        make = maker.make_forms[0] if rng.random() < 0.7 else rng.choice(maker.make_forms)
        if rng.random() < 0.2:
            make = make.title()
        calibre = model.calibre if rng.random() < 0.7 else rng.choice(model.calibre_forms)
        r = rng.random()
        if r < 0.5:
            mark_text = ""  # the registry composes "make country serial"
        elif r < 0.8:
            mark_text = f"{maker.mark_word} {serial}"
        else:
            mark_text = f"{maker.mark_word} {_COUNTRY_WORDS.get(country, country)} {serial}"
        yield Record(
            category=model.category,
            make=make,
            model=model.name,
            calibre=calibre,
            serial=serial,
            country=country,
            year=year,
            frame_material="polymer" if model.polymer else "metal",
            mark_carrier="embedded serial plate" if model.polymer else "",
            mark_text=mark_text,
            event_type="manufactured",
            occurred_at=occurred_text,
            maker_code=maker.code,
            calibre_code=model.calibre,
            occurred=occurred,
        )


def write_csv(out: TextIO, n: int, seed: int = 1) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(r.csv_row() for r in records(n, seed))
    return n


def write_file(path: Path, n: int, seed: int = 1) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        write_csv(fh, n, seed)
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weapons", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, help="CSV file to write (default: standard output)")
    args = p.parse_args(argv)
    if args.out:
        write_file(args.out, args.weapons, args.seed)
    else:
        write_csv(sys.stdout, args.weapons, args.seed)


if __name__ == "__main__":
    main()
