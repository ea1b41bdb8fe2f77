"""Streaming readers for import files (CSV and JSON Lines), one record at a time with its line number.

The flat record layout (CSV columns; the same keys in JSON Lines) is documented in docs/data-model.md:
weapon fields, the first event, the manufacture mark and the import mark. JSON Lines may instead carry
full `markings` and `event` objects.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from registry.errors import ValidationError

FORMATS = ("csv", "jsonl")


def detect_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise ValidationError(f"format must be one of {', '.join(FORMATS)}", field="format", value=fmt)
        return fmt
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix == "csv":
        return "csv"
    raise ValidationError(
        f"cannot tell the format of {path.name}: use .csv or .jsonl, or --format", field="format"
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Reader:
    """Iterates (line number, record) and tracks bytes read for a progress bar."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.fmt = fmt
        self.size = path.stat().st_size
        self._fh: IO[str] | None = None

    @property
    def position(self) -> int:
        return self._fh.buffer.tell() if self._fh is not None else 0  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any] | ValidationError]]:
        with self.path.open("r", encoding="utf-8-sig", newline="") as fh:
            self._fh = fh
            yield from self._csv(fh) if self.fmt == "csv" else self._jsonl(fh)
        self._fh = None

    @staticmethod
    def _csv(fh: IO[str]) -> Iterator[tuple[int, dict[str, Any] | ValidationError]]:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            return
        for row in reader:
            line = reader.line_num
            if None in row:
                yield (
                    line,
                    ValidationError("the row has more values than the header has columns", field="row"),
                )
                continue
            yield line, {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}

    @staticmethod
    def _jsonl(fh: IO[str]) -> Iterator[tuple[int, dict[str, Any] | ValidationError]]:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield line_no, ValidationError(f"not valid JSON: {exc}", field="row")
                continue
            if not isinstance(value, dict):
                yield line_no, ValidationError("each line must be a JSON object", field="row")
                continue
            yield line_no, value
