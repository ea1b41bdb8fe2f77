"""`iti records …`: retention purge, projection check, pending lists."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select

from cli.common import Exit, actor, emit, parse_uuid, profile, settings, table, transaction
from cli.i18n import _, label, ngettext
from registry.audit.keys import load_or_create_signing_key
from registry.history import lifecycle
from registry.retention import service as retention
from registry.weapons import repository as weapon_repo
from registry.weapons.models import WeaponState

app = typer.Typer(help="Retention and consistency of the records.", no_args_is_help=True)


@app.command("purge")
def purge(
    weapon: Annotated[
        list[str] | None,
        typer.Option(
            help="Purge only this weapon (repeatable); refused if its retention period has not run out"
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="List what would be purged; change nothing")] = False,
) -> None:
    """Remove records whose retention period has expired, leaving a signed tombstone in the audit log."""
    with transaction(writes=True) as session:
        if dry_run:
            rows = retention.expired(session, profile())
            data = [
                {"weapon_id": e.weapon_id, "status": e.status, "expired_at": e.expires_at, "rule": e.reason}
                for e in rows
            ]
            emit(
                data,
                human=table(
                    ngettext("%(num)d record past retention", "%(num)d records past retention", len(data)),
                    [_("weapon"), _("status"), _("expired"), _("rule")],
                    [[d["weapon_id"], label(d["status"]), d["expired_at"], d["rule"]] for d in data],
                ),
            )
            return
        ids = [parse_uuid(w, "weapon") for w in weapon] if weapon else None
        purged = retention.purge(
            session,
            actor=actor(),
            profile=profile(),
            signing_key=load_or_create_signing_key(settings()),
            weapon_ids=ids,
        )
    emit(
        {"purged": purged},
        human=ngettext(
            "purged the records of %(num)d weapon; tombstones signed",
            "purged the records of %(num)d weapons; tombstones signed",
            len(purged),
        ),
    )


@app.command("check")
def check() -> None:
    """Recompute every weapon's state from its history and report rows that disagree (exit 1)."""
    bad = []
    checked = 0
    with transaction() as session:
        for state in session.execute(select(WeaponState).execution_options(yield_per=2000)).scalars():
            checked += 1
            derived = lifecycle.derive_state(
                weapon_repo.events_of(session, state.weapon_id), home_country=settings().node_country
            )
            if derived.status != state.status or derived.pending_marking != state.pending_marking:
                bad.append({"weapon_id": state.weapon_id, "stored": state.status, "derived": derived.status})
    emit(
        {"checked": checked, "mismatches": bad},
        human=_(
            "checked %(checked)s weapons: %(bad)s disagree with their history", checked=checked, bad=len(bad)
        ),
    )
    if bad:
        raise typer.Exit(Exit.CHECK_FAILED)


@app.command("stats")
def stats() -> None:
    """Weapons by status."""
    with transaction() as session:
        counts = weapon_repo.count_by_status(session)
    emit(
        counts,
        human=table(
            _("Weapons by status"),
            [_("status"), _("weapons")],
            [[label(k), v] for k, v in sorted(counts.items())],
        ),
    )
