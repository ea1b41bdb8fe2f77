"""Every document label is translated into every UN language, with its %(name)s variables intact."""

from __future__ import annotations

import re

import pytest

from registry import l10n
from reports import catalogs
from reports.i18n import DEFAULT, LANGUAGES, Lang

VARIABLE = re.compile(r"%\((\w+)\)s")


@pytest.mark.parametrize("lang", [code for code in LANGUAGES if code != DEFAULT])
def test_every_document_message_is_translated(lang: str) -> None:
    catalog = catalogs.load(lang)
    have = {str(m.id) for m in catalog if m.id}
    missing = sorted(set(catalogs.extracted()) - have)
    assert not missing, f"{lang}: run `python -m reports.catalogs` and translate: {missing[:10]}"
    untranslated = l10n.untranslated(catalog)
    assert not untranslated, f"{lang}: {len(untranslated)} untranslated, e.g. {untranslated[:5]}"
    for m in catalog:
        if m.id:
            assert set(VARIABLE.findall(str(m.id))) == set(VARIABLE.findall(str(m.string))), (lang, m.id)


def test_labels_and_codes_come_out_translated() -> None:
    assert Lang("fr").label("transfer_pending") == "transfert en attente"
    assert Lang("ru").gettext("Serial number") == "Серийный номер"
    assert Lang("zh").gettext("Reply to tracing request %(case)s", case="X/1") == "对追查请求 X/1 的答复"
    assert Lang("en").label("ongoing_investigation") == "ongoing investigation"
    assert Lang.of("AR").rtl
    assert not Lang.of(None).rtl
