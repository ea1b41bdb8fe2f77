"""The UI's message catalogs: which messages exist, and keeping the six languages' `.po` files in step.

`python -m api.ui.catalogs` extracts every message of the templates and UI code (Babel's extractors), adds the
words of every code list the UI shows (statuses, event types, marking kinds, roles …) and the weapon category
names, and merges them into `locale/<lang>/messages.po`, keeping existing translations and marking new
messages untranslated. A test fails while any message lacks a translation in any language.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir

from api.ui.i18n import DEFAULT, LANGUAGES, catalog_path
from registry.codes import (
    EventType,
    FrameMaterial,
    IllicitGround,
    MarkCondition,
    MarkingKind,
    MarkingMethod,
    Status,
)
from registry.imports.jobs_models import JobStatus
from registry.l10n import load_catalog, merge_catalog
from registry.users.roles import Role
from tracing.requests.codes import (
    Completeness,
    Confidentiality,
    DelayReason,
    Direction,
    Ground,
    IntendedUse,
    RecoveryKind,
    TraceState,
    Urgency,
)

UI_DIR = Path(__file__).parent
CATEGORIES = UI_DIR.parents[1] / "registry" / "reference" / "data" / "categories.csv"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
# Words the trace pages show from the trace service's data: what an overdue request owes, statistics keys.
TRACE_WORDS = (
    "acknowledgement",
    "answer",
    "follow_up",
    "sent",
    "received",
    "answered",
    "answered_full",
    "answered_partial",
    "delayed",
    "restricted",
    "refused",
    "closed",
    "year",
    "seized",
    "found",
    "surrendered",
    "seized_without_criminal_offence_excluded",
    "established",
    "denominator",
    "indicator",
    "send",
    "deliver",
    "acknowledge",
    "delay",
    "restrict",
    "refuse",
    "close",
)
COMPONENTS = ("frame", "receiver", "barrel", "slide", "cylinder", "bolt", "upper receiver", "lower receiver")
CODE_LISTS: tuple[type[StrEnum], ...] = (
    Status,
    EventType,
    MarkingKind,
    MarkingMethod,
    FrameMaterial,
    MarkCondition,
    IllicitGround,
    Role,
    JobStatus,
    TraceState,
    Urgency,
    Confidentiality,
    RecoveryKind,
    IntendedUse,
    DelayReason,
    Ground,
    Completeness,
    Direction,
)


def code_words() -> set[str]:
    """What the `label` filter looks up: each code with underscores as spaces; and the weapon category names
    the `category` filter shows."""
    words = {member.value.replace("_", " ") for enum in CODE_LISTS for member in enum}
    with CATEGORIES.open(encoding="utf-8") as f:
        words |= {row["name"] for row in csv.DictReader(f)}
    return words | set(COMPONENTS) | {w.replace("_", " ") for w in TRACE_WORDS}


def extracted() -> dict[str | tuple[str, str], set[str]]:
    """Message id (or singular, plural) -> where it is used."""
    out: dict[str | tuple[str, str], set[str]] = {}
    skip = {Path(__file__).name}
    found = extract_from_dir(UI_DIR, METHODS, OPTIONS, keywords=KEYWORDS, strip_comment_tags=True)
    for filename, lineno, message, _comments, _context in found:
        if Path(filename).name in skip:
            continue
        key = message if isinstance(message, str) else (message[0], message[1])
        out.setdefault(key, set()).add(f"{filename}:{lineno}")
    for word in code_words():
        out.setdefault(word, set()).add("code list")
    return out


def load(lang: str) -> Catalog:
    return load_catalog(catalog_path(lang), lang, "iti-registry")


def update(langs: Iterable[str] = LANGUAGES) -> dict[str, int]:
    """Merge the extracted messages into each language's catalog; return how many lack a translation."""
    messages = extracted()
    return {
        lang: merge_catalog(catalog_path(lang), lang, "iti-registry", messages)
        for lang in langs
        if lang != DEFAULT
    }


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    for lang, n in update().items():
        print(f"{lang}: {n} messages to translate", file=sys.stderr)  # noqa: T201
