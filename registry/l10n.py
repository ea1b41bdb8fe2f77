"""Gettext catalogs shared by every edge that speaks the six UN languages (web UI, CLI, documents).

Each edge keeps its own `.po` files; this module only reads them, compiles them in memory (so the repository
holds no binary `.mo` files) and tells which messages still lack a translation. Babel only: no web stack.
"""

from __future__ import annotations

import io
from gettext import NullTranslations
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations


def read_catalog(path: Path, lang: str) -> Catalog | None:
    if not path.exists():
        return None
    with path.open("rb") as f:
        return read_po(f, locale=lang)


def compile_catalog(path: Path, lang: str) -> NullTranslations:
    """The translations of the `.po` file at `path`, or none (the English message ids) if it is missing."""
    catalog = read_catalog(path, lang)
    if catalog is None:
        return NullTranslations()
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


def untranslated(catalog: Catalog) -> list[str]:
    """Message ids of `catalog` with an empty translation (any plural form empty counts)."""
    out = []
    for m in catalog:
        if not m.id:
            continue
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if not all(strings):
            out.append(m.id if isinstance(m.id, str) else m.id[0])
    return out
