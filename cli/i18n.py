"""The `iti` command line in the six official UN languages: gettext catalogs (Babel), chosen per user.

The language is `ITI_LANG` (ar, zh, en, fr, ru, es), else the POSIX locale of the user's session — the first
of `LC_ALL`, `LC_MESSAGES`, `LANG` that is set, so `LANG=fr_FR.UTF-8` gives French — else English. Catalogs
are `locale/<lang>/messages.po`, compiled in memory when first used (no binary `.mo` files in the
repository); message ids are the English text. `python -m cli.catalogs` keeps them in step with the code.

What is translated: the human-facing text (confirmations, table titles and headers, warnings, hints, the
tour), the code values shown in tables (statuses, event types, trace states, organisation and licence kinds)
through `label()` and weapon categories through `named()`, and every
`--help` text (`cli/helptext.py` translates the command tree typer builds). What is not: `--json` output (keys
and values are data for scripts) and registry error messages, which are generated in English with the values
that broke the rule.

The compile step repeats the ~15 lines of `api/ui/i18n.py` on purpose: that module imports FastAPI and
Starlette at module level, and the CLI must start without loading the web stack.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from gettext import NullTranslations
from pathlib import Path
from typing import Any

from registry.l10n import compile_catalog

LANGUAGES: tuple[str, ...] = ("ar", "zh", "en", "fr", "ru", "es")
DEFAULT = "en"
LOCALE_DIR = Path(__file__).parent / "locale"
# POSIX precedence: the first of these that is set and non-empty decides (LANGUAGE is a GNU extension the
# brief leaves out; `C`/`POSIX` mean English).
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")

_chosen: str | None = None


def catalog_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "messages.po"


@cache
def translations(lang: str) -> NullTranslations:
    return NullTranslations() if lang == DEFAULT else compile_catalog(catalog_path(lang), lang)


def _language_of(value: str) -> str | None:
    """`fr_FR.UTF-8@euro` -> `fr`; `zh-CN` -> `zh`; None for a language we do not have."""
    base = value.strip().split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    return base if base in LANGUAGES else None


def language(environ: Mapping[str, str] | None = None) -> str:
    """The language for this user: ITI_LANG, else the POSIX locale variables, else English."""
    env = os.environ if environ is None else environ
    chosen = _language_of(env.get("ITI_LANG", ""))
    if chosen:
        return chosen
    for var in LOCALE_VARIABLES:
        value = env.get(var, "")
        if value:
            return _language_of(value) or DEFAULT
    return DEFAULT


def current() -> str:
    global _chosen
    if _chosen is None:
        _chosen = language()
    return _chosen


def activate(lang: str | None) -> None:
    """Force a language (tests, embedding); None goes back to reading the environment."""
    global _chosen
    _chosen = lang if lang is None or lang in LANGUAGES else DEFAULT


def gettext(msgid: str, /, **variables: Any) -> str:
    text = translations(current()).gettext(msgid)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, /, **variables: Any) -> str:
    text = translations(current()).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


_ = gettext


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker name
    """Marks a message for extraction where it is translated later (tables of column names)."""
    return message


def label(code: Any) -> str:
    """A code value (`transfer_pending`) for a human-readable table: translated words in another language,
    the code itself in English (officers type it back into options such as `--status`)."""
    if code is None or code == "":
        return ""
    text = str(code)
    if current() == DEFAULT:
        return text
    words = text.replace("_", " ")
    translated = translations(current()).gettext(words)
    return text if translated == words else translated


def named(code: Any, name: str | None) -> str:
    """A reference code that has an English name (category `SA-PIS`, "Self-loading pistol"), for a table: the
    code in English (what `--category` takes), the translated name in another language, the code when the
    name has no translation."""
    if code is None or code == "":
        return ""
    if current() == DEFAULT or not name:
        return str(code)
    translated = translations(current()).gettext(name)
    return str(code) if translated == name else translated


class Deferred:
    """A message translated only when shown: `fail()` prints it in the user's language on the terminal and
    writes the English text into `--json` output, which stays the same in every language."""

    __slots__ = ("msgid", "variables")

    def __init__(self, msgid: str, variables: dict[str, Any]) -> None:
        self.msgid = msgid
        self.variables = variables

    def english(self) -> str:
        return self.msgid % self.variables if self.variables else self.msgid

    def __str__(self) -> str:
        return gettext(self.msgid, **self.variables)


def L_(msgid: str, /, **variables: Any) -> Deferred:  # noqa: N802 - a gettext-style marker
    """A message for `fail()`: English in `--json`, translated on the terminal."""
    return Deferred(msgid, variables)


def english(message: str | Deferred) -> str:
    return message.english() if isinstance(message, Deferred) else message


def number(value: float, *, digits: int | None = None) -> str:
    """A number in the user's locale (`655,619` in English, `655 619` in French), with `digits` decimals."""
    from babel.numbers import format_decimal

    if digits is None:
        return format_decimal(value, locale=current())
    return format_decimal(value, format=f"#,##0.{'0' * digits}" if digits else "#,##0", locale=current())
