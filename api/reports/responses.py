"""How documents leave the app, for the JSON API and the web UI alike: as downloads, never cached."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi.responses import Response, StreamingResponse

from reports import exports


def pdf_response(data: bytes, filename: str, lang: str) -> Response:
    return Response(
        content=data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Language": lang,
            # Registry records and confidential trace information: never kept by shared caches.
            "Cache-Control": "no-store",
        },
    )


def spreadsheet_response(fmt: exports.Format, rows: Iterable[list[Any]], name: str) -> StreamingResponse:
    return StreamingResponse(
        exports.export(rows, fmt, sheet=name),
        media_type=exports.MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{name}.{fmt.value}"',
            "Cache-Control": "no-store",
        },
    )


def svg_response(svg: str, lang: str) -> Response:
    return Response(
        svg, media_type="image/svg+xml", headers={"Content-Language": lang, "Cache-Control": "no-store"}
    )
