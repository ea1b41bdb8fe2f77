"""A reference table as clients receive it: rows of plain values, keyed by code."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ReferenceTable(BaseModel):
    table: str
    items: list[dict[str, Any]]
