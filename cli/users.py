"""`iti user …`: accounts, roles and API keys (see docs/security.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.common import Exit, actor, emit, fail, table, transaction
from cli.i18n import L_, _, label
from registry.users import service as users
from registry.users.roles import Role

app = typer.Typer(help="User accounts, roles and API keys (docs/security.md).", no_args_is_help=True)

ROLE_HELP = ", ".join(r.value for r in Role)


def user_dict(u: Any) -> dict[str, Any]:
    return {
        "id": u.id,
        "username": u.username,
        "role": u.role,
        "disabled_at": u.disabled_at,
        "locked_until": u.locked_until,
        "failed_logins": u.failed_logins,
        "password_changed_at": u.password_changed_at,
        "version": u.version,
    }


def _password(given: str | None) -> str:
    if given is not None:
        return given
    try:
        return str(typer.prompt(_("Password"), hide_input=True, confirmation_prompt=True))
    except typer.Abort:
        fail(L_("no password given"), Exit.INVALID, {"field": "password"})


@app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="3-64 characters: a-z 0-9 . _ -")],
    role: Annotated[str, typer.Option(help=ROLE_HELP)],
    password: Annotated[
        str | None, typer.Option(help="At least 12 characters; prompted for (hidden, twice) if omitted")
    ] = None,
) -> None:
    """Create an account."""
    secret = _password(password)
    with transaction(writes=True) as session:
        u = users.add_user(session, actor=actor(), username=name, role=role, password=secret)
        data = user_dict(u)
    emit(data, human=_("[green]added[/] user %(name)s (%(role)s)", name=u.username, role=label(u.role)))


@app.command("disable")
def user_disable(name: Annotated[str, typer.Argument()]) -> None:
    """Disable an account and end its sessions (its history stays)."""
    with transaction(writes=True) as session:
        u = users.disable_user(session, actor=actor(), username=name)
        data = user_dict(u)
    emit(data, human=_("[yellow]disabled[/] user %(name)s", name=u.username))


@app.command("reset")
def user_reset(
    name: Annotated[str, typer.Argument()],
    password: Annotated[str | None, typer.Option(help="Prompted for (hidden, twice) if omitted")] = None,
) -> None:
    """Set a new password, clear a lockout and end the account's sessions."""
    secret = _password(password)
    with transaction(writes=True) as session:
        u = users.reset_password(session, actor=actor(), username=name, password=secret)
        data = user_dict(u)
    emit(data, human=_("[green]password reset[/] for user %(name)s", name=u.username))


@app.command("list")
def user_list() -> None:
    """List accounts."""
    with transaction() as session:
        rows = [user_dict(u) for u in users.list_users(session)]
    emit(
        rows,
        human=table(
            _("users"),
            [_("username"), _("role"), _("disabled"), _("locked until"), _("password changed")],
            [
                [
                    r["username"],
                    label(r["role"]),
                    r["disabled_at"],
                    r["locked_until"],
                    r["password_changed_at"],
                ]
                for r in rows
            ],
        ),
    )


@app.command("api-key")
def user_api_key(
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. station-3")],
    role: Annotated[str, typer.Option(help=ROLE_HELP + " (not admin)")],
) -> None:
    """Create an API key scoped to ROLE. The key is printed once: store it now."""
    with transaction(writes=True) as session:
        key, secret = users.create_api_key(session, actor=actor(), name=name, role=role)
        data = {"id": key.id, "name": key.name, "role": key.role, "prefix": key.prefix, "key": secret}
    emit(
        data,
        human=_(
            "[green]API key[/] %(name)s (%(role)s, id %(id)s):",
            name=key.name,
            role=label(key.role),
            id=key.id,
        )
        + f"\n{secret}\n"
        + _("shown once"),
    )
