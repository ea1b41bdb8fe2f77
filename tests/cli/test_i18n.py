"""The `iti` command line in the six UN languages: every CLI message and `--help` text is translated in each of
the five other catalogs with its placeholders, rich markup, option names and `code` intact, the language
follows ITI_LANG then the POSIX locale, a real command prints the translated text, `--help` reads in the
user's language, and `--json` output is the same in every language.

After adding or changing a message: `python -m cli.catalogs`, then translate the new entries.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

from cli import catalogs, i18n
from registry import l10n
from tests.cli import test_cli
from tests.cli.test_cli import Iti
from tests.factories import unique_serial

migrated = test_cli.migrated  # one migrated template database for this module, copied for each test

LANGS = [lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdr]")
MARKUP = re.compile(r"\[/?(?:bold red|bold|green|red|yellow|cyan|dim|blue)?\]")  # rich tags: [green] … [/]
FIELD = re.compile(r"\{\w*\}")  # str.format fields of typer's own words: [default: {}]
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")  # option names stay as typed: --rfid, --no-announce
CODE = re.compile(r"`[^`]+`")  # commands and values in backticks stay as typed
LOCALE_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


@pytest.fixture(scope="module")
def extracted() -> set[str]:
    return {k if isinstance(k, str) else k[0] for k in catalogs.extracted()}


def test_extraction_finds_the_cli_messages(extracted: set[str]) -> None:
    # One message from each kind of place: emit(human=…), a table title, a column, fail(L_(…)), the tour.
    assert "database at %(revision)s; reference rows added: %(added)s" in extracted
    assert "Signed tree heads" in extracted
    assert "serial" in extracted
    assert "no weapon with id, serial or mark %(ref)r" in extracted
    assert "[bold]iti-registry: a tour of the demo registry" in extracted
    assert "stolen" in extracted  # a code word shown through label()


def test_extraction_finds_the_help_texts(extracted: set[str]) -> None:
    # What `--help` shows, read from the command tree typer builds: group help, a command's docstring, an
    # option's and an argument's help=, the epilog, typer's own words and the help option's text.
    assert "Register weapons and look them up." in extracted
    assert "List weapons by status, make, model or category." in extracted
    assert "Only recovered weapons waiting for a unique mark" in extracted
    assert "Weapon id, serial or mark text" in extracted
    assert any(m.startswith("Exit codes: 0 done") for m in extracted)
    assert "Commands" in extracted
    assert "[default: {}]" in extracted
    assert "Show this message and exit." in extracted


@pytest.mark.parametrize("lang", LANGS)
def test_every_message_is_translated(lang: str, extracted: set[str]) -> None:
    catalog: Catalog = catalogs.load(lang)
    present = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
    assert extracted - present == set(), f"{lang}: run `python -m cli.catalogs`, then translate"
    assert l10n.untranslated(catalog) == []
    header = catalog.num_plurals
    for m in catalog:
        if m.id and isinstance(m.id, tuple):
            assert len(m.string) == header, (lang, m.id)


@pytest.mark.parametrize("lang", LANGS)
def test_placeholders_and_markup_survive_translation(lang: str) -> None:
    for m in catalogs.load(lang):
        if not m.id:
            continue
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        wanted = set(PLACEHOLDER.findall(ids[0])) | set(PLACEHOLDER.findall(ids[-1]))
        tags = sorted(MARKUP.findall(ids[0]))
        for text in [m.string] if isinstance(m.string, str) else list(m.string):
            got = set(PLACEHOLDER.findall(text))
            # A singular form may spell out "one" instead of %(num)d; no other name may appear or vanish.
            assert got <= wanted, (lang, m.id, text)
            assert wanted - got <= {"num"}, (lang, m.id, text)
            assert sorted(MARKUP.findall(text)) == tags, (lang, m.id, text)
            # Every translation must format with the message's own variables (a stray % would raise).
            assert text % dict.fromkeys(wanted, 1)
            assert sorted(FIELD.findall(text)) == sorted(FIELD.findall(ids[0])), (lang, m.id, text)
            for kept in OPTION.findall(ids[0]) + CODE.findall(ids[0]):
                assert " ".join(kept.split()) in " ".join(text.split()), (lang, m.id, kept, text)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "en"),
        ({"LANG": "fr_FR.UTF-8"}, "fr"),
        ({"LANG": "ru_RU.UTF-8", "LC_MESSAGES": "es_ES.UTF-8"}, "es"),
        ({"LANG": "ru_RU.UTF-8", "LC_MESSAGES": "es_ES", "LC_ALL": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "ar_EG.UTF-8", "ITI_LANG": "fr"}, "fr"),
        ({"LANG": "de_DE.UTF-8"}, "en"),  # a language we have no catalog for
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LC_ALL": "", "LANG": "es_MX.UTF-8@euro"}, "es"),  # empty variables do not count
        ({"ITI_LANG": "xx", "LANG": "ar_SA.UTF-8"}, "ar"),  # an unknown ITI_LANG falls back to the locale
    ],
)
def test_language_follows_iti_lang_then_the_posix_locale(environ: dict[str, str], expected: str) -> None:
    assert i18n.language(environ) == expected


def test_codes_read_as_words_in_the_users_language() -> None:
    try:
        i18n.activate("fr")
        assert i18n.label("stolen") == "volé"
        assert i18n.label("not_a_code_anyone_has") == "not_a_code_anyone_has"
        i18n.activate("en")
        assert i18n.label("transfer_pending") == "transfer_pending"  # English shows the code officers type
    finally:
        i18n.activate(None)


def _cli(migrated: tuple[Path, Path], tmp_path: Path, **locale: str) -> Iti:
    template, var = migrated
    db = tmp_path / "x.db"
    if not db.exists():
        shutil.copy(template, db)
    iti = test_cli.iti_for(db, var, tmp_path)
    for name in LOCALE_VARS:
        iti.env.pop(name, None)
    iti.env.update(locale)
    return iti


def test_a_real_command_speaks_french_with_iti_lang(migrated: tuple[Path, Path], tmp_path: Path) -> None:
    fr = _cli(migrated, tmp_path, ITI_LANG="fr", LANG="ru_RU.UTF-8")  # ITI_LANG wins over the locale
    serial = unique_serial("FR")
    added = fr(*test_cli.add_args(serial))
    assert "enregistrée" in added.stdout, added.stdout
    assert "statut actif" in added.stdout, added.stdout
    assert "avertissement :" in added.stderr  # the prefix is translated …
    assert "is not in the manufacturers table" in added.stderr  # … the registry's rule text stays English
    listed = fr("weapon", "list")
    assert "numéro de série" in listed.stdout
    assert "actif" in listed.stdout
    missing = fr("weapon", "show", "NO-SUCH-THING", code=4)
    assert "erreur :" in missing.stderr
    assert "aucune arme avec l’identifiant" in missing.stderr


def test_a_real_command_speaks_russian_from_lang(migrated: tuple[Path, Path], tmp_path: Path) -> None:
    ru = _cli(migrated, tmp_path, LANG="ru_RU.UTF-8")
    serial = unique_serial("RU")
    ru(*test_cli.add_args(serial))
    ru("event", "add", serial, "stolen")
    history = ru("weapon", "history", serial)
    assert "История" in history.stdout
    assert "событие" in history.stdout
    assert "похищено" in history.stdout  # the event type, as the web UI words it
    stats = ru("records", "stats")
    assert "Оружие по статусу" in stats.stdout
    english = _cli(migrated, tmp_path, LANG="C.UTF-8")("records", "stats")
    assert "Weapons by status" in english.stdout
    assert "stolen" in english.stdout


def test_json_output_is_the_same_in_every_language(migrated: tuple[Path, Path], tmp_path: Path) -> None:
    serial = unique_serial("JS")
    _cli(migrated, tmp_path)(*test_cli.add_args(serial))
    commands = [("weapon", "list"), ("weapon", "history", serial), ("trace", "stats")]
    outputs: dict[str, list[str]] = {}
    for lang in i18n.LANGUAGES:
        iti = _cli(migrated, tmp_path, ITI_LANG=lang)
        runs = [iti("--json", *c).stdout for c in commands]
        runs.append(iti("--json", "weapon", "show", "NO-SUCH-THING", code=4).stdout)  # an error, in JSON
        outputs[lang] = runs
    assert "no weapon with id, serial or mark 'NO-SUCH-THING'" in outputs["en"][-1]
    for lang in LANGS:
        assert outputs[lang] == outputs["en"], lang


def _help(tmp_path: Path, *args: str, **locale: str) -> str:
    """`iti … --help` run as an officer runs it, with only the given locale variables set."""
    iti = test_cli.iti_for(tmp_path / "unused.db", tmp_path, tmp_path)  # --help opens no database
    for name in LOCALE_VARS:
        iti.env.pop(name, None)
    iti.env.update(locale)
    return iti(*args, "--help").stdout


def test_help_speaks_french_with_iti_lang(tmp_path: Path) -> None:
    out = _help(tmp_path, ITI_LANG="fr", LANG="ru_RU.UTF-8")  # ITI_LANG wins over the locale
    assert "registre national de marquage" in out  # the root group's help
    assert "Commandes" in out  # typer's panel title
    assert "Enregistrer des armes et les consulter." in out  # a group's line in the command list
    assert "Sortie lisible par machine" in out  # an option of the root callback
    assert "Afficher ce message et quitter." in out  # --help's own text
    assert "Codes de sortie" in out  # the epilog
    assert "--json" in out  # option and command names stay as typed
    assert "weapon" in out
    assert "Register weapons and look them up." not in out


def test_help_of_a_group_and_a_command_in_arabic_and_chinese(tmp_path: Path) -> None:
    ar = _help(tmp_path, "weapon", ITI_LANG="ar")
    assert "تسجيل الأسلحة والبحث عنها." in ar  # the group's help
    assert "عرض سجل السلاح" in ar  # `weapon show` in the command list
    assert "الأوامر" in ar
    assert "show" in ar
    zh = _help(tmp_path, "weapon", "list", LC_ALL="zh_CN.UTF-8")  # the POSIX locale, no ITI_LANG
    zh = zh.replace("， ", "，")  # spaces after full-width punctuation are break points for rich, not text
    assert "按状态、品牌、型号或类别列出武器。" in zh  # the command's docstring
    assert "仅显示等待施加唯一标识的收缴武器" in zh  # an option's help, whole at 250 columns
    assert "[默认：50]" in zh  # typer's [default: …]
    assert "--pending-marking" in zh


def test_help_stays_english_by_default(tmp_path: Path) -> None:
    out = _help(tmp_path, "trace", LANG="C.UTF-8")
    assert "Trace requests between national points of contact (ITI section V)." in out
    assert "Commands" in out


def test_organisation_and_licence_kinds_read_as_words(migrated: tuple[Path, Path], tmp_path: Path) -> None:
    en = _cli(migrated, tmp_path, LANG="C.UTF-8")
    org = en.json("org", "add", "Acme Arms", "--kind", "manufacturer", "--country", "KE")
    assert org["kind"] == "manufacturer"
    fr = _cli(migrated, tmp_path, ITI_LANG="fr")
    assert "fabricant" in fr("org", "list").stdout  # the documents' word for the code
    es = _cli(migrated, tmp_path, ITI_LANG="es")
    licence = ["--issuing-country", "KE", "--issued-on", "2025-01-01"]
    added = es("org", "licence-add", str(org["id"]), "--number", "LIC-8", "--kind", "brokering", *licence)
    assert "licencia LIC-8: corretaje" in added.stdout
    ru = _cli(migrated, tmp_path, ITI_LANG="ru")
    assert "изготовитель" in ru("org", "add", "Beta", "--kind", "manufacturer", "--country", "KE").stdout


def test_weapon_show_and_list_read_as_words(migrated: tuple[Path, Path], tmp_path: Path) -> None:
    serial = unique_serial("WS")
    _cli(migrated, tmp_path)(*test_cli.add_args(serial, **{"frame-material": "polymer"}))
    fr = _cli(migrated, tmp_path, ITI_LANG="fr")
    shown = fr("weapon", "show", serial).stdout
    assert "pays de fabrication" in shown  # field names as words
    assert "SA-PIS — Pistolet à chargement automatique" in shown  # the code and its translated name
    assert "polymère" in shown
    assert "True" not in shown
    assert "False" not in shown
    ar = _cli(migrated, tmp_path, ITI_LANG="ar")
    assert "مسدس ذاتي التلقيم" in ar("weapon", "list", "--category", "SA-PIS").stdout
    en = _cli(migrated, tmp_path, LANG="C.UTF-8")("weapon", "show", serial).stdout
    assert "country_of_manufacture" in en  # English keeps the field and code names
    assert "SA-PIS — Self-loading pistol" in en
