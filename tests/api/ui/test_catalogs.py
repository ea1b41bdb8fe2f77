"""Every UI message has a translation in each of the five other UN languages, placeholders intact, and the
catalogs hold every message the templates and code use (run `python -m api.ui.catalogs` after adding one)."""

from __future__ import annotations

import re

import pytest
from babel.messages.catalog import Catalog

from api.ui import catalogs, i18n
from registry import l10n

LANGS = [lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


@pytest.fixture(scope="module")
def extracted() -> set[str]:
    return {k if isinstance(k, str) else k[0] for k in catalogs.extracted()}


@pytest.mark.parametrize("lang", LANGS)
def test_every_message_is_translated(lang: str, extracted: set[str]) -> None:
    catalog: Catalog = catalogs.load(lang)
    present = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
    assert extracted - present == set(), f"{lang}: run `python -m api.ui.catalogs`, then translate"
    assert l10n.untranslated(catalog) == []


@pytest.mark.parametrize("lang", LANGS)
def test_placeholders_survive_translation(lang: str) -> None:
    for m in catalogs.load(lang):
        if not m.id:
            continue
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        wanted = set(PLACEHOLDER.findall(ids[0])) | set(PLACEHOLDER.findall(ids[-1]))
        for text in [m.string] if isinstance(m.string, str) else list(m.string):
            got = set(PLACEHOLDER.findall(text))
            # A singular form may spell out "one" instead of %(num)d; no other name may appear or vanish.
            assert got <= wanted, (lang, m.id, text)
            assert wanted - got <= {"num"}, (lang, m.id, text)


def test_code_lists_are_translated_through_the_label_filter() -> None:
    i18n.activate("fr")
    try:
        assert i18n.label("transfer_pending") != "transfer pending"
        assert i18n.gettext("Dashboard") != "Dashboard"
    finally:
        i18n.activate(i18n.DEFAULT)
