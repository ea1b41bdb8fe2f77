"""Fuzz bulk-import parsing: the CSV / JSON Lines readers (`registry.imports.formats.Reader`) and the row
validation that turns each record into checked rows (`registry.imports.service._prepare`), without writing.

Documented errors: each record is either a prepared weapon or a `RegistryError` naming its field (which the
import reports as a reject); a file that is not UTF-8 or not CSV is one `ValidationError` on `file`.
"""

from __future__ import annotations

import tempfile
import uuid
from functools import cache
from pathlib import Path

import orjson
from sqlalchemy.orm import Session

from fuzz._db import scratch_engine
from fuzz._runner import fuzz, time_bound
from registry.errors import RegistryError, ValidationError
from registry.imports import service
from registry.imports.formats import Reader
from registry.profiles import get_profile
from registry.reference.service import Catalogue, load_catalogue

PROFILE = get_profile("iti")
JOB = uuid.UUID(int=1)
MAX_RECORDS = 50  # enough to exercise a file; the fuzzer's inputs are a few KiB
_DIR = Path(tempfile.mkdtemp(prefix="iti-fuzz-imports-"))

# A valid flat row, so mutations start from records that get past the first checks.
CSV_SEED = (
    b"category,make,model,calibre,serial,country_of_manufacture,year_of_manufacture,event_type,occurred_at\n"
    b"SA-PIS,Glock,17,9mm Luger,AB12345,AT,2019,manufactured,2019-05-01\n"
)
JSONL_SEED = (
    b'{"category":"SA-PIS","make":"Glock","serial":"X1","country_of_manufacture":"AT",'
    b'"markings":[{"text":"GLOCK AT X1","serial":"X1","manufacturer":"Glock","country":"AT"}],'
    b'"event":{"type":"manufactured","occurred_at":"2019-05-01"}}\n'
)


@cache
def catalogue() -> Catalogue:
    """Loaded on first use, so importing the harness (as tests/fuzz does) costs nothing."""
    with Session(scratch_engine()) as s:
        return load_catalogue(s)


TEMPLATE = orjson.loads(JSONL_SEED)
PATHS = (
    [(k,) for k in TEMPLATE]
    + [("markings", 0, k) for k in TEMPLATE["markings"][0]]
    + [("event", k) for k in TEMPLATE["event"]]
)
EXTRA = ("kind", "year", "applied_on", "readable", "condition", "documents", "data", "to_org_id", "component")


def structured(data: bytes) -> bytes:
    """The nested template with one member replaced (or added) by fuzzed JSON: nested JSON Lines objects
    reach the service inputs without the CSV reader's guarantee that every value is text."""
    try:
        value = orjson.loads(data[2:])
    except orjson.JSONDecodeError:
        value = data[2:].decode("utf-8", errors="replace")
    record = orjson.loads(JSONL_SEED)
    path = PATHS[data[1] % len(PATHS)] if len(data) > 1 else PATHS[0]
    if len(data) > 1 and data[1] >= 128:  # a member the template does not have
        nested = record["markings"][0] if data[1] % 2 else record["event"]
        nested[EXTRA[data[1] % len(EXTRA)]] = value
    else:
        target = record
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return orjson.dumps(record) + b"\n"


def check(data: bytes) -> None:
    if data[:1] == b"\x03":
        data, fmt = structured(data), "jsonl"
    else:
        fmt = "jsonl" if data[:1] in (b"{", b"[") or (data and data[0] % 2) else "csv"
    path = _DIR / f"in.{fmt}"
    path.write_bytes(data)
    catalogue()  # loaded once, outside the time bound
    with time_bound():
        try:
            _records(path, fmt)
        except ValidationError as exc:  # not UTF-8, or not CSV: the whole file is refused by name
            assert exc.field == "file", exc


def _records(path: Path, fmt: str) -> None:
    for n, (line, record) in enumerate(service.readable(Reader(path, fmt))):
        assert line >= 1
        if n >= MAX_RECORDS:
            break
        if isinstance(record, RegistryError):
            assert record.field == "row"
            continue
        try:
            service._prepare(
                record, catalogue=catalogue(), profile=PROFILE, home_country="KE", actor="fuzz",
                job_id=JOB, orgs={}, custody_org=None,
            )  # fmt: skip
        except RegistryError as exc:
            assert exc.message


if __name__ == "__main__":
    fuzz(check)
