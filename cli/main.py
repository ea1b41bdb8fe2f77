"""The `iti` command line: the registry officer's tool, and the way scripts drive the registry.

Exit codes: 0 ok, 1 a check failed (audit, records), 2 wrong options, 3 invalid input (nothing written),
4 not found, 5 conflict (duplicate, status, retention), 6 database not ready (run `iti db upgrade`),
7 database unreachable or busy (nothing written: try again).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from sqlalchemy import exc as sa_exc

from cli import (
    audit,
    backup,
    data,
    mark,
    node,
    organisations,
    records,
    reference,
    report,
    serve,
    station,
    trace,
    users,
    weapons,
)
from cli.common import STATE, Exit, actor, emit, engine, fail, handle, settings, transaction
from cli.helptext import LocalisedGroup
from cli.i18n import L_, _
from registry import migrate
from registry.db import database_unavailable
from registry.errors import RegistryError
from registry.reference.service import seed_reference_data

app = typer.Typer(
    name="iti",
    cls=LocalisedGroup,  # --help in the user's language
    help="iti-registry: national small-arms marking, record-keeping and tracing registry (UN ITI, A/60/88).\n\n"
    "The database is ITI_DATABASE_URL (default: a SQLite file under var/). Start with `iti db upgrade`, then "
    "`iti demo` to explore, or `iti weapon add` / `iti import FILE` for real records.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    epilog="Exit codes: 0 done · 1 a check failed · 2 wrong options · 3 invalid input (nothing written) · "
    "4 not found · 5 conflict (duplicate, status, retention) · 6 database not migrated (run `iti db upgrade`) · "
    "7 database unreachable or busy (nothing written: try again).",
)
db_app = typer.Typer(help="Create and upgrade the database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(weapons.app, name="weapon")
app.add_typer(weapons.event_app, name="event")
app.add_typer(weapons.component_app, name="component")
app.add_typer(audit.app, name="audit")
app.add_typer(records.app, name="records")
app.add_typer(reference.app, name="ref")
app.add_typer(organisations.org_app, name="org")
app.add_typer(organisations.person_app, name="person")
app.add_typer(users.app, name="user")
app.add_typer(trace.app, name="trace")
node.register(app)
backup.register(app)
app.add_typer(mark.app, name="mark")
app.add_typer(station.app, name="station")
app.add_typer(report.app, name="report")
app.command("import")(data.import_command)
app.command("export")(data.export_command)
app.command("serve")(serve.serve_command)


@app.callback()
def main_options(
    json: Annotated[bool, typer.Option("--json", help="Machine-readable output for scripts")] = False,
    as_: Annotated[
        str | None,
        typer.Option("--as", help="Officer recorded as the actor (default: ITI_ACTOR or cli:<login>)"),
    ] = None,
) -> None:
    STATE.json = json
    STATE.actor = as_ or ""


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default head) and load the shipped reference data."""
    url = settings().database_url
    engine()  # creates the folder of a SQLite file
    migrate.upgrade(url, revision)
    with transaction() as session:
        added = seed_reference_data(session, actor=actor())
    emit(
        {"revision": migrate.current_revision(engine()), "reference_added": added},
        human=_(
            "database at %(revision)s; reference rows added: %(added)s",
            revision=migrate.current_revision(engine()),
            added=sum(added.values()),
        ),
    )


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, e.g. base")]) -> None:
    """Undo migrations down to REVISION (data in dropped tables is lost: take a backup first)."""
    migrate.downgrade(settings().database_url, revision)
    emit(
        {"revision": migrate.current_revision(engine())},
        human=_("database at %(revision)s", revision=migrate.current_revision(engine())),
    )


@db_app.command("status")
def db_status() -> None:
    """Show the schema revision and whether it is current."""
    current, head = migrate.current_revision(engine()), migrate.head_revision()
    url = engine().url.render_as_string(hide_password=True)
    emit(
        {"url": url, "revision": current, "head": head, "up_to_date": current == head},
        human=_("%(url)s: revision %(current)s, head %(head)s", url=url, current=current, head=head)
        + ("" if current == head else _(" — run `iti db upgrade`")),
    )


def _register_late_commands() -> None:
    from cli import demo

    app.command("demo")(demo.demo_command)
    app.command("tour")(demo.tour_command)
    app.command("demo-users")(demo.demo_users_command)


_register_late_commands()


def main() -> None:
    try:
        app()
    except RegistryError as exc:
        try:
            handle(exc)
        except typer.Exit as done:
            sys.exit(done.exit_code)
    except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
        if not database_unavailable(exc):
            raise
        # As the API's 503: the command's transaction was rolled back. A clear message, not a traceback.
        try:
            fail(
                L_(
                    "the database cannot be reached or is busy (%(reason)s); nothing was recorded: try again",
                    reason=str(getattr(exc, "orig", None) or exc).strip().splitlines()[0],
                ),
                Exit.UNAVAILABLE,
            )
        except typer.Exit as done:
            sys.exit(done.exit_code)


if __name__ == "__main__":
    main()
