"""Gettext catalogs shared by every edge that speaks the six UN languages (web UI, CLI, documents).

Each edge keeps its own `.po` files and extracts its own messages; this module reads, merges and writes
the files, compiles them in memory (so the repository holds no binary `.mo` files) and tells which messages
still lack a translation. Babel only: no web stack.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from gettext import NullTranslations
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations


def read_catalog(path: Path, lang: str) -> Catalog | None:
    if not path.exists():
        return None
    with path.open("rb") as f:
        return read_po(f, locale=lang)


def load_catalog(path: Path, lang: str, project: str) -> Catalog:
    """The catalog at `path`, or an empty one for a language not begun yet."""
    return read_catalog(path, lang) or Catalog(locale=lang, project=project, domain="messages")


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


Fallback = Callable[[str, set[str]], Message | None]  # (msgid, places) to a translation to borrow


def merge_catalog(
    path: Path,
    lang: str,
    project: str,
    messages: Mapping[str | tuple[str, str], set[str]],
    *,
    fallback: Fallback | None = None,
) -> int:
    """Rewrite the `.po` file at `path` to hold exactly `messages` (id, or (singular, plural), to the places
    that use it), keeping every translation it already has, and return how many still lack one.

    `fallback(msgid, places)` may offer a translation for a message the file has none for (the CLI borrows code
    words from the UI's and the documents' catalogs). Places are kept to three per message so that moving
    code does not churn every catalog."""
    old = load_catalog(path, lang, project)
    new = Catalog(locale=lang, project=project, domain="messages", fuzzy=False)
    for key, places in sorted(messages.items(), key=lambda kv: str(kv[0])):
        msgid = key[0] if isinstance(key, tuple) else key
        have = old.get(msgid)
        if (have is None or not have.string) and fallback is not None:
            have = fallback(msgid, places) or have
        empty: str | tuple[str, ...] = ("",) * new.num_plurals if isinstance(key, tuple) else ""
        new.add(
            key, have.string if have is not None else empty, locations=[(p, None) for p in sorted(places)][:3]
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, new, width=110, sort_output=True, include_lineno=False)
    return len(untranslated(new))
