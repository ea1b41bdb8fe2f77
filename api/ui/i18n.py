"""The web UI in the six official UN languages: gettext catalogs (Babel), chosen per user.

The language is the one the user picked (the `iti_lang` cookie, set by the switcher in the page footer), else
the best match of the browser's `Accept-Language`, else English. Catalogs are `locale/<lang>/messages.po`,
compiled in memory when first used, so the repository holds no binary `.mo` files. Message ids are the
English text. Dates and numbers are formatted by Babel for the language's locale; Arabic pages are
right-to-left.

Registry error messages (the rules, with their details) stay in English: they are generated with the values
that broke the rule, and the field they name is shown next to the translated form label.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, date, datetime
from functools import cache
from gettext import NullTranslations
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal
from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from registry.l10n import compile_catalog
from registry.reference.catalogue import load_categories

LANGUAGES: dict[str, str] = {
    "ar": "العربية",
    "zh": "中文",
    "en": "English",
    "fr": "Français",
    "ru": "Русский",
    "es": "Español",
}
RTL = frozenset({"ar"})
DEFAULT = "en"
LANG_COOKIE = "iti_lang"
LOCALE_DIR = Path(__file__).parent / "locale"

_current: ContextVar[str] = ContextVar("ui_language", default=DEFAULT)


def catalog_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "messages.po"


@cache
def translations(lang: str) -> NullTranslations:
    return NullTranslations() if lang == DEFAULT else compile_catalog(catalog_path(lang), lang)


def negotiate(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    header = request.headers.get("accept-language", "")
    preferred = [part.split(";")[0].strip().replace("-", "_") for part in header.split(",") if part.strip()]
    match = Locale.negotiate(preferred, list(LANGUAGES), sep="_") if preferred else None
    return match.language if match is not None and match.language in LANGUAGES else DEFAULT


class LanguageMiddleware:
    """Sets the language of every `/ui` request before anything renders (routes, error handlers, flashes)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/ui"):
            await self.app(scope, receive, send)
            return
        token = _current.set(negotiate(Request(scope)))
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)


def activate(lang: str) -> None:
    """Make `lang` the language of what this request renders (a context variable: per request, per thread)."""
    _current.set(lang if lang in LANGUAGES else DEFAULT)


def current() -> str:
    return _current.get()


def gettext(message: str, **variables: Any) -> str:
    text = translations(current()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    text = translations(current()).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


_ = gettext


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker name
    """Marks a message for extraction where it is translated later (menu labels, flash messages)."""
    return message


def label(code: str | None) -> str:
    """A code (`transfer_pending`) as words in the current language (`transfer pending` is the msgid)."""
    if not code:
        return ""
    return gettext(str(code).replace("_", " "))


@cache
def _category_names() -> dict[str, str]:
    return {c.code: c.name for c in load_categories()}


def category(code: str | None) -> str:
    """A weapon category code (`SA-PIS`) as its name in the current language; an unknown code as itself."""
    if not code:
        return ""
    name = _category_names().get(code)
    return gettext(name) if name else code


def when(value: datetime | date | None) -> str:
    """Stored in UTC and shown in UTC, with the zone named, so officers in different states agree."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        # A 24-hour clock in every language (officers compare times across states), in the locale's order.
        day = format_date(value.astimezone(UTC).date(), "medium", locale=current())
        return f"{day} {value.astimezone(UTC):%H:%M} UTC"
    return format_date(value, "medium", locale=current())


def number(value: int | float | None) -> str:
    return "—" if value is None else format_decimal(value, locale=current())
