"""ISO 3166-1 country codes (REQ-16).

Every country the registry stores is an upper-case ISO 3166-1 alpha-2 code, as ISACS 05.30 recommends for
marks. Input may be alpha-2, alpha-3 or numeric; anything else (names, withdrawn or unknown codes, empty
input) is rejected with `InvalidCountry` naming the field, so an officer knows exactly what to fix.

The codes come from the maintained `pycountry` library, never from a hand list. The one exception is `XK`
(Kosovo), see `_USER_ASSIGNED`.

Lookups are dictionaries built once on first use, and `normalise_country` keeps an LRU cache of raw inputs:
it is called once per row when millions of rows are imported.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import pycountry

from registry.errors import InvalidCountry

__all__ = ["alpha3", "country_name", "normalise_country", "numeric"]

_ACCEPTED_FORMS = "an ISO 3166-1 code: alpha-2 (e.g. 'DE'), alpha-3 (e.g. 'DEU') or numeric (e.g. '276')"


@dataclass(frozen=True, slots=True)
class _Country:
    alpha2: str
    alpha3: str | None
    numeric: str | None
    name: str


# `XK` is a user-assigned code (ISO 3166-1 reserves XA-XZ for users), not an ISO assignment, so pycountry
# does not list it. It is accepted anyway because it is the code for Kosovo used by the European Union and by
# many international organisations and national registries: a weapon made in, imported into or traced to
# Kosovo must be recordable. Only the alpha-2 form is accepted: there is no agreed alpha-3 or numeric code,
# so `alpha3()` and `numeric()` refuse it rather than invent one. No other code outside pycountry is accepted.
_USER_ASSIGNED: tuple[_Country, ...] = (_Country(alpha2="XK", alpha3=None, numeric=None, name="Kosovo"),)

# Codes people commonly type that are not ISO 3166-1 country codes: only used to give a better message.
_HINTS = {
    "UK": "'UK' is exceptionally reserved, not assigned; the United Kingdom is 'GB'",
    "EL": "'EL' is the EU's code for Greece, not ISO 3166-1; Greece is 'GR'",
    "EU": "'EU' is a reserved code, not a country",
}


_SUBDIVISION = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}")


@dataclass(frozen=True, slots=True)
class _Index:
    by_alpha2: dict[str, _Country]
    alpha3_to_alpha2: dict[str, str]
    numeric_to_alpha2: dict[str, str]
    withdrawn: dict[str, str]  # withdrawn code (any form) -> former name(s), for messages only


@functools.cache
def _index() -> _Index:
    by_alpha2: dict[str, _Country] = {}
    for record in pycountry.countries:
        by_alpha2[record.alpha_2.upper()] = _Country(
            alpha2=record.alpha_2.upper(),
            alpha3=record.alpha_3.upper(),
            numeric=record.numeric,
            name=record.name,
        )
    for extra in _USER_ASSIGNED:
        by_alpha2.setdefault(extra.alpha2, extra)
    alpha3_to_alpha2 = {c.alpha3: c.alpha2 for c in by_alpha2.values() if c.alpha3}
    numeric_to_alpha2 = {c.numeric: c.alpha2 for c in by_alpha2.values() if c.numeric}

    withdrawn: dict[str, list[str]] = {}
    for record in pycountry.historic_countries:
        for attr in ("alpha_2", "alpha_3", "alpha_4", "numeric"):
            code = getattr(record, attr, None)
            if not code:
                continue
            code = code.upper()
            if code in by_alpha2 or code in alpha3_to_alpha2 or code in numeric_to_alpha2:
                continue  # reassigned since: the current meaning wins
            names = withdrawn.setdefault(code, [])
            if record.name not in names:
                names.append(record.name)
    return _Index(
        by_alpha2=by_alpha2,
        alpha3_to_alpha2=alpha3_to_alpha2,
        numeric_to_alpha2=numeric_to_alpha2,
        withdrawn={code: " / ".join(names) for code, names in withdrawn.items()},
    )


@functools.lru_cache(maxsize=4096)
def _lookup(raw: str) -> str | None:
    """The alpha-2 code for a raw input, or None. Cached on the raw string (exceptions are not cached)."""
    text = raw.strip().upper()
    if not text.isascii():
        return None
    index = _index()
    if text.isdigit():
        if len(text) > 3:
            return None
        return index.numeric_to_alpha2.get(text.zfill(3))
    if not text.isalpha():
        return None
    if len(text) == 2:
        return text if text in index.by_alpha2 else None
    if len(text) == 3:
        return index.alpha3_to_alpha2.get(text)
    return None


def _why_not(text: str) -> str:
    """A short reason for a rejected (already stripped) input, to go in the error message."""
    if not text:
        return "it is empty"
    upper = text.upper()
    if upper in _HINTS:
        return _HINTS[upper]
    key = upper.zfill(3) if upper.isascii() and upper.isdigit() and len(upper) <= 3 else upper
    former = _index().withdrawn.get(key)
    if former:
        return f"it was withdrawn from ISO 3166-1 (it was {former})"
    if upper.isascii() and upper.isdigit():
        if len(upper) > 3:
            return "numeric codes have at most three digits"
        return "it is not an assigned ISO 3166-1 numeric code"
    if upper.isascii() and upper.isalpha() and len(upper) in (2, 3):
        return f"it is not an assigned ISO 3166-1 alpha-{len(upper)} code"
    if _SUBDIVISION.fullmatch(upper):
        return "ISO 3166-2 subdivision codes are not accepted, only the country code before the '-'"
    if len(text) > 3 and any(ch.isalpha() for ch in text):
        return "country names are not accepted, only codes"
    return "it is not a country code"


def normalise_country(value: str, *, field: str = "country") -> str:
    """Return the upper-case ISO 3166-1 alpha-2 code for `value`.

    Accepts alpha-2 ("de", "DE"), alpha-3 ("DEU") and numeric ("276", "040", "40") codes, ignoring surrounding
    whitespace and case. Raises `InvalidCountry` (naming `field`) for anything else.
    """
    if not isinstance(value, str):
        raise InvalidCountry(
            f"{field}: expected {_ACCEPTED_FORMS}, got {value!r} (not text)", field=field, value=value
        )
    found = _lookup(value)
    if found is not None:
        return found
    raise InvalidCountry(
        f"{field}: {value!r} is not accepted because {_why_not(value.strip())}; give {_ACCEPTED_FORMS}",
        field=field,
        value=value,
    )


def _record(code: str) -> _Country:
    return _index().by_alpha2[normalise_country(code)]


def country_name(alpha2: str) -> str:
    """The ISO 3166-1 short name (e.g. 'Germany', 'Korea, Republic of'). Any accepted code form works."""
    return _record(alpha2).name


def alpha3(alpha2: str) -> str:
    """The ISO 3166-1 alpha-3 code (e.g. 'DEU'). Raises `InvalidCountry` for a code that has none (XK)."""
    record = _record(alpha2)
    if record.alpha3 is None:
        raise InvalidCountry(
            f"country: {record.alpha2} ({record.name}) is user-assigned and has no ISO 3166-1 alpha-3 code",
            field="country",
            value=alpha2,
        )
    return record.alpha3


def numeric(alpha2: str) -> str:
    """The ISO 3166-1 numeric code as three digits (e.g. '040'). Raises `InvalidCountry` for XK."""
    record = _record(alpha2)
    if record.numeric is None:
        raise InvalidCountry(
            f"country: {record.alpha2} ({record.name}) is user-assigned and has no ISO 3166-1 numeric code",
            field="country",
            value=alpha2,
        )
    return record.numeric
