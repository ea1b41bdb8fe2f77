"""`iti demo` (load a demo country) and `iti tour` (a walk-through of it for a newcomer)."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer
from sqlalchemy import func, select

from cli.common import STATE, console, emit, err_console, profile, settings, table, transaction
from cli.i18n import _, label
from registry.audit import checker
from registry.audit import service as audit
from registry.audit.keys import load_or_create_signing_key
from registry.demo.generator import ACTOR_REGISTRY, generate
from registry.history import service as history
from registry.persons.crypto import load_or_create_data_keys
from registry.weapons import repository as weapon_repo
from registry.weapons.models import Weapon, WeaponState

DEMO_COUNTRY = "KE"


def demo_command(
    weapons: Annotated[int, typer.Option(help="How many weapons")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same country")] = 7,
    if_empty: Annotated[bool, typer.Option(help="Do nothing if the registry already holds weapons")] = False,
) -> None:
    """Load a realistic, synthetic demo country through the same rules officers work under."""
    with transaction(writes=True) as session:
        if weapon_repo.count_weapons(session):
            if if_empty:
                emit({"loaded": 0}, human=_("the registry already holds weapons: demo data not loaded"))
                return
            err_console.print(
                _(
                    "[yellow]warning:[/] %(message)s",
                    message=_("the registry is not empty; demo data are added to it"),
                )
            )
        home = settings().node_country or DEMO_COUNTRY
        start = time.monotonic()
        err_console.print(
            _(
                "loading a demo country (%(country)s) with %(weapons)s weapons …",
                country=home,
                weapons=weapons,
            )
        )
        world = generate(
            session,
            profile=profile(),
            home=home,
            keys=load_or_create_data_keys(settings()),
            weapons_count=weapons,
            seed=seed,
            progress=(lambda i: err_console.print("  " + _("%(count)s weapons", count=i), end="\r"))
            if sys.stderr.isatty()
            else None,
        )
        head = audit.sign_head(session, load_or_create_signing_key(settings()), actor=ACTOR_REGISTRY)
    emit(
        {
            "weapons": world.weapons,
            "events": world.events,
            "tree_head": head.id,
            "seconds": round(time.monotonic() - start, 1),
        },
        human=_(
            "[green]demo loaded[/]: %(weapons)s weapons, %(events)s events in %(seconds)s s; "
            "audit tree head #%(head)s signed",
            weapons=world.weapons,
            events=world.events,
            seconds=f"{time.monotonic() - start:.0f}",
            head=head.id,
        ),
    )


def tour_command() -> None:
    """A guided look at the registry for a newcomer, on the command line (the web UI: `iti serve`, /ui/)."""
    with transaction() as session:
        counts = weapon_repo.count_by_status(session)
        total = sum(counts.values())
        sample = session.execute(
            select(Weapon, WeaponState)
            .join(WeaponState, WeaponState.weapon_id == Weapon.id)
            .where(WeaponState.event_count >= 3, Weapon.serial.is_not(None))
            .order_by(Weapon.registered_at)
            .limit(1)
        ).first()
        pending = weapon_repo.pending_marking(session, limit=5)
        report = checker.verify(session)
        events = history.history(session, sample[0].id) if sample else []
        illicit = session.execute(select(func.count()).where(WeaponState.illicit.is_(True))).scalar_one()
    if STATE.json:
        emit({"weapons": total, "by_status": counts, "audit_ok": report.ok})
        return
    console.rule(_("[bold]iti-registry: a tour of the demo registry"))
    console.print(
        _(
            "The national record holds [bold]%(total)s[/] weapons (%(illicit)s recorded as illicit). "
            "Database: %(database)s",
            total=total,
            illicit=illicit,
            database=settings().database_url,
        )
    )
    console.print(
        table(
            _("Weapons by status (derived from each weapon's history)"),
            [_("status"), _("weapons")],
            [[label(k), v] for k, v in sorted(counts.items())],
        )
    )
    if sample:
        w, s = sample
        console.print(
            "\n"
            + _(
                "One weapon's life: [bold]%(make)s %(model)s[/] serial [bold]%(serial)s[/] — now %(status)s",
                make=w.make,
                model=w.model,
                serial=w.serial,
                status=label(s.status),
            )
        )
        console.print(
            table(
                "",
                ["#", _("when"), _("event"), _("recorded by")],
                [[e.seq, e.occurred_at.date(), label(e.type), e.recorded_by] for e in events],
            )
        )
        console.print(
            "  " + _("try:") + f" [cyan]iti weapon find {w.serial}[/]  ·  [cyan]iti weapon history {w.id}[/]"
        )
    if pending:
        console.print(
            "\n"
            + _("Recovered weapons waiting for a unique mark (ITI 9): %(count)s shown", count=len(pending))
        )
        console.print(
            table(
                "",
                [_("weapon"), _("category"), _("make"), _("status")],
                [[w.id, w.category, w.make, label(s.status)] for w, s in pending],
            )
        )
        console.print("  " + _("try:") + " [cyan]iti weapon list --pending-marking[/]")
    verdict = (
        _("[green]intact[/]")
        if report.ok
        else _("[red]ALTERED[/]: %(message)s", message=report.first.message if report.first else "")
    )
    console.print(
        "\n"
        + _(
            "Tamper-evident audit log: %(entries)s entries, %(heads)s signed tree heads — %(verdict)s",
            entries=report.entries,
            heads=report.tree_heads,
            verdict=verdict,
        )
    )
    console.print(
        "  "
        + _("try:")
        + " [cyan]iti audit verify[/]  ·  [cyan]iti audit prove weapon:<id>[/]  ·  [cyan]iti audit heads[/]"
    )
    console.print(
        "\n"
        + _(
            "More: %(commands)s. Docs: docs/ (user guides: docs/guide/)",
            commands="[cyan]iti --help[/], [cyan]iti weapon add --help[/], [cyan]iti import FILE[/], "
            "[cyan]iti export --format csv --out weapons.csv[/]",
        )
        + "\n"
        + _(
            "Web UI: %(command)s, then %(url)s (API docs at /docs)",
            command="[cyan]iti serve[/]",
            url="http://127.0.0.1:8000/ui/",
        )
    )


DEMO_USERS = (
    ("officer", "record_officer"),
    ("poc", "poc_officer"),
    ("operator", "marking_operator"),
    ("auditor", "auditor"),
    ("admin", "admin"),
)


def demo_users_command() -> None:
    """Create one demo login per role and print them once (demo only: a real install has no default users;
    it starts with `iti user add NAME --role admin`)."""
    import secrets

    from registry.users import service as users

    with transaction(writes=True) as session:
        if users.list_users(session):
            emit(
                {"created": []},
                human=_(
                    "accounts already exist: no demo logins created (the first ones were written to %(path)s)",
                    path=settings().var_dir / "demo-logins.txt",
                ),
            )
            return
        created = []
        for name, role in DEMO_USERS:
            password = "demo-" + secrets.token_urlsafe(9)
            users.add_user(session, actor="demo", username=name, role=role, password=password)
            created.append({"username": name, "role": role, "password": password})
    path = settings().var_dir / "demo-logins.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text("".join(f"{u['username']}\t{u['role']}\t{u['password']}\n" for u in created))
    if STATE.json:
        emit({"created": created})
        return
    rows = [[u["username"], label(u["role"]), u["password"]] for u in created]
    console.print(
        table(
            _("Demo logins (shown once; also in %(path)s, readable by you only)", path=path),
            [_("user"), _("role"), _("password")],
            rows,
        )
    )
