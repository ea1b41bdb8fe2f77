"""What every `iti` command shares: settings, the transaction, output as tables or JSON, exit codes."""

from __future__ import annotations

import getpass
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cli.i18n import L_, Deferred, _, english
from registry import migrate
from registry.config import Settings, get_settings
from registry.db import WRITES, make_engine, make_sessionmaker
from registry.errors import Conflict, NotFound, RegistryError, ValidationError
from registry.profiles import Profile, get_profile

console = Console()
err_console = Console(stderr=True)


class Exit:
    """Exit codes scripts can rely on (also in `iti --help` and docs/operations.md)."""

    OK = 0
    CHECK_FAILED = 1  # audit verification or records check found a problem
    USAGE = 2  # wrong options (typer's own code)
    INVALID = 3  # the input breaks a rule; nothing was written
    NOT_FOUND = 4
    CONFLICT = 5  # duplicate mark, status does not allow the event, retention not expired
    NOT_READY = 6  # database missing or not migrated: run `iti db upgrade`
    UNAVAILABLE = 7  # database unreachable or busy (SQLite locked past the timeout): nothing written


@dataclass
class Ctx:
    json: bool = False
    actor: str = ""


STATE = Ctx()


def actor() -> str:
    return STATE.actor or os.environ.get("ITI_ACTOR") or f"cli:{getpass.getuser()}"


def settings() -> Settings:
    return get_settings()


def profile() -> Profile:
    return get_profile(settings().profile)


_ENGINE: Engine | None = None


def engine() -> Engine:
    global _ENGINE
    if _ENGINE is None:
        url = settings().database_url
        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        _ENGINE = make_engine(url)
    return _ENGINE


@contextmanager
def transaction(*, check_ready: bool = True, writes: bool = False) -> Iterator[Session]:
    """One command, one transaction: committed when the command succeeds, rolled back on any error.
    `writes`: a long command that reads and then writes (an import) takes SQLite's write lock before its
    first read (registry.db.WRITES), so a server's commit in between cannot fail it."""
    eng = engine()
    if check_ready:
        _require_migrated(eng)
    with make_sessionmaker(eng)(execution_options=WRITES if writes else {}) as session, session.begin():
        yield session


def _require_migrated(eng: Engine) -> None:
    try:
        ready = migrate.is_at_head(eng)
    except OperationalError as exc:
        fail(
            L_(
                "cannot open the database %(url)s: %(reason)s",
                url=eng.url.render_as_string(hide_password=True),
                reason=exc.orig,
            ),
            Exit.NOT_READY,
        )
    if not ready:
        fail(L_("the database is not at the current schema: run `iti db upgrade` first"), Exit.NOT_READY)


def fail(message: str | Deferred, code: int, details: dict[str, Any] | None = None) -> NoReturn:
    """`message` is English text (a registry error) or `L_(...)`: translated on the terminal, English in JSON."""
    if STATE.json:
        sys.stdout.buffer.write(
            orjson.dumps({"error": {"message": english(message), **(details or {})}}) + b"\n"
        )
    else:
        err_console.print(_("[bold red]error:[/] %(message)s", message=str(message)))
        for k, v in (details or {}).items():
            if k not in ("message", "code") and v is not None and k != "rejects":
                err_console.print(f"  {k}: {v}")
    raise typer.Exit(code)


def exit_code_for(exc: RegistryError) -> int:
    if isinstance(exc, NotFound):
        return Exit.NOT_FOUND
    if isinstance(exc, Conflict):
        return Exit.CONFLICT
    if isinstance(exc, ValidationError):
        return Exit.INVALID
    return Exit.INVALID


def handle(exc: RegistryError) -> NoReturn:
    fail(exc.message, exit_code_for(exc), exc.as_dict())


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, uuid.UUID | date | datetime):
        return str(value)
    raise TypeError(type(value).__name__)


def emit(data: Any, *, human: Any = None) -> None:
    """Print `data` as JSON with --json, otherwise `human` (a rich renderable or text), or data itself."""
    if STATE.json:
        sys.stdout.buffer.write(orjson.dumps(data, default=_default, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
    else:
        console.print(human if human is not None else data)


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    return t


def parse_uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(
            L_("%(field)s must be an id like 3f2b…-…; got %(value)r", field=field, value=value),
            Exit.INVALID,
            {"field": field},
        )


def print_warnings(warnings: list[Any]) -> None:
    if not STATE.json:
        for w in warnings:
            err_console.print(
                _("[yellow]warning:[/] %(message)s", message=w.message)
                + (f" [dim]({w.field})[/]" if w.field else "")
            )
