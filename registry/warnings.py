"""Warnings: facts worth telling the officer that do not stop the record (REQ-06: encouraged fields)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Warning:
    code: str
    message: str
    field: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}
