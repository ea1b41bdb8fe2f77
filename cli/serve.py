"""`iti serve`: the HTTP API on uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError

from cli.common import Exit, engine, fail, settings
from cli.i18n import L_
from registry import migrate


def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 for all)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs). Refuses to start on a database that is not migrated."""
    eng = engine()
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
    # Imported here so that every other `iti` command starts without loading the web stack.
    import uvicorn

    from api.app import create_app

    uvicorn.run(create_app(settings(), engine=eng), host=host, port=port)
