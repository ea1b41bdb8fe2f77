"""Parameters of the document, export and chart routes (the documents themselves are PDF, CSV, XLSX, SVG)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from reports.i18n import LANGUAGES

LANG_DESCRIPTION = (
    "Language of the document: one of " + ", ".join(f"`{c}`" for c in LANGUAGES) + ". Without it, the best "
    "match of `Accept-Language`, else English."
)
LangQuery = Annotated[str | None, Query(pattern="^(ar|zh|en|fr|ru|es)$", description=LANG_DESCRIPTION)]
PDF = {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}
SVG = {"image/svg+xml": {"schema": {"type": "string"}}}
SPREADSHEETS = {
    "text/csv": {"schema": {"type": "string"}},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
        "schema": {"type": "string", "format": "binary"}
    },
}
