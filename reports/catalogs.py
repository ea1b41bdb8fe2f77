"""The documents' message catalogs: which labels exist, and keeping the six languages' `.po` files in step.

`python -m reports.catalogs` extracts every message of the document templates and of this package's code
(Babel's extractors: `_()` in templates, `N_()`/`gettext()` in Python), adds the words of every code list a
document shows (statuses, event types, marks, trace states, ITI 22 grounds …) and the weapon category names,
and merges them into `locale/<lang>/messages.po`, keeping existing translations. A test fails while any
message lacks a translation in any language.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from registry.codes import (
    EventType,
    FrameMaterial,
    MarkCondition,
    MarkingKind,
    MarkingMethod,
    OrgKind,
    Status,
)
from registry.l10n import untranslated
from reports.i18n import DEFAULT, LANGUAGES, catalog_path
from tracing.requests.codes import (
    Completeness,
    Confidentiality,
    DelayReason,
    Ground,
    IntendedUse,
    RecoveryKind,
    TraceState,
    Urgency,
)

PACKAGE = Path(__file__).parent
KEYWORDS = {"_": None, "gettext": None, "N_": None}
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
CATEGORIES = Path(__file__).parents[1] / "registry" / "reference" / "data" / "categories.csv"
COMPONENTS = ("frame", "receiver", "barrel", "slide", "cylinder", "bolt", "upper receiver", "lower receiver")
EXTRA_CODES = ("answered", "delayed", "restricted", "refused", "sent", "received", "private person")
CODE_LISTS: tuple[type[StrEnum], ...] = (
    Status,
    EventType,
    MarkingKind,
    MarkingMethod,
    MarkCondition,
    FrameMaterial,
    TraceState,
    Urgency,
    Confidentiality,
    RecoveryKind,
    Completeness,
    Ground,
    DelayReason,
    IntendedUse,
    OrgKind,
)


def code_words() -> set[str]:
    """What `Lang.label` looks up: each code with underscores as spaces; and the category names."""
    words = {m.value.replace("_", " ") for enum in CODE_LISTS for m in enum}
    with CATEGORIES.open(encoding="utf-8") as f:
        words |= {row["name"] for row in csv.DictReader(f)}
    return words | set(COMPONENTS) | set(EXTRA_CODES)


def extracted() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    skip = {Path(__file__).name}
    for filename, lineno, message, _c, _ctx in extract_from_dir(PACKAGE, METHODS, keywords=KEYWORDS):
        if Path(filename).name in skip or not isinstance(message, str):
            continue
        out.setdefault(message, set()).add(f"{filename}:{lineno}")
    for word in code_words():
        out.setdefault(word, set()).add("code list")
    return out


def load(lang: str) -> Catalog:
    path = catalog_path(lang)
    if not path.exists():
        return Catalog(locale=lang, project="iti-registry-documents", domain="messages")
    with path.open("rb") as f:
        return read_po(f, locale=lang)


def update(langs: Iterable[str] = LANGUAGES) -> dict[str, int]:
    """Merge the extracted messages into each language's catalog; return how many lack a translation."""
    messages = extracted()
    missing: dict[str, int] = {}
    for lang in langs:
        if lang == DEFAULT:
            continue
        old = load(lang)
        new = Catalog(locale=lang, project="iti-registry-documents", domain="messages", fuzzy=False)
        for msgid, places in sorted(messages.items()):
            have = old.get(msgid)
            new.add(
                msgid,
                have.string if have is not None else "",
                locations=[(p, None) for p in sorted(places)][:3],
            )
        path = catalog_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            write_po(f, new, width=110, sort_output=True, include_lineno=False)
        missing[lang] = len(untranslated(new))
    return missing


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    for lang, n in update().items():
        print(f"{lang}: {n} messages to translate", file=sys.stderr)  # noqa: T201
