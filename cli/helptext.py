"""`iti … --help` in the user's language.

Typer reads help texts (docstrings, `help=` of options and arguments, group help, epilogs) when it builds the
command tree, as English literals. Instead of wrapping hundreds of literals in `_()` at import time — which
would fix the language before `ITI_LANG` could be read, and cannot wrap a docstring — the root group
translates the finished tree once, just before it parses the command line: every text is a message id of
the CLI catalog, looked up in the language `cli.i18n` chose for this process. The same walk lists the message
ids for `python -m cli.catalogs`, so extraction sees exactly what `--help` shows.

Typer's own words on a help screen (panel titles, `[default: …]`, `--help`'s own help) are translated too;
`Usage:` stays as is (typer prints and highlights it as a fixed English token).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from typer import rich_utils
from typer.core import TyperGroup

from cli.i18n import current, gettext

# typer.rich_utils reads these module constants each time it draws a help screen.
TYPER_WORDS: dict[str, str] = {
    "ARGUMENTS_PANEL_TITLE": "Arguments",
    "OPTIONS_PANEL_TITLE": "Options",
    "COMMANDS_PANEL_TITLE": "Commands",
    "ERRORS_PANEL_TITLE": "Error",
    "DEFAULT_STRING": "[default: {}]",
    "REQUIRED_LONG_STRING": "[required]",
    "ENVVAR_STRING": "[env var: {}]",
    "DEPRECATED_STRING": "(deprecated) ",
    "ABORTED_TEXT": "Aborted.",
    "RICH_HELP": "Try [blue]'{command_path} {help_option}'[/] for help.",
}
TEXT_ATTRIBUTES = ("help", "short_help", "epilog")
# Rich wraps table cells only at spaces and crops a longer run with "…"; Chinese has no spaces, so a help
# text in a narrow column lost its end. A space after full-width punctuation gives it places to break (a run
# of Han characters wider than the column is still cut: a wider terminal, COLUMNS=120, shows it whole).
CJK_BREAK = re.compile(r"([，。；：）])(?=[^\s，。；：、）])")


def _help_option(command: Any) -> Any:
    """The command's `--help` option, created now (click caches it) so its text can be translated too."""
    return command.get_help_option(typer.Context(command, **(command.context_settings or {})))


def _where(command: Any) -> str:
    callback = getattr(command, "callback", None)
    module = inspect.getmodule(callback) if callback is not None else None
    file = getattr(module, "__file__", None)
    return Path(file).name if file and Path(file).parent.name == "cli" else "typer"


def texts(command: Any) -> Iterator[tuple[Any, str, str, str]]:
    """(object, attribute, English text, file of the command) for every help text below `command`."""
    where = _where(command)
    for attribute in TEXT_ATTRIBUTES:
        text = getattr(command, attribute, None)
        if text:
            yield command, attribute, text, where
    help_option = _help_option(command)
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        text = getattr(param, "help", None)
        if text:
            yield param, "help", text, where if param is not help_option else "typer"
    for sub in getattr(command, "commands", {}).values():
        yield from texts(sub)


def messages(command: Any) -> dict[str, set[str]]:
    """Message id -> the files it comes from, for the catalogs."""
    out: dict[str, set[str]] = {text: {where} for _obj, _attr, text, where in texts(command)}
    for word in TYPER_WORDS.values():
        out.setdefault(word, set()).add("typer")
    return out


def translate(command: Any) -> None:
    """Put the translations into the tree (built afresh, in English, each time typer makes the command)."""
    for obj, attribute, text, _place in list(texts(command)):
        setattr(obj, attribute, _breakable(gettext(text)))
    for name, english in TYPER_WORDS.items():
        setattr(rich_utils, name, gettext(english))


def _breakable(text: str) -> str:
    return CJK_BREAK.sub(r"\1 ", text) if current() == "zh" else text


class LocalisedGroup(TyperGroup):
    """The root `iti` group: translates the help texts of the whole tree, then runs as usual."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        translate(self)
        return super().main(*args, **kwargs)
