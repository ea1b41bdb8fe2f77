"""The CLI's message catalogs: which messages exist, and keeping the five translated `.po` files in step.

`python -m cli.catalogs` extracts every message of `cli/*.py` (Babel's python extractor, keywords `_`,
`gettext`, `ngettext`, `N_`), adds the words of the code lists the CLI shows in tables through `label()`
(statuses, event types, trace states, organisation and licence kinds …), the field names `weapon show` and
`person show` print, the weapon category names (`named()`) and every `--help` text of the command tree
(`cli.helptext`: docstrings, `help=` of options and arguments, group help, epilogs, typer's panel titles), and
merges them into `locale/<lang>/messages.po`, keeping existing translations and leaving new messages
untranslated. A code word the CLI catalog does not translate yet is taken from the web UI's catalog
(`api/ui/locale/<lang>/messages.po`), else from the documents' catalog (`reports/locale/<lang>/messages.po`),
both read as files, never imported, so officers see the same words on the command line, in the browser and
in the PDFs. tests/cli/test_i18n.py fails while any message lacks a translation in any language.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable
from dataclasses import fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from cli.i18n import DEFAULT, LANGUAGES, catalog_path
from registry.codes import EventType, FrameMaterial, LicenceKind, MarkCondition, MarkingKind, OrgKind, Status
from registry.l10n import load_catalog, merge_catalog
from registry.persons.service import PersonView
from registry.users.roles import Role
from tracing.federation.models import OutboxStatus
from tracing.requests.codes import Completeness, Confidentiality, Direction, TraceState, Urgency

CLI_DIR = Path(__file__).parent
UI_LOCALE_DIR = CLI_DIR.parent / "api" / "ui" / "locale"
DOCUMENTS_LOCALE_DIR = CLI_DIR.parent / "reports" / "locale"
CATEGORIES = CLI_DIR.parent / "registry" / "reference" / "data" / "categories.csv"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "L_": None}
METHODS = [("*.py", "python")]
# Code lists whose values the CLI's tables show through `label()`.
CODE_LISTS: tuple[type[StrEnum], ...] = (
    Status,
    EventType,
    MarkingKind,
    MarkCondition,
    FrameMaterial,
    OrgKind,
    LicenceKind,
    Role,
    TraceState,
    Direction,
    Urgency,
    Confidentiality,
    Completeness,
    OutboxStatus,
)
COMPONENTS = ("frame", "receiver", "barrel", "slide", "cylinder", "bolt", "upper receiver", "lower receiver")
# Words the trace and outbox commands show from service data: what an overdue request owes, the actions of a
# request's history, the outcome of a response, the parts of a delivery report, a station sync's answers.
DATA_WORDS = (
    "acknowledgement",
    "answer",
    "follow_up",
    "send",
    "deliver",
    "receive",
    "acknowledge",
    "delay",
    "restrict",
    "refuse",
    "close",
    "delivered",
    "retrying",
    "failed",
    "skipped",
    "applied",
    "conflict",
    "rejected",
)


def code_words() -> set[str]:
    """What `label()` and `named()` look up: each code with underscores as spaces (the UI's message ids for
    them), the field names of `weapon show` and `person show`, and the weapon category names."""
    words = {member.value.replace("_", " ") for enum in CODE_LISTS for member in enum}
    words |= {w.replace("_", " ") for w in DATA_WORDS + field_names()}
    with CATEGORIES.open(encoding="utf-8") as f:
        words |= {row["name"] for row in csv.DictReader(f)}
    return words | set(COMPONENTS)


class _Blank:
    """Any attribute is None: enough for `weapon_dict` to say which fields it has."""

    def __getattr__(self, name: str) -> Any:
        return None


def field_names() -> tuple[str, ...]:
    from cli.weapons import weapon_dict

    return (*weapon_dict(_Blank(), _Blank()), *(f.name for f in fields(PersonView)))


def extracted() -> dict[str | tuple[str, str], set[str]]:
    """Message id (or singular, plural) -> where it is used."""
    out: dict[str | tuple[str, str], set[str]] = {}
    skip = {Path(__file__).name, "i18n.py", "helptext.py"}
    found = extract_from_dir(CLI_DIR, METHODS, keywords=KEYWORDS, strip_comment_tags=True)
    for filename, _lineno, message, _comments, _context in found:
        if Path(filename).name in skip or "/" in filename:
            continue
        key = message if isinstance(message, str) else (message[0], message[1])
        out.setdefault(key, set()).add(filename)  # no line numbers: the .po files change only with messages
    for word in code_words():
        out.setdefault(word, set()).add("code list")
    for text, places in help_messages().items():
        out.setdefault(text, set()).update(places)
    return out


def help_messages() -> dict[str, set[str]]:
    """The `--help` texts, read from the command tree typer builds (in English: nothing is translated until
    the root group runs)."""
    import typer.main

    from cli import helptext
    from cli.main import app

    return {
        text: {f"--help:{where}" for where in places}
        for text, places in helptext.messages(typer.main.get_command(app)).items()
    }


def load(lang: str) -> Catalog:
    return load_catalog(catalog_path(lang), lang, "iti-registry")


def _other_catalogs(lang: str) -> list[Catalog]:
    """The web UI's catalog, then the documents' catalog, where code words are already translated."""
    out = []
    for path in (UI_LOCALE_DIR / lang / "messages.po", DOCUMENTS_LOCALE_DIR / lang / "messages.po"):
        if path.exists():
            with path.open("rb") as f:
                out.append(read_po(f, locale=lang))
    return out


def _translated(msgid: str, catalogs: list[Catalog]) -> Any:
    for catalog in catalogs:
        found = catalog.get(msgid)
        if found is not None and found.string:
            return found
    return None


def update(langs: Iterable[str] = LANGUAGES) -> dict[str, int]:
    """Merge the extracted messages into each language's catalog; return how many lack a translation.

    A code word not yet translated here borrows the UI's or the documents' translation."""
    messages = extracted()
    out = {}
    for lang in langs:
        if lang == DEFAULT:
            continue
        others = _other_catalogs(lang)
        out[lang] = merge_catalog(
            catalog_path(lang),
            lang,
            "iti-registry",
            messages,
            fallback=lambda msgid, places: _translated(msgid, others) if "code list" in places else None,  # noqa: B023
        )
    return out


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    for lang, n in update().items():
        print(f"{lang}: {n} messages to translate", file=sys.stderr)  # noqa: T201
