"""Document labels in the six official UN languages: gettext catalogs (Babel), as the web UI has.

Catalogs are `reports/locale/<lang>/messages.po`, compiled in memory on first use; message ids are the English
text. Unlike the UI, a document's language is passed explicitly (a `Lang` object), never taken from the
request: the same process renders a French report for one caller and an Arabic one for the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from gettext import NullTranslations
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal, format_percent

from registry.errors import ValidationError
from registry.l10n import compile_catalog

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
LOCALE_DIR = Path(__file__).parent / "locale"


def catalog_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "messages.po"


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker name
    """Marks a message for extraction where it is translated later (tables of labels)."""
    return message


@cache
def translations(lang: str) -> NullTranslations:
    return NullTranslations() if lang == DEFAULT else compile_catalog(catalog_path(lang), lang)


def check_language(lang: str | None) -> str:
    value = (lang or DEFAULT).strip().lower()
    if value not in LANGUAGES:
        raise ValidationError(
            f"documents are made in {', '.join(LANGUAGES)}; not {lang!r}", field="lang", value=lang
        )
    return value


def negotiate(accept_language: str | None) -> str:
    """The best of the six languages for an `Accept-Language` header, else English."""
    preferred = [
        p.split(";")[0].strip().replace("-", "_") for p in (accept_language or "").split(",") if p.strip()
    ]
    if not preferred:
        return DEFAULT
    match = Locale.negotiate(preferred, list(LANGUAGES), sep="_")
    return match.language if match is not None and match.language in LANGUAGES else DEFAULT


@dataclass(frozen=True)
class Lang:
    """One document's language: its translations and the locale's dates and numbers."""

    code: str = DEFAULT

    @classmethod
    def of(cls, lang: str | None) -> Lang:
        return cls(check_language(lang))

    @property
    def rtl(self) -> bool:
        return self.code in RTL

    @property
    def dir(self) -> str:
        return "rtl" if self.rtl else "ltr"

    def gettext(self, message: str, **variables: Any) -> str:
        text = translations(self.code).gettext(message)
        return text % variables if variables else text

    def label(self, code: str | None) -> str:
        """A code (`transfer_pending`) as words (`transfer pending` is the message id), as the UI does."""
        if not code:
            return "—"
        return self.gettext(str(code).replace("_", " "))

    def date(self, value: date | datetime | str | None) -> str:
        """A date in the locale's medium form; ISO text (as trace messages carry dates) is read first."""
        if value is None or value == "":
            return "—"
        if isinstance(value, str):
            value = date.fromisoformat(value[:10])
        if isinstance(value, datetime):
            value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).date()
        return format_date(value, "medium", locale=self.code)

    def datetime(self, value: datetime | None) -> str:
        """UTC, with the zone named, in every language: officers of two states compare the same instant."""
        if value is None:
            return "—"
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        return f"{self.date(value)} {value:%H:%M} UTC"

    def number(self, value: float | None) -> str:
        return "—" if value is None else format_decimal(value, locale=self.code)

    def percent(self, value: float | None) -> str:
        return "—" if value is None else format_percent(value, "#,##0.0%", locale=self.code)
