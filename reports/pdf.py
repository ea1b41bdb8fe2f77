"""HTML+CSS → PDF with WeasyPrint: Pango and HarfBuzz shape Arabic (right to left) and Chinese, fontconfig
picks the Noto fonts the Makefile's `documents` target installs.

Templates get the document's `Lang` as `L` and its `_` (gettext with %(name)s variables); Jinja escapes every
value. The confidentiality marking, when given, is a running header printed on every page.
"""

from __future__ import annotations

import base64
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from jinja2 import Environment, FileSystemLoader, select_autoescape

from registry.db import utcnow
from reports.i18n import LANGUAGES, Lang

TEMPLATES = Path(__file__).parent / "templates"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["data_uri_svg"] = svg_data_uri
    return env


def svg_data_uri(svg: str) -> str:
    """An SVG as an <img> source: WeasyPrint draws it as vectors, at the size the SVG states."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def country_name(lang: Lang, code: str | None) -> str:
    """`KE` as the state's name in the document's language, followed by its code (officers quote codes)."""
    if not code:
        return "—"
    name = Locale.parse(lang.code).territories.get(code.upper())
    return f"{name} ({code.upper()})" if name else code.upper()


def html(template: str, context: dict[str, Any], lang: Lang, *, title: str, marking: str | None) -> str:
    page = {
        "L": lang,
        "_": lang.gettext,
        "country": lambda code: country_name(lang, code),
        "title": title,
        "marking": marking,
        "languages": LANGUAGES,
        "generated_at": context.pop("generated_at", None) or utcnow(),
    }
    page.update(context)
    return environment().get_template(template).render(page)


def render(
    template: str,
    context: dict[str, Any],
    lang: Lang,
    *,
    title: str,
    marking: str | None = None,
    generated_at: datetime | None = None,
) -> bytes:
    # Imported here: WeasyPrint loads Pango through cffi, which the CLI and API need only for documents.
    from weasyprint import HTML

    text = html(template, {**context, "generated_at": generated_at}, lang, title=title, marking=marking)
    pdf = HTML(string=text, base_url=str(TEMPLATES)).write_pdf()
    assert pdf is not None  # write_pdf without a target returns the bytes
    return pdf
