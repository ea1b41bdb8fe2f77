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

from registry.codes import (
    EventType,
    FrameMaterial,
    MarkCondition,
    MarkingKind,
    MarkingMethod,
    OrgKind,
    Status,
)
from registry.l10n import load_catalog, merge_catalog
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
    return load_catalog(catalog_path(lang), lang, "iti-registry-documents")


def update(langs: Iterable[str] = LANGUAGES) -> dict[str, int]:
    """Merge the extracted messages into each language's catalog; return how many lack a translation."""
    messages = extracted()
    return {
        lang: merge_catalog(catalog_path(lang), lang, "iti-registry-documents", messages)
        for lang in langs
        if lang != DEFAULT
    }


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    for lang, n in update().items():
        print(f"{lang}: {n} messages to translate", file=sys.stderr)  # noqa: T201
