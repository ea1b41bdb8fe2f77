"""The CLI's message catalogs: which messages exist, and keeping the five translated `.po` files in step.

`python -m cli.catalogs` extracts every message of `cli/*.py` (Babel's python extractor, keywords `_`,
`gettext`, `ngettext`, `N_`), adds the words of the code lists the CLI shows in tables through `label()`
(statuses, event types, trace states …), and merges them into `locale/<lang>/messages.po`, keeping existing
translations and leaving new messages untranslated. A code word the CLI catalog does not translate yet is
taken from the web UI's catalog (`api/ui/locale/<lang>/messages.po`, read as a file, never imported), so
officers see the same words on the command line and in the browser. tests/cli/test_i18n.py fails while any
message lacks a translation in any language.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from cli.i18n import DEFAULT, LANGUAGES, catalog_path
from registry.codes import EventType, MarkCondition, MarkingKind, Status
from registry.l10n import untranslated
from registry.users.roles import Role
from tracing.requests.codes import Completeness, Confidentiality, Direction, TraceState, Urgency

CLI_DIR = Path(__file__).parent
UI_LOCALE_DIR = CLI_DIR.parent / "api" / "ui" / "locale"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "L_": None}
METHODS = [("*.py", "python")]
# Code lists whose values the CLI's tables show through `label()`.
CODE_LISTS: tuple[type[StrEnum], ...] = (
    Status,
    EventType,
    MarkingKind,
    MarkCondition,
    Role,
    TraceState,
    Direction,
    Urgency,
    Confidentiality,
    Completeness,
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
    """What `label()` looks up: each code with underscores as spaces (the UI's message ids for them)."""
    words = {member.value.replace("_", " ") for enum in CODE_LISTS for member in enum}
    return words | set(COMPONENTS) | {w.replace("_", " ") for w in DATA_WORDS}


def extracted() -> dict[str | tuple[str, str], set[str]]:
    """Message id (or singular, plural) -> where it is used."""
    out: dict[str | tuple[str, str], set[str]] = {}
    skip = {Path(__file__).name, "i18n.py"}
    found = extract_from_dir(CLI_DIR, METHODS, keywords=KEYWORDS, strip_comment_tags=True)
    for filename, _lineno, message, _comments, _context in found:
        if Path(filename).name in skip or "/" in filename:
            continue
        key = message if isinstance(message, str) else (message[0], message[1])
        out.setdefault(key, set()).add(filename)  # no line numbers: the .po files change only with messages
    for word in code_words():
        out.setdefault(word, set()).add("code list")
    return out


def load(lang: str) -> Catalog:
    path = catalog_path(lang)
    if not path.exists():
        return Catalog(locale=lang, project="iti-registry", domain="messages")
    with path.open("rb") as f:
        return read_po(f, locale=lang)


def _ui_catalog(lang: str) -> Catalog | None:
    path = UI_LOCALE_DIR / lang / "messages.po"
    if not path.exists():
        return None
    with path.open("rb") as f:
        return read_po(f, locale=lang)


def update(langs: Iterable[str] = LANGUAGES) -> dict[str, int]:
    """Merge the extracted messages into each language's catalog; return how many lack a translation."""
    messages = extracted()
    missing: dict[str, int] = {}
    for lang in langs:
        if lang == DEFAULT:
            continue
        old, ui = load(lang), _ui_catalog(lang)
        new = Catalog(locale=lang, project="iti-registry", domain="messages", fuzzy=False)
        for key, places in sorted(messages.items(), key=lambda kv: str(kv[0])):
            msgid = key[0] if isinstance(key, tuple) else key
            have = old.get(msgid)
            if (have is None or not have.string) and "code list" in places and ui is not None:
                have = ui.get(msgid)
            empty: str | tuple[str, ...] = ("",) * new.num_plurals if isinstance(key, tuple) else ""
            string = have.string if have is not None else empty
            new.add(key, string, locations=[(p, None) for p in sorted(places)][:3])
        path = catalog_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            write_po(f, new, width=110, sort_output=True, include_lineno=False)
        missing[lang] = len(untranslated(new))
    return missing


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    for lang, n in update().items():
        print(f"{lang}: {n} messages to translate", file=sys.stderr)  # noqa: T201
